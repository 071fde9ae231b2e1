/**
 * Counters on Deno KV: `[…, "c", key]` holding the number as text (with its expiry, if
 * any). Not KV's `sum`: it works on unsigned 64-bit integers, whereas the contract lets a
 * counter go negative and return its new value. An increment reads, then commits with a
 * check on the versionstamp read, and retries when another writer came first.
 *
 * @module
 */

import { requireFinite, requireTtl } from "../checks.ts";
import { deleteAll, type KvContext } from "./context.ts";
import { decodeRecord, encodeRecord } from "./records.ts";
import { expireIn } from "./data.ts";

/** A counter's metadata: when it expires (epoch ms), if it does. */
interface CounterMeta {
  e?: number;
}

/** Adds `by` (a missing or expired counter counts as 0); the new value. */
export async function incr(c: KvContext, key: string, by: number, ttl?: number): Promise<number> {
  requireFinite("by", by);
  if (ttl !== undefined) requireTtl(ttl);
  const counterKey = c.keys.counter(key);
  for (;;) {
    const entry = await c.kv.get(counterKey);
    const now = c.clock();
    let value = by;
    let expiresAt = ttl === undefined ? undefined : now + ttl * 1000;
    if (entry.versionstamp !== null) {
      const { meta, data } = decodeRecord<CounterMeta>(entry.value);
      if (meta.e === undefined || meta.e > now) {
        // The ttl is fixed when the counter is created; later increments keep it.
        value = Number(data) + by;
        expiresAt = meta.e;
      }
    }
    const record = encodeRecord(expiresAt === undefined ? {} : { e: expiresAt }, String(value));
    const options = expiresAt === undefined ? undefined : { expireIn: expireIn(expiresAt, now) };
    const { ok } = await c.kv.atomic()
      .check({ key: counterKey, versionstamp: entry.versionstamp })
      .set(counterKey, record, options)
      .commit();
    if (ok) return value;
  }
}

/** Removes a counter. */
export async function deleteCounter(c: KvContext, key: string): Promise<void> {
  await c.writer.write([{ type: "delete", key: c.keys.counter(key) }]);
}

/** Removes every counter. */
export async function flushCounters(c: KvContext): Promise<void> {
  await deleteAll(c.kv, c.keys.counterPrefix);
}
