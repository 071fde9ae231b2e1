/**
 * The queue on Deno KV. A waiting message is a key `[…, "q", -priority, stamp, origin]`, so
 * the next messages are the first keys of a prefix scan. Dequeue moves a message to a
 * lease key `[…, "l", leaseId]` (with its queue position, deadline and expiry count) in an
 * atomic operation that checks each taken entry's versionstamp: of two consumers that read
 * the same entry, only one commit succeeds, and the other retries with the next entries.
 * Release and requeue put a message back at its old position, so it keeps its place.
 *
 * A message's watch keys are stored in its record (`w`, left out when it has none, as in
 * records written before they existed) and travel with it through lease, release and
 * requeue. A dequeue reads their values once its claims have committed, so what it returns
 * is what a read right after the lease would see.
 *
 * @module
 */

import type { AckEffects, LeasedMessage, QueueItem } from "../storage.ts";
import { requireFinite } from "../checks.ts";
import { getAll, itemLimit, type KvContext, listAll } from "./context.ts";
import { liveValue } from "./data.ts";
import { sequence } from "./keys.ts";
import type { KvEntryLike, KvKey } from "./kv_like.ts";
import {
  decodeRecord,
  encodeData,
  encodeMessage,
  encodeRecord,
  MAX_MESSAGE_BYTES,
} from "./records.ts";
import {
  applyMutations,
  Budget,
  commitInChunks,
  keySize,
  LIMITS,
  type Mutation,
} from "./writer.ts";

/** A waiting message's metadata: how many of its leases expired, its watch keys if any. */
interface QueuedMeta {
  x: number;
  w?: string[];
}

/**
 * A lease's metadata: the message's queue position, the deadline (epoch ms), its expiries,
 * its watch keys if any.
 */
interface LeaseMeta {
  q: [number, number, string];
  t: number;
  x: number;
  w?: string[];
}

/** A message just leased, with the watch keys whose values it is to return. */
interface Claimed {
  message: LeasedMessage;
  watch?: string[];
}

/** Position of the "q" part in a queue key; the position follows it. */
const QUEUE_PART = 2;

/**
 * The largest data key a watch key may make, as {@linkcode keySize} counts it: KV reads
 * keys of up to 2 KiB, less a margin for what the estimate misses (escaped NUL bytes).
 */
const MAX_WATCH_KEY_BYTES = 2_000;

/** The write that adds one message. */
function enqueueMutation(c: KvContext, item: QueueItem): Mutation {
  return {
    type: "set",
    key: c.keys.queue(item.priority, sequence.next()),
    value: queuedRecord(c, item),
  };
}

/**
 * A new message's record, with its watch keys when they fit: a key too long for KV, or
 * keys that would leave a message near the size limit too little room for its lease's
 * bookkeeping, are not stored, and none of the others either. The message is then leased
 * without `watched`, and its reader reads the keys itself, as a storage ignoring them
 * has it do; the message limit stays the same with keys as without.
 */
function queuedRecord(c: KvContext, item: QueueItem): Uint8Array {
  const watch = item.watch;
  if (watch?.length && watch.every((key) => keySize(c.keys.data(key)) <= MAX_WATCH_KEY_BYTES)) {
    const record = encodeMessage({ x: 0, w: watch } satisfies QueuedMeta, item.data, "enqueue");
    if (record.length <= MAX_MESSAGE_BYTES) return record;
  }
  return encodeMessage({ x: 0 } satisfies QueuedMeta, item.data, "enqueue");
}

/** Adds one message (group commit with concurrent writes). */
export async function enqueue(
  c: KvContext,
  data: string,
  priority: number,
  watch?: string[],
): Promise<void> {
  requireFinite("priority", priority);
  await c.writer.write([enqueueMutation(c, { data, priority, watch })]);
  c.notifier.messagesAdded(c.name);
}

/**
 * Adds messages in order: one atomic operation when they fit KV's limits, else several
 * (earlier ones may then be stored when a later one fails). Nothing is written when any
 * item is invalid or too large.
 */
export async function enqueueMany(c: KvContext, items: QueueItem[]): Promise<void> {
  for (const item of items) requireFinite("priority", item.priority);
  if (items.length === 0) return;
  const mutations = items.map((item) => [enqueueMutation(c, item)]);
  await commitInChunks(c.kv, mutations);
  c.notifier.messagesAdded(c.name);
}

/**
 * Leases up to `count` messages in queue order. Candidates are read ahead (twice what is
 * wanted) and claimed up to {@linkcode LIMITS.checks} per atomic operation; when a claim
 * fails, the entries another consumer took are dropped and the rest are tried again.
 * Once the claims committed, the watch keys of the messages leased are read together.
 */
export async function dequeueMany(
  c: KvContext,
  count: number,
  visibility: number,
  now: number,
): Promise<LeasedMessage[]> {
  requireFinite("count", count, 0);
  requireFinite("visibility", visibility, 0);
  const deadline = now + visibility * 1000;
  const leased: Claimed[] = [];
  while (leased.length < count) {
    const limit = 2 * Math.ceil(count - leased.length);
    let candidates = await listAll(c.kv, c.keys.queuePrefix, limit);
    const exhausted = candidates.length < limit;
    while (candidates.length > 0 && leased.length < count) {
      const batch = candidates.slice(0, Math.min(Math.ceil(count - leased.length), LIMITS.checks));
      const claimed = await claim(c, batch, deadline);
      if (claimed) {
        leased.push(...claimed);
        candidates = candidates.slice(batch.length);
      } else {
        candidates = await dropTaken(c, candidates, batch);
      }
    }
    if (exhausted) break;
  }
  return await withWatched(c, leased);
}

/**
 * The messages, each with the live values of its watch keys as `watched` (what `peekData`
 * would return; each distinct key read once). Should the read fail, they are returned
 * without `watched`: their leases are held all the same, and their readers read the keys.
 */
async function withWatched(c: KvContext, claimed: Claimed[]): Promise<LeasedMessage[]> {
  const messages = claimed.map(({ message }) => message);
  const keys = [...new Set(claimed.flatMap(({ watch }) => watch ?? []))];
  if (keys.length === 0) return messages;
  let entries: KvEntryLike[];
  try {
    entries = await getAll(c.kv, keys.map((key) => c.keys.data(key)));
  } catch {
    return messages;
  }
  const now = c.clock();
  const values = new Map(keys.map((key, i) => [key, liveValue(entries[i], now)]));
  for (const { message, watch } of claimed) {
    if (watch) message.watched = new Map(watch.map((key) => [key, values.get(key)]));
  }
  return messages;
}

/**
 * Moves `entries` to new leases in one atomic operation, which also carries the writes
 * waiting in the group commit (a finished task's ack, say); `undefined` if an entry was
 * taken by another consumer (the carried writes then wait for the next commit).
 */
async function claim(
  c: KvContext,
  entries: KvEntryLike[],
  deadline: number,
  carry = true,
): Promise<Claimed[] | undefined> {
  const leased: Claimed[] = [];
  const checks: KvEntryLike[] = [];
  const mutations: Mutation[] = [];
  for (const entry of entries) {
    const { meta, data } = decodeRecord<QueuedMeta>(entry.value);
    const lease = crypto.randomUUID();
    const position = entry.key.slice(QUEUE_PART + 1) as LeaseMeta["q"];
    // `w: undefined` (no watch keys) is left out by JSON, as in records without keys.
    const leaseMeta: LeaseMeta = { q: position, t: deadline, x: meta.x, w: meta.w };
    checks.push(entry);
    mutations.push({ type: "delete", key: entry.key as KvKey });
    mutations.push({ type: "set", key: c.keys.lease(lease), value: encodeRecord(leaseMeta, data) });
    leased.push({ message: { data, lease, expiredLeases: meta.x }, watch: meta.w });
  }
  const budget = new Budget();
  budget.add(mutations);
  const riders = carry ? c.writer.take(budget) : [];
  let ok: boolean;
  try {
    let atomic = c.kv.atomic();
    for (const entry of checks) {
      atomic = atomic.check({ key: entry.key as KvKey, versionstamp: entry.versionstamp });
    }
    atomic = applyMutations(atomic, mutations);
    atomic = applyMutations(atomic, riders.flatMap((pending) => pending.mutations));
    ({ ok } = await atomic.commit());
  } catch (error) {
    c.writer.giveBack(riders);
    // A carried write may be what failed: claim alone; the writer then commits each
    // carried write on its own, so a bad one fails alone.
    if (riders.length > 0) return await claim(c, entries, deadline, false);
    throw error;
  }
  if (!ok) {
    c.writer.giveBack(riders);
    return undefined;
  }
  c.writer.committed(riders);
  return leased;
}

/** `candidates` without the entries of `batch` that changed since they were read. */
async function dropTaken(
  c: KvContext,
  candidates: KvEntryLike[],
  batch: KvEntryLike[],
): Promise<KvEntryLike[]> {
  const current = await c.kv.getMany(batch.map((entry) => entry.key as KvKey));
  const taken = new Set(batch.filter((entry, i) => current[i].versionstamp !== entry.versionstamp));
  // A failed check always means a change; should none show, start over from a fresh read.
  return taken.size === 0 ? [] : candidates.filter((entry) => !taken.has(entry));
}

/**
 * Deletes a lease (a no-op for an unknown one) and applies `effects`, in one atomic
 * operation without checks, so it is applied whether or not the lease is still held.
 */
export async function ack(c: KvContext, lease: string, effects?: AckEffects): Promise<void> {
  const mutations: Mutation[] = [{ type: "delete", key: c.keys.lease(lease) }];
  for (const key of effects?.delete ?? []) {
    mutations.push({ type: "delete", key: c.keys.data(key) });
  }
  const put = effects?.put;
  if (put) {
    mutations.push({
      type: "set",
      key: c.keys.data(put.key),
      value: encodeData({}, put.key, put.value),
    });
  }
  await c.writer.write(mutations);
  if (put) c.notifier.dataWritten(c.name, put.key);
}

/** Moves each held lease's deadline to `now + visibility`; the leases that were held. */
export async function extend(
  c: KvContext,
  leases: string[],
  visibility: number,
  now: number,
): Promise<string[]> {
  requireFinite("visibility", visibility, 0);
  const deadline = now + visibility * 1000;
  const unique = [...new Set(leases)];
  const held = new Set<string>();
  for (let start = 0; start < unique.length; start += LIMITS.checks) {
    const chunk = unique.slice(start, start + LIMITS.checks);
    for (;;) {
      const entries = await c.kv.getMany(chunk.map((lease) => c.keys.lease(lease)));
      let atomic = c.kv.atomic();
      const found: string[] = [];
      entries.forEach((entry, i) => {
        if (entry.versionstamp === null) return;
        const { meta, data } = decodeRecord<LeaseMeta>(entry.value);
        atomic = atomic.check({ key: entry.key as KvKey, versionstamp: entry.versionstamp })
          .set(entry.key as KvKey, encodeRecord({ ...meta, t: deadline }, data));
        found.push(chunk[i]);
      });
      if (found.length === 0 || (await atomic.commit()).ok) {
        for (const lease of found) held.add(lease);
        break;
      }
      // A lease was acked, released or requeued meanwhile: read the chunk again.
    }
  }
  return leases.filter((lease) => held.has(lease));
}

/** Puts a held lease's message back at its old position at once; unknown leases are ignored. */
export async function release(c: KvContext, lease: string): Promise<void> {
  for (;;) {
    const entry = await c.kv.get(c.keys.lease(lease));
    if (entry.versionstamp === null) return;
    const { ok } = await requeueAtomic(c, [entry], false).commit();
    if (ok) return c.notifier.messagesAdded(c.name);
  }
}

/** Returns every lease with a deadline `<= now` to the queue; the count. */
export async function requeueExpired(c: KvContext, now: number): Promise<number> {
  let expired = (await listAll(c.kv, c.keys.leasePrefix)).filter((entry) =>
    decodeRecord<LeaseMeta>(entry.value).meta.t <= now
  );
  let count = 0;
  while (expired.length > 0) {
    const batch = expired.slice(0, LIMITS.checks);
    expired = expired.slice(batch.length);
    if ((await requeueAtomic(c, batch, true).commit()).ok) {
      count += batch.length;
      continue;
    }
    // Some were acked, extended or requeued by another consumer meanwhile: look again.
    const current = await c.kv.getMany(batch.map((entry) => entry.key as KvKey));
    expired.unshift(
      ...current.filter((entry) =>
        entry.versionstamp !== null && decodeRecord<LeaseMeta>(entry.value).meta.t <= now
      ),
    );
  }
  if (count > 0) c.notifier.messagesAdded(c.name);
  return count;
}

/** Moves lease entries back to their queue positions, checking each is unchanged. */
function requeueAtomic(c: KvContext, entries: KvEntryLike[], expired: boolean) {
  let atomic = c.kv.atomic();
  for (const entry of entries) {
    const { meta, data } = decodeRecord<LeaseMeta>(entry.value);
    const [negated, stamp, origin] = meta.q;
    const x = expired ? meta.x + 1 : meta.x;
    atomic = atomic.check({ key: entry.key as KvKey, versionstamp: entry.versionstamp })
      .delete(entry.key as KvKey)
      .set(
        c.keys.queue(-negated, { stamp, origin }),
        encodeRecord({ x, w: meta.w } satisfies QueuedMeta, data),
      );
  }
  return atomic;
}

/** The next `limit` waiting messages (all by default) in dequeue order, left in place. */
export async function enqueuedItems(c: KvContext, limit?: number): Promise<string[]> {
  const entries = await listAll(c.kv, c.keys.queuePrefix, itemLimit(limit));
  return entries.map((entry) => decodeRecord(entry.value).data);
}

/** Whether a message waits (for `waitForMessage`). */
export async function hasWaiting(c: KvContext): Promise<boolean> {
  return (await listAll(c.kv, c.keys.queuePrefix, 1)).length > 0;
}
