/**
 * The key layout of {@linkcode DenoKvStorage}: everything of one instance lives under
 * `["dewey", name]`, so a database shared with the application's own keys stays apart and
 * `flushAll` is one prefix. Ordered parts come first, so the orders the contract asks for
 * are plain prefix scans:
 *
 * | key                                   | value                                          |
 * |---------------------------------------|------------------------------------------------|
 * | `[…, "q", -priority, stamp, origin]`  | a waiting message (and its watch keys)         |
 * | `[…, "l", leaseId]`                   | a leased message, deadline (and watch keys)    |
 * | `[…, "s", eta, stamp, origin]`        | a scheduled message                            |
 * | `[…, "d", key]`                       | a result / key-value entry                     |
 * | `[…, "c", key]`                       | a counter                                      |
 * | `[…, "x", at, stamp, origin]`         | a dead letter                                  |
 *
 * `stamp` is a hybrid clock (see {@linkcode Sequence}) and `origin` a random token of the
 * process: together they are unique across processes and increase within one.
 *
 * @module
 */

import type { KvKey } from "./kv_like.ts";

/** The first part of every key Dewey writes. */
export const ROOT = "dewey";

/** A position in an ordered prefix: the hybrid-clock stamp, then the writing process. */
export interface Seq {
  stamp: number;
  origin: string;
}

/** Ids per millisecond before the clock part moves on; keeps stamps below 2^53 till 2248. */
const PER_MS = 1024;

/**
 * Unique, increasing positions for queue, schedule and dead-letter keys. The stamp is
 * `ms × 1024 + n`, pushed past the previous one when the clock stands still or steps back,
 * so it increases strictly within the process (FIFO among equal priorities) and follows
 * wall-clock time across processes (FIFO to the millisecond). `origin` breaks ties between
 * processes, so two processes never write one key. A shared counter key would give a
 * strict global order, but at the price of a read and a contended commit per enqueue.
 */
export class Sequence {
  /** This process's token: 64 random bits, hex. */
  readonly origin: string = randomHex(8);
  #last = 0;

  /** The next position. */
  next(): Seq {
    const stamp = Math.max(Date.now() * PER_MS, this.#last + 1);
    this.#last = stamp;
    return { stamp, origin: this.origin };
  }
}

/** One sequence per process, shared by every storage object in it. */
export const sequence: Sequence = new Sequence();

/** The keys of one instance name. */
export class Keys {
  /** `["dewey", name]`. */
  readonly root: KvKey;
  readonly queuePrefix: KvKey;
  readonly leasePrefix: KvKey;
  readonly schedulePrefix: KvKey;
  readonly dataPrefix: KvKey;
  readonly counterPrefix: KvKey;
  readonly deadPrefix: KvKey;

  constructor(name: string) {
    this.root = [ROOT, name];
    this.queuePrefix = [ROOT, name, "q"];
    this.leasePrefix = [ROOT, name, "l"];
    this.schedulePrefix = [ROOT, name, "s"];
    this.dataPrefix = [ROOT, name, "d"];
    this.counterPrefix = [ROOT, name, "c"];
    this.deadPrefix = [ROOT, name, "x"];
  }

  /** A waiting message. `0 - priority` sorts larger priorities first and folds -0 into 0. */
  queue(priority: number, seq: Seq): KvKey {
    return [...this.queuePrefix, 0 - priority, seq.stamp, seq.origin];
  }

  lease(id: string): KvKey {
    return [...this.leasePrefix, id];
  }

  /** A scheduled message; `eta + 0` folds -0 into 0, as Deno's KV keeps them apart. */
  schedule(eta: number, seq: Seq): KvKey {
    return [...this.schedulePrefix, eta + 0, seq.stamp, seq.origin];
  }

  data(key: string): KvKey {
    return [...this.dataPrefix, key];
  }

  counter(key: string): KvKey {
    return [...this.counterPrefix, key];
  }

  dead(at: number, seq: Seq): KvKey {
    return [...this.deadPrefix, at + 0, seq.stamp, seq.origin];
  }

  /** The dead-letter id for a dead-letter key's parts (opaque to callers). */
  deadId(at: number, seq: Seq): string {
    return `${at + 0}:${seq.stamp}:${seq.origin}`;
  }

  /** The key a dead-letter id names, or `undefined` for a string no id looks like. */
  deadKey(id: string): KvKey | undefined {
    const parts = id.split(":");
    if (parts.length !== 3) return undefined;
    const at = Number(parts[0]);
    const stamp = Number(parts[1]);
    if (parts[0] === "" || !Number.isFinite(at) || !Number.isSafeInteger(stamp)) return undefined;
    if (!/^[0-9a-f]{16}$/.test(parts[2])) return undefined;
    return this.dead(at, { stamp, origin: parts[2] });
  }
}

/** The user key of a `[…, "d" | "c", key]` entry. */
export function lastPart(key: readonly unknown[]): string {
  return key[key.length - 1] as string;
}

function randomHex(bytes: number): string {
  const buffer = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(buffer, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
