/**
 * {@linkcode DenoKvStorage}: the storage contract on Deno KV, built from plain KV reads and
 * atomic operations (Deno KV's own queue is not used: another process's message reaches
 * `listenQueue` only after about a minute, and remote KV has no queue).
 *
 * @module
 */

import type { AckEffects, DeadLetterEntry, LeasedMessage, QueueItem, Storage } from "../storage.ts";
import { requireSeconds } from "../checks.ts";
import { type Backoff, DataWaiters, Waiters } from "../waiters.ts";
import { countAll, deleteAll, type KvContext } from "./context.ts";
import * as counters from "./counters.ts";
import * as data from "./data.ts";
import * as dead from "./dead_letters.ts";
import { retryingKv } from "./busy.ts";
import { Keys } from "./keys.ts";
import type { DenoKvLike } from "./kv_like.ts";
import { type Notifier, notifierFor } from "./notifier.ts";
import { findOpenKv, type OpenKv } from "./open.ts";
import * as queue from "./queue.ts";
import * as schedule from "./schedule.ts";
import { Serial } from "./serial.ts";
import { Writer } from "./writer.ts";
import { checkBinding } from "../binding.ts";

/**
 * Options for {@linkcode DenoKvStorage}: a `path` for `Deno.openKv` (Deno), or an open
 * database as `kv` (any runtime).
 *
 * @example A KV file opened by the storage (Deno)
 * ```ts
 * import { DenoKvStorage, type DenoKvStorageOptions } from "@dewey/dewey/deno-kv";
 *
 * const options: DenoKvStorageOptions = { path: ":memory:" };
 * const storage = new DenoKvStorage(options);
 * await storage.enqueue("hello", 0);
 * console.log(await storage.queueSize()); // 1
 * await storage.close();
 * ```
 */
export interface DenoKvStorageOptions {
  /**
   * What `Deno.openKv(path)` opens on first use: a file path, `":memory:"`, or a KV Connect
   * URL. Omitted (and no `kv`): Deno's default database. The storage closes what it opened
   * on {@linkcode DenoKvStorage.close}. Needs `Deno.openKv`: Deno run with `--unstable-kv`
   * or with `"unstable": ["kv"]` in deno.json.
   */
  path?: string;
  /**
   * An open database: `Deno.openKv()`'s, or `openKv()`'s of npm's `@deno/kv` on Node and
   * Bun. It stays open on {@linkcode DenoKvStorage.close}: its owner closes it.
   */
  kv?: DenoKvLike;
  /**
   * Epoch milliseconds now: when keys and counters with a ttl count as expired, and the
   * default of every `now` parameter. KV's own lazy deletion follows the real clock.
   *
   * @default {Date.now}
   */
  clock?: () => number;
}

/** How often `waitForData` reads its key when no write in this process wakes it, in ms. */
const DATA_BACKOFF: Backoff = { first: 5, factor: 1.5, max: 200 };

/** The database, opened once, and its group-commit writer. */
interface Opened {
  /** The database as opened or given. */
  raw: DenoKvLike;
  /** The same with busy retries: what the operations use. */
  kv: DenoKvLike;
  writer: Writer;
}

/**
 * The storage contract on Deno KV: a local file, `:memory:` or a remote database, shared
 * by any number of processes. Everything lives under `["dewey", name]`, so the database
 * may hold the application's own keys too.
 *
 * - Dequeue order is a prefix scan over `[…, "q", -priority, stamp, origin]`; a claim is an
 *   atomic operation checking the versionstamps read, so two consumers never lease one
 *   message (a lost race moves on to the next entries).
 * - Writes without checks (enqueue, ack, results) from concurrent callers share commits,
 *   and an ack issued while a dequeue is under way rides in that dequeue's claim: a
 *   finished task's result and ack and the next task's lease are one commit.
 * - A message's watch keys are stored with it; a dequeue reads their values once its
 *   claims have committed, one `getMany` per ten distinct keys (issued together), and
 *   returns them as `watched`: what a read right after the lease sees.
 * - On a local file, an operation that finds the database locked by another process is
 *   retried with a short random backoff (KV reports "database is locked" at once).
 * - A message or value over Deno KV's 64 KiB value limit is refused with a `RangeError`
 *   stating its size (messages: at most 65,024 bytes; values: 65,280 bytes).
 * - `waitForMessage` wakes at once for enqueues in this process (any storage on the same
 *   path or database object); other processes' messages are found by the consumer's
 *   polling, with its delay and backoff.
 * - Values are stored as bytes, never V8-serialized: on Bun, open the database with
 *   `@deno/kv`'s `openKv(path, { encodeV8, decodeV8 })` (they are never called for
 *   Dewey's keys) and the file stays readable by Deno and Node.
 *
 * @example On Deno (run with --unstable-kv, or "unstable": ["kv"] in deno.json)
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 * import { DenoKvStorage } from "@dewey/dewey/deno-kv";
 *
 * const dewey = new Dewey({ name: "app", storage: new DenoKvStorage({ path: ":memory:" }) });
 * const add = dewey.task("add", (a: number, b: number) => a + b);
 * await add(1, 2);
 * console.log(await dewey.pendingCount()); // 1
 * await dewey.close();
 * ```
 *
 * @example On Node or Bun, through npm's `@deno/kv` (a sketch: not run here)
 * ```ts
 * import { openKv } from "@deno/kv";
 * import { DenoKvStorage } from "@dewey/dewey/deno-kv";
 *
 * const unused = (): never => {
 *   throw new TypeError("Dewey stores bytes only");
 * };
 *
 * export async function kvStorage(path: string): Promise<DenoKvStorage> {
 *   // Bun needs encodeV8/decodeV8; Dewey never calls them, so the file stays Deno's format.
 *   const kv = await openKv(path, { encodeV8: unused, decodeV8: unused });
 *   return new DenoKvStorage({ kv }); // close `kv` yourself when done
 * }
 * ```
 */
export class DenoKvStorage implements Storage {
  #name = "dewey";
  #bound = false;
  readonly #path?: string;
  readonly #given?: DenoKvLike;
  readonly #openKv?: OpenKv;
  readonly #clock: () => number;
  readonly #notifier: Notifier;
  readonly #serial = new Serial();
  readonly #waiters = new Waiters();
  readonly #dataWaiters = new DataWaiters();
  #opened?: Promise<Opened>;
  #context?: KvContext;
  /** Dequeues under way: while any is, writes wait to ride along with its claim. */
  #dequeues = 0;

  /**
   * Checks the options; nothing is opened until the first call. Throws a `TypeError`
   * without `kv` where `Deno.openKv` is missing (Deno without KV enabled, Node, Bun).
   */
  constructor(options: DenoKvStorageOptions = {}) {
    if (options.kv !== undefined && options.path !== undefined) {
      throw new TypeError('Cannot use both "path" and "kv": pass one');
    }
    this.#path = options.path;
    this.#given = options.kv;
    if (options.kv === undefined) this.#openKv = findOpenKv();
    this.#clock = options.clock ?? Date.now;
    this.#notifier = notifierFor(options.kv ?? options.path ?? "");
  }

  /** The instance name given to {@linkcode DenoKvStorage.bind}, or `"dewey"`. */
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

  /**
   * Adds a message; larger `priority` first, FIFO among equals. Its `watch` keys are stored
   * with it, and a lease returns their values as `watched`.
   */
  async enqueue(data: string, priority: number, watch?: string[]): Promise<void> {
    await queue.enqueue(await this.#c(), data, priority, watch);
  }

  /** Adds messages in order, in as few atomic operations as KV's limits allow. */
  async enqueueMany(items: QueueItem[]): Promise<void> {
    await queue.enqueueMany(await this.#c(), items);
  }

  /** Leases the next message for `visibility` seconds, or returns `undefined`. */
  async dequeue(visibility: number, now?: number): Promise<LeasedMessage | undefined> {
    const [leased] = await this.dequeueMany(1, visibility, now);
    return leased;
  }

  /**
   * Leases up to `count` messages in dequeue order, ten per atomic operation. Calls on one
   * storage object take turns, so they do not fail each other's checks.
   */
  async dequeueMany(count: number, visibility: number, now?: number): Promise<LeasedMessage[]> {
    // Counted before any await: an ack issued right after this call (the consumer frees a
    // slot just before it acks) then waits to share the claim's commit.
    this.#dequeues++;
    let c: KvContext | undefined;
    try {
      c = await this.#c();
      const context = c;
      return await this.#serial.run(
        "dequeue",
        () => queue.dequeueMany(context, count, visibility, now ?? this.#clock()),
      );
    } finally {
      if (--this.#dequeues === 0) c?.writer.resume();
    }
  }

  /** Deletes a lease (unknown leases are ignored) and applies `effects`, in one commit. */
  async ack(lease: string, effects?: AckEffects): Promise<void> {
    await queue.ack(await this.#c(), lease, effects);
  }

  /** Moves each held lease's deadline to `now + visibility`; returns the held leases. */
  async extend(leases: string[], visibility: number, now?: number): Promise<string[]> {
    return await queue.extend(await this.#c(), leases, visibility, now ?? this.#clock());
  }

  /** Returns a leased message to its place in the queue at once. */
  async release(lease: string): Promise<void> {
    await queue.release(await this.#c(), lease);
  }

  /** Returns every message whose lease deadline is `<= now` to the queue; the count. */
  async requeueExpired(now?: number): Promise<number> {
    return await queue.requeueExpired(await this.#c(), now ?? this.#clock());
  }

  /** Messages waiting (leased ones excluded); a scan of the queue's keys. */
  async queueSize(): Promise<number> {
    const c = await this.#c();
    return await countAll(c.kv, c.keys.queuePrefix);
  }

  /** Messages currently leased. */
  async leasedCount(): Promise<number> {
    const c = await this.#c();
    return await countAll(c.kv, c.keys.leasePrefix);
  }

  /** The next `limit` waiting messages (all by default) in dequeue order, left in place. */
  async enqueuedItems(limit?: number): Promise<string[]> {
    return await queue.enqueuedItems(await this.#c(), limit);
  }

  /** Removes every waiting and leased message. */
  async flushQueue(): Promise<void> {
    const c = await this.#c();
    await deleteAll(c.kv, c.keys.queuePrefix);
    await deleteAll(c.kv, c.keys.leasePrefix);
  }

  /**
   * Resolves at once when a message waits, else on an enqueue, release or requeue in this
   * process on the same database, after `timeout` seconds, or when `signal` aborts. Other
   * processes' enqueues do not wake it: the consumer finds them when it polls next.
   */
  async waitForMessage(timeout: number, signal?: AbortSignal): Promise<void> {
    requireSeconds("timeout", timeout);
    const name = this.#name;
    return await this.#waiters.wait(
      timeout,
      signal,
      async () => queue.hasWaiting(await this.#c()),
      (onChange) => Promise.resolve(this.#notifier.onMessage(name, onChange)),
    );
  }

  // --- schedule ------------------------------------------------------------------------

  /** Stores a message to run at `eta` (epoch ms); identical messages are kept apart. */
  async addToSchedule(data: string, eta: number): Promise<void> {
    await schedule.addToSchedule(await this.#c(), data, eta);
  }

  /** Removes and returns every message with `eta <= now`, soonest first, atomically. */
  async readSchedule(now: number): Promise<string[]> {
    return await schedule.readSchedule(await this.#c(), now);
  }

  /** Number of scheduled messages. */
  async scheduleSize(): Promise<number> {
    return await schedule.scheduleSize(await this.#c());
  }

  /** The next `limit` scheduled messages (all by default), soonest first, left in place. */
  async scheduledItems(limit?: number): Promise<string[]> {
    return await schedule.scheduledItems(await this.#c(), limit);
  }

  /** Removes the whole schedule. */
  async flushSchedule(): Promise<void> {
    await schedule.flushSchedule(await this.#c());
  }

  // --- key/value -----------------------------------------------------------------------

  /** Upserts `key`; with `ttl` (seconds, > 0) it expires after that long. */
  async putData(key: string, value: string, ttl?: number): Promise<void> {
    await data.putData(await this.#c(), key, value, ttl);
  }

  /** The live value of `key`, or `undefined`. */
  async peekData(key: string): Promise<string | undefined> {
    return await data.peekData(await this.#c(), key);
  }

  /** Removes and returns the live value of `key`, or `undefined`. */
  async popData(key: string): Promise<string | undefined> {
    return await data.popData(await this.#c(), key);
  }

  /** Sets `key` when it is absent or expired; whether it was set. */
  async putIfEmpty(key: string, value: string, ttl?: number): Promise<boolean> {
    return await data.putIfEmpty(await this.#c(), key, value, ttl);
  }

  /** Deletes `key` (only when it holds `expected`, if given); whether it was deleted. */
  async deleteData(key: string, expected?: string): Promise<boolean> {
    return await data.deleteData(await this.#c(), key, expected);
  }

  /** Whether `key` holds a live value. */
  async hasData(key: string): Promise<boolean> {
    return await data.hasData(await this.#c(), key);
  }

  /** Number of live keys. */
  async resultCount(): Promise<number> {
    return (await data.resultItems(await this.#c())).size;
  }

  /** Every live key and its value. */
  async resultItems(): Promise<Map<string, string>> {
    return await data.resultItems(await this.#c());
  }

  /** Removes every key. */
  async flushResults(): Promise<void> {
    await data.flushResults(await this.#c());
  }

  /**
   * Resolves `true` once `key` holds a value, `false` after `timeout` seconds (`undefined`
   * waits forever) or on `close`. A write in this process wakes it at once; others' writes
   * are found by reading the key again, 5 ms after the start, backing off to 200 ms.
   */
  async waitForData(key: string, timeout?: number): Promise<boolean> {
    if (timeout !== undefined) requireSeconds("timeout", timeout);
    const name = this.#name;
    return await this.#dataWaiters.wait(
      key,
      timeout ?? Infinity,
      () => this.hasData(key),
      (onChange) => Promise.resolve(this.#notifier.onData(name, key, onChange)),
      () => DATA_BACKOFF,
    );
  }

  // --- counters ------------------------------------------------------------------------

  /** Adds `by` to the counter (missing or expired counts as 0); the new value. */
  async incr(key: string, by = 1, ttl?: number): Promise<number> {
    const c = await this.#c();
    return await this.#serial.run(`counter:${key}`, () => counters.incr(c, key, by, ttl));
  }

  /** Removes a counter. */
  async deleteCounter(key: string): Promise<void> {
    await counters.deleteCounter(await this.#c(), key);
  }

  /** Removes every counter. */
  async flushCounters(): Promise<void> {
    await counters.flushCounters(await this.#c());
  }

  // --- dead letter ---------------------------------------------------------------------

  /** Sets a message aside with a reason; returns the entry id. */
  async deadLetter(data: string, reason: string, now?: number): Promise<string> {
    return await dead.deadLetter(await this.#c(), data, reason, now ?? this.#clock());
  }

  /** Every dead-letter entry, oldest first (ties in the order they were added). */
  async deadLetters(): Promise<DeadLetterEntry[]> {
    return await dead.deadLetters(await this.#c());
  }

  /** Moves an entry back to the queue at priority 0; whether it existed. */
  async requeueDeadLetter(id: string): Promise<boolean> {
    return await dead.requeueDeadLetter(await this.#c(), id);
  }

  /** Removes every dead-letter entry; the count removed. */
  async purgeDeadLetters(): Promise<number> {
    return await dead.purgeDeadLetters(await this.#c());
  }

  // --- lifecycle -----------------------------------------------------------------------

  /**
   * Removes every key under `["dewey", name]`: queue, leases, schedule, data, counters, dead
   * letters.
   */
  async flushAll(): Promise<void> {
    const c = await this.#c();
    await deleteAll(c.kv, c.keys.root);
  }

  /**
   * Ends pending waits (`waitForMessage` resolves, `waitForData` gives `false`), lets
   * writes in flight finish, and closes the database if the storage opened it (a later
   * call opens it again). A database passed as `kv` stays open.
   */
  async close(): Promise<void> {
    this.#waiters.wakeAll();
    this.#dataWaiters.closeAll();
    const opened = this.#opened;
    if (opened === undefined) return;
    this.#opened = undefined;
    this.#context = undefined;
    const { raw, writer } = await opened.catch(() => ({ raw: undefined, writer: undefined }));
    await writer?.idle();
    if (raw !== undefined && raw !== this.#given) raw.close();
  }

  // --- internals -----------------------------------------------------------------------

  /** The context for the bound name; opens the database on first use (again after a failure). */
  async #c(): Promise<KvContext> {
    this.#opened ??= this.#open();
    const opened = this.#opened;
    const { kv, writer } = await opened;
    if (this.#context?.kv !== kv || this.#context.name !== this.#name) {
      this.#context = {
        kv,
        writer,
        name: this.#name,
        keys: new Keys(this.#name),
        notifier: this.#notifier,
        clock: this.#clock,
      };
    }
    return this.#context;
  }

  async #open(): Promise<Opened> {
    try {
      const raw = this.#given ?? await this.#openKv!(this.#path);
      const kv = retryingKv(raw);
      return { raw, kv, writer: new Writer(kv, () => this.#dequeues > 0) };
    } catch (error) {
      this.#opened = undefined;
      throw error;
    }
  }
}
