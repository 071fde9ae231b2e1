/**
 * An in-memory storage: the whole storage contract inside one JavaScript object, for
 * immediate mode and unit tests. Nothing is shared between objects or processes.
 *
 * @module
 */

import type { AckEffects, DeadLetterEntry, LeasedMessage, QueueItem, Storage } from "./storage.ts";
import { checkBinding } from "./binding.ts";
import { requireFinite, requireSeconds, requireTtl } from "./checks.ts";

/**
 * Options for {@linkcode MemoryStorage}.
 *
 * @example A storage whose ttl clock a test controls
 * ```ts
 * import { MemoryStorage } from "@dewey/dewey";
 *
 * let time = 0;
 * const storage = new MemoryStorage({ clock: () => time });
 * await storage.putData("k", "v", 10);
 * time = 10_000;
 * console.log(await storage.hasData("k")); // false
 * ```
 */
export interface MemoryStorageOptions {
  /**
   * Epoch milliseconds now. Used for ttl expiry and as the default of every `now`
   * parameter; defaults to `Date.now`.
   */
  clock?: () => number;
}

/**
 * The storage contract in memory, for immediate mode and unit tests in one process.
 *
 * The queue is a binary heap ordered by priority (larger first) then enqueue order, so
 * equal priorities are FIFO. A leased message keeps its place in that order, so one that
 * is released or requeued runs before messages enqueued after it. Keys and counters with
 * a ttl expire lazily, checked against the `clock` option whenever they are read.
 *
 * Methods return promises but do their work synchronously before returning, so calls made
 * one after another take effect in that order even when nobody awaits them.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "@dewey/dewey";
 *
 * const storage = new MemoryStorage();
 * storage.bind("demo");
 * await storage.enqueue("low", 0);
 * await storage.enqueue("high", 10);
 * const leased = await storage.dequeue(30);
 * console.log(leased?.data); // "high"
 * if (leased) await storage.ack(leased.lease);
 * ```
 */
export class MemoryStorage implements Storage {
  #name = "dewey";
  #bound = false;
  readonly #clock: () => number;

  #sequence = 0;
  readonly #queue = new Heap<QueuedMessage>(compareQueued);
  readonly #leases = new Map<string, Lease>();
  readonly #schedule = new Heap<ScheduledMessage>(compareScheduled);
  readonly #data = new Map<string, Expiring<string>>();
  readonly #counters = new Map<string, Expiring<number>>();
  readonly #deadLetters = new Map<string, DeadLetterEntry>();

  readonly #messageWaiters = new Set<() => void>();
  readonly #dataWaiters = new Map<string, Set<(found: boolean) => void>>();

  /** Creates an empty storage; it works unbound, under the name `"dewey"`. */
  constructor(options: MemoryStorageOptions = {}) {
    this.#clock = options.clock ?? Date.now;
  }

  /** The instance name given to {@linkcode MemoryStorage.bind}, or `"dewey"`. */
  get name(): string {
    return this.#name;
  }

  /** Sets the instance name; rebinding to the same name is allowed, to another throws. */
  bind(name: string): void {
    checkBinding(this.#bound, this.#name, name);
    this.#name = name;
    this.#bound = true;
  }

  // --- queue ---------------------------------------------------------------------------

  /** Adds a message; larger `priority` first, FIFO among equals. */
  enqueue(data: string, priority: number, watch?: string[]): Promise<void> {
    return this.enqueueMany([{ data, priority, watch }]);
  }

  /** Adds several messages in order; none is added if any priority is invalid. */
  enqueueMany(items: QueueItem[]): Promise<void> {
    return settle(() => {
      for (const item of items) requireFinite("priority", item.priority);
      for (const { data, priority, watch } of items) {
        this.#queue.push({
          data,
          priority,
          sequence: this.#sequence++,
          expiredLeases: 0,
          watch: watch?.slice(),
        });
      }
      if (items.length > 0) this.#wakeMessageWaiters();
    });
  }

  /** Leases the next message for `visibility` seconds, or returns `undefined`. */
  async dequeue(visibility: number, now?: number): Promise<LeasedMessage | undefined> {
    const [leased] = await this.dequeueMany(1, visibility, now);
    return leased;
  }

  /** Leases up to `count` messages in dequeue order. */
  dequeueMany(
    count: number,
    visibility: number,
    now: number = this.#clock(),
  ): Promise<LeasedMessage[]> {
    return settle(() => {
      requireFinite("count", count, 0);
      requireFinite("visibility", visibility, 0);
      const leased: LeasedMessage[] = [];
      while (leased.length < count) {
        const message = this.#queue.pop();
        if (message === undefined) break;
        const lease = crypto.randomUUID();
        this.#leases.set(lease, { message, deadline: now + visibility * 1000 });
        const taken: LeasedMessage = {
          data: message.data,
          lease,
          expiredLeases: message.expiredLeases,
        };
        if (message.watch?.length) {
          taken.watched = new Map(message.watch.map((key) => [key, this.#liveData(key)]));
        }
        leased.push(taken);
      }
      return leased;
    });
  }

  /** Deletes a leased message (unknown leases are ignored) and applies `effects`. */
  ack(lease: string, effects?: AckEffects): Promise<void> {
    return settle(() => {
      this.#leases.delete(lease);
      for (const key of effects?.delete ?? []) this.#data.delete(key);
      if (effects?.put) {
        this.#data.set(effects.put.key, { value: effects.put.value, expiresAt: undefined });
        this.#wakeDataWaiters(effects.put.key);
      }
    });
  }

  /** Moves each held lease's deadline to `now + visibility`; returns the held leases. */
  extend(leases: string[], visibility: number, now: number = this.#clock()): Promise<string[]> {
    return settle(() => {
      requireFinite("visibility", visibility, 0);
      const deadline = now + visibility * 1000;
      return leases.filter((lease) => {
        const held = this.#leases.get(lease);
        if (held !== undefined) held.deadline = deadline;
        return held !== undefined;
      });
    });
  }

  /** Returns a leased message to its place in the queue at once. */
  release(lease: string): Promise<void> {
    return settle(() => {
      const held = this.#leases.get(lease);
      if (held === undefined) return;
      this.#leases.delete(lease);
      this.#queue.push(held.message);
      this.#wakeMessageWaiters();
    });
  }

  /** Returns every message whose lease deadline is `<= now` to the queue; the count. */
  requeueExpired(now: number = this.#clock()): Promise<number> {
    return settle(() => {
      let count = 0;
      for (const [lease, held] of this.#leases) {
        if (held.deadline > now) continue;
        this.#leases.delete(lease);
        held.message.expiredLeases++;
        this.#queue.push(held.message);
        count++;
      }
      if (count > 0) this.#wakeMessageWaiters();
      return count;
    });
  }

  /** Messages waiting (leased ones excluded). */
  queueSize(): Promise<number> {
    return Promise.resolve(this.#queue.size);
  }

  /** Messages currently leased. */
  leasedCount(): Promise<number> {
    return Promise.resolve(this.#leases.size);
  }

  /** The next `limit` waiting messages (all by default) in dequeue order, left in place. */
  enqueuedItems(limit?: number): Promise<string[]> {
    return settle(() => {
      if (limit !== undefined) requireFinite("limit", limit, 0);
      return this.#queue.ordered(limit).map((message) => message.data);
    });
  }

  /** Removes every waiting and leased message. */
  flushQueue(): Promise<void> {
    return settle(() => {
      this.#queue.clear();
      this.#leases.clear();
    });
  }

  /**
   * Resolves when a message is enqueued, released or requeued in this object, after
   * `timeout` seconds, or when `signal` aborts. Resolves at once when a message is already
   * waiting, so a message that arrives between an empty `dequeue` and this call is not
   * slept through.
   */
  waitForMessage(timeout: number, signal?: AbortSignal): Promise<void> {
    return settle(() => {
      requireSeconds("timeout", timeout);
      if (this.#queue.size > 0 || signal?.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        // Timers fire asynchronously, so `wake` is defined before this one can call it.
        const timer = startTimer(timeout, () => wake());
        const wake = (): void => {
          clearTimer(timer);
          signal?.removeEventListener("abort", wake);
          this.#messageWaiters.delete(wake);
          resolve();
        };
        this.#messageWaiters.add(wake);
        signal?.addEventListener("abort", wake);
      });
    });
  }

  #wakeMessageWaiters(): void {
    // Each waiter removes itself, so iterate over a copy.
    for (const wake of [...this.#messageWaiters]) wake();
  }

  // --- schedule ------------------------------------------------------------------------

  /** Stores a message to run at `eta` (epoch ms); identical messages are kept apart. */
  addToSchedule(data: string, eta: number): Promise<void> {
    return settle(() => {
      requireFinite("eta", eta);
      this.#schedule.push({ data, eta, sequence: this.#sequence++ });
    });
  }

  /** Removes and returns every message with `eta <= now`, soonest first. */
  readSchedule(now: number): Promise<string[]> {
    return settle(() => {
      const due: string[] = [];
      while ((this.#schedule.peek()?.eta ?? Infinity) <= now) {
        due.push(this.#schedule.pop()!.data);
      }
      return due;
    });
  }

  /** Number of scheduled messages. */
  scheduleSize(): Promise<number> {
    return Promise.resolve(this.#schedule.size);
  }

  /** The next `limit` scheduled messages (all by default), soonest first, left in place. */
  scheduledItems(limit?: number): Promise<string[]> {
    return settle(() => {
      if (limit !== undefined) requireFinite("limit", limit, 0);
      return this.#schedule.ordered(limit).map((message) => message.data);
    });
  }

  /** Removes the whole schedule. */
  flushSchedule(): Promise<void> {
    return settle(() => this.#schedule.clear());
  }

  // --- key/value -----------------------------------------------------------------------

  /** Upserts `key`; with `ttl` (seconds, > 0) it expires after that long. */
  putData(key: string, value: string, ttl?: number): Promise<void> {
    return settle(() => {
      this.#data.set(key, { value, expiresAt: this.#expiry(ttl) });
      this.#wakeDataWaiters(key);
    });
  }

  /** The live value of `key`, or `undefined`. */
  peekData(key: string): Promise<string | undefined> {
    return settle(() => this.#liveData(key));
  }

  /** Removes and returns the live value of `key`, or `undefined`. */
  popData(key: string): Promise<string | undefined> {
    return settle(() => {
      const value = this.#liveData(key);
      this.#data.delete(key);
      return value;
    });
  }

  /** Sets `key` when it is absent or expired; whether it was set. */
  putIfEmpty(key: string, value: string, ttl?: number): Promise<boolean> {
    return settle(() => {
      const expiresAt = this.#expiry(ttl);
      if (this.#liveData(key) !== undefined) return false;
      this.#data.set(key, { value, expiresAt });
      this.#wakeDataWaiters(key);
      return true;
    });
  }

  /** Deletes `key` (only when it holds `expected`, if given); whether it was deleted. */
  deleteData(key: string, expected?: string): Promise<boolean> {
    return settle(() => {
      const value = this.#liveData(key);
      if (value === undefined || (expected !== undefined && value !== expected)) return false;
      return this.#data.delete(key);
    });
  }

  /** Whether `key` holds a live value. */
  hasData(key: string): Promise<boolean> {
    return settle(() => this.#liveData(key) !== undefined);
  }

  /** Number of live keys. */
  resultCount(): Promise<number> {
    return settle(() => this.#liveEntries().size);
  }

  /** Every live key and its value. */
  resultItems(): Promise<Map<string, string>> {
    return settle(() => this.#liveEntries());
  }

  /** Removes every key. */
  flushResults(): Promise<void> {
    return settle(() => this.#data.clear());
  }

  /**
   * Resolves `true` at once when `key` holds a value, else when a put lands on it;
   * `false` after `timeout` seconds (`undefined` waits forever) or on `close`.
   */
  waitForData(key: string, timeout?: number): Promise<boolean> {
    return settle(() => {
      if (timeout !== undefined) requireSeconds("timeout", timeout);
      if (this.#liveData(key) !== undefined) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const waiters = this.#dataWaiters.get(key) ?? new Set();
        this.#dataWaiters.set(key, waiters);
        const timer = startTimer(timeout, () => settleWait(false));
        const settleWait = (found: boolean): void => {
          clearTimer(timer);
          waiters.delete(settleWait);
          if (waiters.size === 0) this.#dataWaiters.delete(key);
          resolve(found);
        };
        waiters.add(settleWait);
      });
    });
  }

  #wakeDataWaiters(key: string): void {
    const waiters = this.#dataWaiters.get(key);
    if (waiters === undefined) return;
    for (const settleWait of [...waiters]) settleWait(true);
  }

  #expiry(ttl: number | undefined): number | undefined {
    if (ttl === undefined) return undefined;
    requireTtl(ttl);
    return this.#clock() + ttl * 1000;
  }

  /** The value of a live entry, dropping it when expired. */
  #live<T>(map: Map<string, Expiring<T>>, key: string): T | undefined {
    const entry = map.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= this.#clock()) {
      map.delete(key);
      return undefined;
    }
    return entry.value;
  }

  #liveData(key: string): string | undefined {
    return this.#live(this.#data, key);
  }

  #liveEntries(): Map<string, string> {
    const entries = new Map<string, string>();
    for (const key of [...this.#data.keys()]) {
      const value = this.#liveData(key);
      if (value !== undefined) entries.set(key, value);
    }
    return entries;
  }

  // --- counters ------------------------------------------------------------------------

  /** Adds `by` to the counter (missing or expired counts as 0); the new value. */
  incr(key: string, by = 1, ttl?: number): Promise<number> {
    return settle(() => {
      requireFinite("by", by);
      const expiresAt = this.#expiry(ttl);
      const current = this.#live(this.#counters, key);
      if (current === undefined) {
        this.#counters.set(key, { value: by, expiresAt });
        return by;
      }
      // The ttl is fixed when the counter is created; later increments keep it.
      const entry = this.#counters.get(key)!;
      entry.value = current + by;
      return entry.value;
    });
  }

  /** Removes a counter. */
  deleteCounter(key: string): Promise<void> {
    return settle(() => {
      this.#counters.delete(key);
    });
  }

  /** Removes every counter. */
  flushCounters(): Promise<void> {
    return settle(() => this.#counters.clear());
  }

  // --- dead letter ---------------------------------------------------------------------

  /** Sets a message aside with a reason; returns the entry id. */
  deadLetter(data: string, reason: string, now: number = this.#clock()): Promise<string> {
    return settle(() => {
      const id = crypto.randomUUID();
      this.#deadLetters.set(id, { id, reason, at: now, data });
      return id;
    });
  }

  /** Every dead-letter entry, oldest first (ties in the order they were added). */
  deadLetters(): Promise<DeadLetterEntry[]> {
    return settle(() =>
      // Copies, so callers cannot edit stored entries; the sort is stable for ties.
      [...this.#deadLetters.values()].map((entry) => ({ ...entry })).sort((a, b) => a.at - b.at)
    );
  }

  /** Moves an entry back to the queue at priority 0; whether it existed. */
  requeueDeadLetter(id: string): Promise<boolean> {
    return settle(() => {
      const entry = this.#deadLetters.get(id);
      if (entry === undefined) return false;
      this.#deadLetters.delete(id);
      this.#queue.push({
        data: entry.data,
        priority: 0,
        sequence: this.#sequence++,
        expiredLeases: 0,
        watch: undefined,
      });
      this.#wakeMessageWaiters();
      return true;
    });
  }

  /** Removes every dead-letter entry; the count removed. */
  purgeDeadLetters(): Promise<number> {
    return settle(() => {
      const count = this.#deadLetters.size;
      this.#deadLetters.clear();
      return count;
    });
  }

  // --- lifecycle -----------------------------------------------------------------------

  /** Removes everything: queue, leases, schedule, data, counters, dead letters. */
  flushAll(): Promise<void> {
    return settle(() => {
      this.#queue.clear();
      this.#leases.clear();
      this.#schedule.clear();
      this.#data.clear();
      this.#counters.clear();
      this.#deadLetters.clear();
    });
  }

  /**
   * Settles pending waits (`waitForMessage` resolves, `waitForData` gives `false`) so
   * nothing hangs on a storage being shut down. The data stays usable.
   */
  close(): Promise<void> {
    return settle(() => {
      this.#wakeMessageWaiters();
      for (const waiters of [...this.#dataWaiters.values()]) {
        for (const settleWait of [...waiters]) settleWait(false);
      }
    });
  }
}

interface QueuedMessage {
  data: string;
  priority: number;
  /** Global enqueue order; kept through leases so a requeued message keeps its place. */
  sequence: number;
  /** Leases of this message that expired and were requeued. */
  expiredLeases: number;
  /** Keys whose values a lease hands back. */
  watch: string[] | undefined;
}

interface Lease {
  message: QueuedMessage;
  /** Epoch ms at or after which `requeueExpired` takes the message back. */
  deadline: number;
}

interface ScheduledMessage {
  data: string;
  eta: number;
  sequence: number;
}

interface Expiring<T> {
  value: T;
  /** Epoch ms from which the entry counts as missing; `undefined` never expires. */
  expiresAt: number | undefined;
}

function compareQueued(a: QueuedMessage, b: QueuedMessage): number {
  return b.priority - a.priority || a.sequence - b.sequence;
}

function compareScheduled(a: ScheduledMessage, b: ScheduledMessage): number {
  return a.eta - b.eta || a.sequence - b.sequence;
}

/** A binary min-heap under `compare` (smallest first). */
class Heap<T> {
  #items: T[] = [];
  readonly #compare: (a: T, b: T) => number;

  constructor(compare: (a: T, b: T) => number) {
    this.#compare = compare;
  }

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (this.#compare(items[index], items[parent]) >= 0) break;
      [items[index], items[parent]] = [items[parent], items[index]];
      index = parent;
    }
  }

  pop(): T | undefined {
    const items = this.#items;
    if (items.length === 0) return undefined;
    const top = items[0];
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      this.#siftDown(0);
    }
    return top;
  }

  /** The first `limit` items in pop order, without disturbing the heap. */
  ordered(limit = Infinity): T[] {
    const copy = new Heap(this.#compare);
    copy.#items = this.#items.slice();
    const result: T[] = [];
    while (result.length < limit && copy.size > 0) result.push(copy.pop()!);
    return result;
  }

  clear(): void {
    this.#items = [];
  }

  #siftDown(index: number): void {
    const items = this.#items;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < items.length && this.#compare(items[left], items[smallest]) < 0) {
        smallest = left;
      }
      if (right < items.length && this.#compare(items[right], items[smallest]) < 0) {
        smallest = right;
      }
      if (smallest === index) return;
      [items[index], items[smallest]] = [items[smallest], items[index]];
      index = smallest;
    }
  }
}

/** Runs `work` now and hands back its outcome as a promise, so throws become rejections. */
function settle<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}

/** setTimeout's delay is a 32-bit signed integer; longer delays would fire at once. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;

type Timer = ReturnType<typeof setTimeout>;

/** A timer for `seconds`, or none when it is undefined or infinite (wait forever). */
function startTimer(seconds: number | undefined, callback: () => void): Timer | undefined {
  if (seconds === undefined || seconds === Infinity) return undefined;
  // Clamping makes a wait of more than ~24.8 days end early, which callers treat as a
  // timeout; a wait that long is not worth a timer chain.
  return setTimeout(callback, Math.min(Math.max(0, seconds * 1000), MAX_TIMER_DELAY));
}

function clearTimer(timer: Timer | undefined): void {
  if (timer !== undefined) clearTimeout(timer);
}
