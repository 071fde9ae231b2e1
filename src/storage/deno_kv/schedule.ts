/**
 * The schedule on Deno KV: `[…, "s", eta, stamp, origin]`, so due entries are the first
 * keys of a prefix scan, soonest first and in insertion order among equal etas. Readers
 * take due entries atomically through a guard key: each take checks the guard's
 * versionstamp and rewrites it along with its deletes, so of two readers that saw the same
 * entries only one commits, and a take can delete up to hundreds of entries at once (per-
 * entry checks would allow ten).
 *
 * @module
 */

import { requireFinite } from "../checks.ts";
import { retryBusy } from "./busy.ts";
import { countAll, itemLimit, type KvContext, listAll } from "./context.ts";
import { sequence } from "./keys.ts";
import type { KvEntryLike, KvKey } from "./kv_like.ts";
import { decodeRecord, encodeMessage } from "./records.ts";
import { Budget, commitInChunks, type Mutation } from "./writer.ts";

/** Due entries taken per atomic operation. */
const TAKE_BATCH = 500;

const EMPTY = new Uint8Array(0);

/** The guard key: every take and flush rewrites it. */
function guardKey(c: KvContext): KvKey {
  return [...c.keys.root, "schedule-guard"];
}

/** Stores a message to run at `eta` (epoch ms); identical messages are kept apart. */
export async function addToSchedule(c: KvContext, data: string, eta: number): Promise<void> {
  requireFinite("eta", eta);
  const value = encodeMessage({}, data, "schedule");
  await c.writer.write([{ type: "set", key: c.keys.schedule(eta, sequence.next()), value }]);
}

/** Removes and returns every message with `eta <= now`, soonest first. */
export async function readSchedule(c: KvContext, now: number): Promise<string[]> {
  const taken: string[] = [];
  for (;;) {
    const guard = await c.kv.get(guardKey(c));
    const due = await dueEntries(c, now);
    if (due.length === 0) return taken;
    let atomic = c.kv.atomic()
      .check({ key: guardKey(c), versionstamp: guard.versionstamp })
      .set(guardKey(c), EMPTY);
    for (const entry of due) atomic = atomic.delete(entry.key as KvKey);
    // Read again: after a failed commit, another reader took entries first; after a
    // successful one, more may be due than one operation could take.
    if ((await atomic.commit()).ok) {
      for (const entry of due) taken.push(decodeRecord(entry.value).data);
    }
  }
}

/**
 * Up to {@linkcode TAKE_BATCH} entries with `eta <= now`, soonest first, as many as one
 * atomic operation can delete (KV limits the total size of its keys).
 */
function dueEntries(c: KvContext, now: number): Promise<KvEntryLike[]> {
  return retryBusy(() => scanDue(c, now));
}

async function scanDue(c: KvContext, now: number): Promise<KvEntryLike[]> {
  const due: KvEntryLike[] = [];
  const budget = new Budget();
  budget.add([{ type: "set", key: guardKey(c), value: EMPTY }]);
  const entries = c.kv.list({ prefix: c.keys.schedulePrefix }, {
    limit: TAKE_BATCH,
    batchSize: 100,
  });
  for await (const entry of entries) {
    const take: Mutation[] = [{ type: "delete", key: entry.key as KvKey }];
    if ((entry.key[c.keys.schedulePrefix.length] as number) > now || !budget.fits(take)) break;
    budget.add(take);
    due.push(entry);
  }
  return due;
}

/** Number of scheduled messages. */
export function scheduleSize(c: KvContext): Promise<number> {
  return countAll(c.kv, c.keys.schedulePrefix);
}

/** The next `limit` scheduled messages (all by default), soonest first, left in place. */
export async function scheduledItems(c: KvContext, limit?: number): Promise<string[]> {
  const entries = await listAll(c.kv, c.keys.schedulePrefix, itemLimit(limit));
  return entries.map((entry) => decodeRecord(entry.value).data);
}

/** Removes the whole schedule; rewrites the guard so no take in flight returns an entry. */
export async function flushSchedule(c: KvContext): Promise<void> {
  const entries = await listAll(c.kv, c.keys.schedulePrefix);
  const groups: Mutation[][] = [[{ type: "set", key: guardKey(c), value: EMPTY }]];
  for (const entry of entries) groups.push([{ type: "delete", key: entry.key as KvKey }]);
  await commitInChunks(c.kv, groups);
}
