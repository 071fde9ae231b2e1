/**
 * The storage contract: the one interface every backend (memory, SQL, Redis, Deno KV)
 * implements, and the only thing the core knows about a backend.
 *
 * Messages and values are opaque strings produced by the codec. Times are epoch
 * milliseconds; durations are seconds, as everywhere in Dewey's public API. Every
 * time-dependent operation takes an optional `now` so tests can drive time.
 *
 * @module
 */

/**
 * A message taken from the queue under a lease.
 *
 * @example
 * ```ts
 * import { type LeasedMessage, MemoryStorage } from "@dewey/dewey";
 *
 * const storage = new MemoryStorage();
 * storage.bind("demo");
 * await storage.enqueue("message", 0);
 * const leased: LeasedMessage | undefined = await storage.dequeue(30);
 * if (leased) {
 *   console.log(leased.data); // "message"
 *   await storage.ack(leased.lease);
 * }
 * console.log(await storage.leasedCount()); // 0
 * ```
 */
export interface LeasedMessage {
  /** The encoded message, exactly as enqueued. */
  data: string;
  /** Opaque lease token for {@linkcode Storage.ack}, `extend` and `release`. */
  lease: string;
  /**
   * How many earlier leases of this message expired and were requeued by
   * `requeueExpired` (its consumer died or stalled): 0 on first delivery. A `release`
   * does not count. The consumer dead-letters a message that keeps killing its consumer.
   */
  expiredLeases: number;
  /**
   * The values of the message's watch keys ({@linkcode QueueItem.watch}), read no earlier
   * than the lease (in its atomic step where the backend can; Deno KV reads them right
   * after the claim commits): `undefined` for a key without a live value. Absent when the
   * storage does not read watch keys, or the message has none; the reader then reads them
   * itself. The consumer's revocation check uses it to save a round trip per task.
   */
  watched?: Map<string, string | undefined>;
}

/**
 * One item for {@linkcode Storage.enqueueMany}.
 *
 * @example
 * ```ts
 * import { MemoryStorage, type QueueItem } from "@dewey/dewey";
 *
 * const storage = new MemoryStorage();
 * storage.bind("demo");
 * const items: QueueItem[] = [{ data: "low", priority: 0 }, { data: "urgent", priority: 10 }];
 * await storage.enqueueMany(items);
 * console.log(await storage.enqueuedItems()); // ["urgent", "low"]
 * ```
 */
export interface QueueItem {
  /** The encoded message. */
  data: string;
  /** Larger runs first; ties run in enqueue order. */
  priority: number;
  /**
   * Key/value keys whose values a storage may read while leasing the message and hand
   * back as {@linkcode LeasedMessage.watched}. Storages that do not read them ignore them.
   */
  watch?: string[];
}

/**
 * What {@linkcode Storage.ack} writes in the same atomic step as deleting the message, so
 * a finished task's result and the end of its lease are one commit, not two.
 *
 * @example
 * ```ts
 * import { type AckEffects, MemoryStorage } from "@dewey/dewey";
 *
 * const storage = new MemoryStorage();
 * storage.bind("demo");
 * await storage.enqueue("message", 0);
 * const leased = await storage.dequeue(30);
 * const effects: AckEffects = { put: { key: "task-id", value: "result" }, delete: ["~r:task-id"] };
 * if (leased) await storage.ack(leased.lease, effects);
 * console.log(await storage.peekData("task-id"), await storage.queueSize()); // "result" 0
 * ```
 */
export interface AckEffects {
  /** A key/value entry to upsert (a task's result), without expiry. */
  put?: { key: string; value: string };
  /** Key/value entries to delete (a revocation the finished run clears). */
  delete?: string[];
}

/**
 * A message that could not be delivered, kept with the reason.
 *
 * @example
 * ```ts
 * import { type DeadLetterEntry, MemoryStorage } from "@dewey/dewey";
 *
 * const storage = new MemoryStorage();
 * storage.bind("demo");
 * await storage.deadLetter("{garbled", "cannot decode message: bad JSON");
 * const [entry]: DeadLetterEntry[] = await storage.deadLetters();
 * console.log(entry.reason, typeof entry.at); // "cannot decode message: bad JSON" "number"
 * ```
 */
export interface DeadLetterEntry {
  /** Identifier of the entry (not the task id, which may be unreadable). */
  id: string;
  /** Why the message was set aside, e.g. "cannot decode message: …". */
  reason: string;
  /** When it was set aside, epoch milliseconds. */
  at: number;
  /** The message as it was stored. */
  data: string;
}

/**
 * What every Dewey storage implements. One storage object serves one instance name,
 * given once through {@linkcode Storage.bind}; everything it stores lives under that
 * name, and `flushAll` removes that name's data and nothing else.
 *
 * Delivery is at-least-once: `dequeue` leases a message rather than deleting it; `ack`
 * deletes it; a lease that is neither acknowledged nor extended within its visibility
 * timeout is returned to the queue by `requeueExpired`.
 *
 * @example A storage in use (MemoryStorage implements this interface)
 * ```ts
 * import { MemoryStorage } from "@dewey/dewey";
 *
 * const storage = new MemoryStorage();
 * storage.bind("demo");
 * await storage.enqueue("message", 0);
 * const leased = await storage.dequeue(30);
 * if (leased) await storage.ack(leased.lease);
 * ```
 */
export interface Storage {
  /**
   * Sets the namespace (the Dewey instance name). Called once by `Dewey`; binding an
   * already bound storage to another name throws a `TypeError`.
   */
  bind(name: string): void;

  // --- queue ---------------------------------------------------------------------------
  /**
   * Adds a message; larger `priority` is dequeued first, FIFO among equals. `watch` as in
   * {@linkcode QueueItem.watch}.
   */
  enqueue(data: string, priority: number, watch?: string[]): Promise<void>;
  /** Adds several messages in one round trip where the backend allows. */
  enqueueMany(items: QueueItem[]): Promise<void>;
  /**
   * Leases the next message for `visibility` seconds, or returns `undefined` when the
   * queue is empty. A leased message is invisible to other `dequeue` calls until acked,
   * released or expired.
   */
  dequeue(visibility: number, now?: number): Promise<LeasedMessage | undefined>;
  /**
   * Leases up to `count` messages at once, in dequeue order, each as `dequeue` would (the
   * consumer uses it to fill several free worker slots with one round trip). Returns an
   * empty array when the queue is empty.
   */
  dequeueMany(count: number, visibility: number, now?: number): Promise<LeasedMessage[]>;
  /**
   * Deletes a leased message for good. Acking an unknown or expired lease deletes nothing.
   * `effects` are applied in the same atomic step, and are applied even when the lease is
   * no longer held (the task did run, so its result must not be lost).
   */
  ack(lease: string, effects?: AckEffects): Promise<void>;
  /**
   * Pushes the deadline of each still-held lease to `now + visibility`. Returns the
   * leases that were still held (a lease already requeued is lost to its holder).
   */
  extend(leases: string[], visibility: number, now?: number): Promise<string[]>;
  /** Returns a leased message to the queue at once (used on shutdown). */
  release(lease: string): Promise<void>;
  /** Returns every message whose lease deadline is `<= now` to the queue; the count. */
  requeueExpired(now?: number): Promise<number>;
  /** Messages waiting in the queue (leased ones excluded). */
  queueSize(): Promise<number>;
  /** Messages currently leased. */
  leasedCount(): Promise<number>;
  /** Non-destructive read of waiting messages in dequeue order. */
  enqueuedItems(limit?: number): Promise<string[]>;
  /** Removes every waiting and leased message. */
  flushQueue(): Promise<void>;
  /**
   * Optional: resolves when a message may be available, or after `timeout` seconds, or
   * when `signal` aborts. Backends that cannot block leave it out and the consumer polls.
   */
  waitForMessage?(timeout: number, signal?: AbortSignal): Promise<void>;

  // --- schedule ------------------------------------------------------------------------
  /** Stores a message to run at `eta` (epoch ms). Identical messages are kept apart. */
  addToSchedule(data: string, eta: number): Promise<void>;
  /**
   * Atomically removes and returns every message with `eta <= now`, soonest first
   * (ties in insertion order). Two concurrent readers never both get one entry.
   */
  readSchedule(now: number): Promise<string[]>;
  /** Number of scheduled messages. */
  scheduleSize(): Promise<number>;
  /** Non-destructive read, soonest first. */
  scheduledItems(limit?: number): Promise<string[]>;
  /** Removes the whole schedule. */
  flushSchedule(): Promise<void>;

  // --- key/value (results, revocations, locks, chord parts) ------------------------------
  /** Upserts `key`; with `ttl` (seconds) the key expires after that long. */
  putData(key: string, value: string, ttl?: number): Promise<void>;
  /** The value, or `undefined`. */
  peekData(key: string): Promise<string | undefined>;
  /** Removes and returns the value, or `undefined`. Atomic. */
  popData(key: string): Promise<string | undefined>;
  /** Sets `key` only when absent (or expired); whether it was set. Atomic. */
  putIfEmpty(key: string, value: string, ttl?: number): Promise<boolean>;
  /**
   * Deletes `key`; whether something was deleted. With `expected`, deletes only when the
   * stored value equals it (compare-and-delete, atomic), as lock release needs.
   */
  deleteData(key: string, expected?: string): Promise<boolean>;
  /** Whether `key` holds a value. */
  hasData(key: string): Promise<boolean>;
  /** Number of keys in the result store. */
  resultCount(): Promise<number>;
  /** Every key and value in the result store. */
  resultItems(): Promise<Map<string, string>>;
  /** Removes every key in the result store. */
  flushResults(): Promise<void>;
  /**
   * Optional: resolves `true` once `key` holds a value, `false` after `timeout` seconds
   * (`undefined` waits forever). Backends without it are polled by the caller.
   */
  waitForData?(key: string, timeout?: number): Promise<boolean>;

  // --- counters (a namespace apart from key/value) ---------------------------------------
  /**
   * Adds `by` (may be 0 or negative) to the counter, a missing counter counting as 0, and
   * returns the new value. Atomic. With `ttl` (seconds) a counter created by this call
   * expires after that long.
   */
  incr(key: string, by?: number, ttl?: number): Promise<number>;
  /** Removes a counter. */
  deleteCounter(key: string): Promise<void>;
  /** Removes every counter. */
  flushCounters(): Promise<void>;

  // --- dead letter -----------------------------------------------------------------------
  /** Sets a message aside with a reason; returns the entry id. */
  deadLetter(data: string, reason: string, now?: number): Promise<string>;
  /** Every dead-letter entry, oldest first. */
  deadLetters(): Promise<DeadLetterEntry[]>;
  /** Moves an entry back to the queue at priority 0; whether it existed. */
  requeueDeadLetter(id: string): Promise<boolean>;
  /** Removes every dead-letter entry; the count removed. */
  purgeDeadLetters(): Promise<number>;

  // --- lifecycle -------------------------------------------------------------------------
  /** Removes everything stored under this name: queue, leases, schedule, data, counters, dead letters. */
  flushAll(): Promise<void>;
  /** Releases what the storage opened itself. */
  close(): Promise<void>;
}
