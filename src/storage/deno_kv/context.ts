/**
 * What every operation of {@linkcode DenoKvStorage} works with, and the scans they share.
 *
 * @module
 */

import { retryBusy } from "./busy.ts";
import type { Keys } from "./keys.ts";
import type { DenoKvLike, KvEntryLike, KvKey } from "./kv_like.ts";
import type { Notifier } from "./notifier.ts";
import { commitInChunks, type Writer } from "./writer.ts";

/** An open database and one instance name's keys on it. */
export interface KvContext {
  readonly kv: DenoKvLike;
  readonly name: string;
  readonly keys: Keys;
  /** Group commit for writes without checks. */
  readonly writer: Writer;
  /** In-process wake-ups shared by every storage on this database. */
  readonly notifier: Notifier;
  /** Epoch ms now: expiry of keys and counters, and the default `now`. */
  readonly clock: () => number;
}

/** Entries read per round trip by whole-prefix scans. */
const SCAN_BATCH = 500;

/** Every entry under `prefix` in key order (at most `limit`). */
export async function listAll(
  kv: DenoKvLike,
  prefix: KvKey,
  limit?: number,
): Promise<KvEntryLike[]> {
  if (limit !== undefined && limit <= 0) return [];
  const batchSize = Math.min(limit ?? SCAN_BATCH, SCAN_BATCH);
  return await retryBusy(async () => {
    const entries: KvEntryLike[] = [];
    for await (const entry of kv.list({ prefix }, { limit, batchSize })) entries.push(entry);
    return entries;
  });
}

/** Keys KV's `getMany` takes per call. */
const GET_MANY_KEYS = 10;

/**
 * The entries of `keys`, in order, through as many `getMany` calls as KV's limit of ten
 * keys per call needs, issued together.
 */
export async function getAll(kv: DenoKvLike, keys: readonly KvKey[]): Promise<KvEntryLike[]> {
  const calls: Promise<readonly KvEntryLike[]>[] = [];
  for (let start = 0; start < keys.length; start += GET_MANY_KEYS) {
    calls.push(kv.getMany(keys.slice(start, start + GET_MANY_KEYS)));
  }
  return (await Promise.all(calls)).flat();
}

/** The number of entries under `prefix`. */
export async function countAll(kv: DenoKvLike, prefix: KvKey): Promise<number> {
  return await retryBusy(async () => {
    let count = 0;
    for await (const _ of kv.list({ prefix }, { batchSize: SCAN_BATCH })) count++;
    return count;
  });
}

/**
 * Deletes every entry under `prefix`, batch by batch, as many atomic operations as KV's
 * limits need; the count deleted.
 */
export async function deleteAll(kv: DenoKvLike, prefix: KvKey): Promise<number> {
  const entries = await listAll(kv, prefix);
  await commitInChunks(kv, entries.map((entry) => [{ type: "delete", key: entry.key as KvKey }]));
  return entries.length;
}

/** A limit as the `*Items` methods take it: a finite count >= 0, rounded down. */
export function itemLimit(limit: number | undefined): number | undefined {
  if (limit === undefined) return undefined;
  if (!Number.isFinite(limit) || limit < 0) {
    throw new RangeError(`limit must be a finite number >= 0, got ${limit}`);
  }
  return Math.floor(limit);
}
