/**
 * The key/value store on Deno KV (results, revocations, locks, chord parts):
 * `[…, "d", key]`. A key with a ttl is written with KV's `expireIn`, but KV deletes expired
 * keys lazily, some time after; so the deadline is also stored with the value and checked
 * on every read, and an expired key counts as absent (`putIfEmpty` may take it at once).
 *
 * @module
 */

import { requireTtl } from "../checks.ts";
import { deleteAll, type KvContext, listAll } from "./context.ts";
import { lastPart } from "./keys.ts";
import type { KvEntryLike, KvKey } from "./kv_like.ts";
import { decodeRecord, encodeData } from "./records.ts";

/** A value's metadata: when it expires (epoch ms), if it does. */
interface DataMeta {
  e?: number;
}

/** The live value of an entry, or `undefined` when it is absent or expired. */
export function liveValue(entry: KvEntryLike, now: number): string | undefined {
  if (entry.versionstamp === null) return undefined;
  const { meta, data } = decodeRecord<DataMeta>(entry.value);
  return meta.e !== undefined && meta.e <= now ? undefined : data;
}

/** `expireIn` for KV: whole ms, at least 1. */
export function expireIn(expiresAt: number, now: number): number {
  return Math.max(1, Math.ceil(expiresAt - now));
}

/** Upserts `key`; with `ttl` (seconds) it expires after that long. */
export async function putData(
  c: KvContext,
  key: string,
  value: string,
  ttl?: number,
): Promise<void> {
  if (ttl !== undefined) requireTtl(ttl);
  const now = c.clock();
  const expiresAt = ttl === undefined ? undefined : now + ttl * 1000;
  const record = encodeData(expiresAt === undefined ? {} : { e: expiresAt }, key, value);
  await c.writer.write([{
    type: "set",
    key: c.keys.data(key),
    value: record,
    expireIn: expiresAt === undefined ? undefined : expireIn(expiresAt, now),
  }]);
  c.notifier.dataWritten(c.name, key);
}

/** The live value of `key`, or `undefined`. */
export async function peekData(c: KvContext, key: string): Promise<string | undefined> {
  return liveValue(await c.kv.get(c.keys.data(key)), c.clock());
}

/** Removes and returns the live value of `key` (check-and-delete), or `undefined`. */
export async function popData(c: KvContext, key: string): Promise<string | undefined> {
  for (;;) {
    const entry = await c.kv.get(c.keys.data(key));
    const value = liveValue(entry, c.clock());
    if (value === undefined) return undefined;
    if (await deleteChecked(c, entry)) return value;
  }
}

/** Sets `key` when it is absent or expired (checked against the versionstamp read). */
export async function putIfEmpty(
  c: KvContext,
  key: string,
  value: string,
  ttl?: number,
): Promise<boolean> {
  if (ttl !== undefined) requireTtl(ttl);
  for (;;) {
    const entry = await c.kv.get(c.keys.data(key));
    const now = c.clock();
    if (liveValue(entry, now) !== undefined) return false;
    const expiresAt = ttl === undefined ? undefined : now + ttl * 1000;
    const record = encodeData(expiresAt === undefined ? {} : { e: expiresAt }, key, value);
    const options = expiresAt === undefined ? undefined : { expireIn: expireIn(expiresAt, now) };
    const { ok } = await c.kv.atomic()
      .check({ key: c.keys.data(key), versionstamp: entry.versionstamp })
      .set(c.keys.data(key), record, options)
      .commit();
    if (ok) {
      c.notifier.dataWritten(c.name, key);
      return true;
    }
  }
}

/** Deletes `key` (only when it holds `expected`, if given); whether it was deleted. */
export async function deleteData(c: KvContext, key: string, expected?: string): Promise<boolean> {
  for (;;) {
    const entry = await c.kv.get(c.keys.data(key));
    const value = liveValue(entry, c.clock());
    if (value === undefined || (expected !== undefined && value !== expected)) return false;
    if (await deleteChecked(c, entry)) return true;
  }
}

/** Whether `key` holds a live value. */
export async function hasData(c: KvContext, key: string): Promise<boolean> {
  return await peekData(c, key) !== undefined;
}

/** Every live key and its value. */
export async function resultItems(c: KvContext): Promise<Map<string, string>> {
  const now = c.clock();
  const items = new Map<string, string>();
  for (const entry of await listAll(c.kv, c.keys.dataPrefix)) {
    const value = liveValue(entry, now);
    if (value !== undefined) items.set(lastPart(entry.key), value);
  }
  return items;
}

/** Removes every key. */
export async function flushResults(c: KvContext): Promise<void> {
  await deleteAll(c.kv, c.keys.dataPrefix);
}

async function deleteChecked(c: KvContext, entry: KvEntryLike): Promise<boolean> {
  const key = entry.key as KvKey;
  const { ok } = await c.kv.atomic().check({ key, versionstamp: entry.versionstamp }).delete(key)
    .commit();
  return ok;
}
