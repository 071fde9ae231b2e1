/**
 * Dead letters on Deno KV: `[…, "x", at, stamp, origin]`, so the list is oldest first and
 * in insertion order among equal times. The entry id names that key.
 *
 * @module
 */

import type { DeadLetterEntry } from "../storage.ts";
import { deleteAll, type KvContext, listAll } from "./context.ts";
import { sequence } from "./keys.ts";
import type { KvKey } from "./kv_like.ts";
import { decodeRecord, encodeRecord, MAX_KV_VALUE } from "./records.ts";

/** A dead letter's metadata: the reason. */
interface DeadMeta {
  r: string;
}

/** Sets a message aside with a reason; returns the entry id. */
export async function deadLetter(
  c: KvContext,
  data: string,
  reason: string,
  now: number,
): Promise<string> {
  const seq = sequence.next();
  let record = encodeRecord({ r: reason } satisfies DeadMeta, data);
  // The message fits (it was stored before); a long reason is what gets shortened.
  while (record.length > MAX_KV_VALUE && reason.length > 0) {
    reason = `${reason.slice(0, Math.floor(reason.length / 2))}…`;
    if (reason === "…") reason = "";
    record = encodeRecord({ r: reason } satisfies DeadMeta, data);
  }
  await c.writer.write([{ type: "set", key: c.keys.dead(now, seq), value: record }]);
  return c.keys.deadId(now, seq);
}

/** Every dead-letter entry, oldest first. */
export async function deadLetters(c: KvContext): Promise<DeadLetterEntry[]> {
  const start = c.keys.deadPrefix.length;
  return (await listAll(c.kv, c.keys.deadPrefix)).map((entry) => {
    const [at, stamp, origin] = entry.key.slice(start) as [number, number, string];
    const { meta, data } = decodeRecord<DeadMeta>(entry.value);
    return { id: c.keys.deadId(at, { stamp, origin }), reason: meta.r, at, data };
  });
}

/** Moves an entry back to the queue at priority 0 (atomically); whether it existed. */
export async function requeueDeadLetter(c: KvContext, id: string): Promise<boolean> {
  const key = c.keys.deadKey(id);
  if (key === undefined) return false;
  for (;;) {
    const entry = await c.kv.get(key);
    if (entry.versionstamp === null) return false;
    const { data } = decodeRecord<DeadMeta>(entry.value);
    const { ok } = await c.kv.atomic()
      .check({ key: key as KvKey, versionstamp: entry.versionstamp })
      .delete(key)
      .set(c.keys.queue(0, sequence.next()), encodeRecord({ x: 0 }, data))
      .commit();
    if (ok) {
      c.notifier.messagesAdded(c.name);
      return true;
    }
  }
}

/** Removes every dead-letter entry; the count removed. */
export function purgeDeadLetters(c: KvContext): Promise<number> {
  return deleteAll(c.kv, c.keys.deadPrefix);
}
