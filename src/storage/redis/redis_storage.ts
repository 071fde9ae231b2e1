/**
 * The storage contract over Redis: every operation is one command or one Lua script (one
 * round trip, atomic), sent through a {@linkcode RedisExecutor}, so the same code runs
 * over TCP and over Upstash's REST API. The key layout is described in `scripts.ts`.
 *
 * @module
 */

import type { AckEffects, DeadLetterEntry, LeasedMessage, QueueItem, Storage } from "../storage.ts";
import { isNoScript, type RedisArg, type RedisExecutor, type RedisReply } from "./executor.ts";
import { type RedisStorageOptions, resolveExecutor } from "./options.ts";
import { type ScriptName, type Scripts, scripts } from "./scripts.ts";
import { type WaitContext, waitForData, waitForMessage } from "./waits.ts";
import { checkBinding } from "../binding.ts";
import { requireFinite, requireSeconds, requireTtl } from "../checks.ts";

/** Messages per script in `enqueueMany`: bigger batches go as a pipeline of scripts. */
const ENQUEUE_BATCH = 5000;

/** Length of the sequence number in front of each queue and schedule member. */
const SEQUENCE_DIGITS = 16;

/**
 * Dewey's storage on Redis: self-hosted over TCP (ioredis), or Upstash over its REST API
 * (`@upstash/redis`), or any {@linkcode RedisExecutor}. Keys live under
 * `dewey:{<name>}:` (the instance name given to `bind`, percent-encoded where it is not
 * `[A-Za-z0-9_.!~*'()-]`), so one Redis holds several instances and `flushAll` removes one
 * name's keys and nothing else (no `FLUSHDB`).
 *
 * The queue is a sorted set (larger priority first, FIFO among equals); leases are a
 * sorted set of deadlines; every step touching several keys is one Lua script. Enqueuing
 * one task is one round trip, and so is enqueuing a whole `map` or group.
 *
 * Over TCP a consumer waiting for work blocks on a wake-up list (`BLPOP` on a connection
 * of its own): it wakes within a round trip of an enqueue, without polling. Over REST
 * `waitForMessage` is absent and the consumer polls with its delay and backoff.
 *
 * Connection: `url` (`redis://…` TCP, `https://…` with `token` REST), `client` (an
 * `@upstash/redis` client), `executor`, or, with none of them, `REDIS_URL`, else
 * `UPSTASH_REDIS_REST_URL` + `UPSTASH_REDIS_REST_TOKEN` from the environment. Nothing is
 * opened before the first command.
 *
 * @example A queue on a self-hosted Redis (a sketch: needs a server)
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 * import { RedisStorage } from "@dewey/dewey/redis";
 *
 * export const dewey = new Dewey({
 *   name: "demo",
 *   storage: new RedisStorage({ url: "redis://127.0.0.1:6379/0", expireResults: 86400 }),
 * });
 * ```
 *
 * @example An edge producer on Upstash (a sketch: needs a database)
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 * import { RedisStorage } from "@dewey/dewey/redis";
 *
 * export function deweyFor(env: Record<string, string>): Dewey {
 *   const storage = new RedisStorage({
 *     url: env.UPSTASH_REDIS_REST_URL,
 *     token: env.UPSTASH_REDIS_REST_TOKEN,
 *   });
 *   return new Dewey({ name: "demo", storage });
 * }
 * ```
 */
export class RedisStorage implements Storage {
  #name = "dewey";
  #bound = false;
  #prefix = prefixFor("dewey");
  readonly #executor: RedisExecutor;
  readonly #ownsExecutor: boolean;
  readonly #expireResultsMs?: number;
  #scripts?: Scripts;
  readonly #closing = new AbortController();
  readonly #waits: WaitContext;

  /**
   * Blocks until a message may be waiting, `timeout` seconds pass, or `signal` aborts.
   * Present only when the executor can block (TCP); over REST the consumer polls.
   */
  readonly waitForMessage?: (timeout: number, signal?: AbortSignal) => Promise<void>;

  /**
   * Blocks until `key` holds a value (`true`) or `timeout` seconds pass (`false`; no
   * timeout waits forever). Present with `notifyResult` (the default over TCP).
   */
  readonly waitForData?: (key: string, timeout?: number) => Promise<boolean>;

  /** Sets up the executor from `options`; nothing is sent before the first call. */
  constructor(options: RedisStorageOptions = {}) {
    if (options.expireResults !== undefined) {
      this.#expireResultsMs = ttlMs(options.expireResults, "expireResults");
    }
    const { executor, owned } = resolveExecutor(options);
    this.#executor = executor;
    this.#ownsExecutor = owned;
    const canBlock = typeof executor.blockingPop === "function";
    if (options.notifyResult && !canBlock) {
      throw new TypeError(
        `notifyResult needs an executor that can block (TCP); ${executor.description} cannot`,
      );
    }
    this.#waits = {
      executor,
      run: (name, args) => this.#run(name, args),
      key: (suffix) => this.#prefix + suffix,
      closing: this.#closing.signal,
    };
    if (canBlock) {
      this.waitForMessage = (timeout, signal) => {
        requireSeconds("timeout", timeout);
        return waitForMessage(this.#waits, timeout, signal);
      };
    }
    if (canBlock && (options.notifyResult ?? true)) {
      this.waitForData = (key, timeout) => {
        if (timeout !== undefined) requireSeconds("timeout", timeout);
        return waitForData(this.#waits, key, timeout);
      };
    }
  }

  /** The instance name given to {@linkcode RedisStorage.bind}, or `"dewey"`. */
  get name(): string {
    return this.#name;
  }

  /** The prefix of every key of this storage, e.g. `dewey:{demo}:`. */
  get prefix(): string {
    return this.#prefix;
  }

  /** The executor the commands go through. */
  get executor(): RedisExecutor {
    return this.#executor;
  }

  /** Sets the instance name; rebinding to the same name is allowed, to another throws. */
  bind(name: string): void {
    checkBinding(this.#bound, this.#name, name);
    this.#name = name;
    this.#prefix = prefixFor(name);
    this.#bound = true;
  }

  // --- queue ---------------------------------------------------------------------------

  /** Adds a message (one script: sequence number, sorted-set entry, wake-up token). */
  async enqueue(data: string, priority: number, watch?: string[]): Promise<void> {
    requireFinite("priority", priority);
    await this.#run("enqueue", [score(priority), data, encodeWatch(watch)]);
  }

  /** Adds several messages in order, in one round trip (a pipeline of scripts when large). */
  async enqueueMany(items: QueueItem[]): Promise<void> {
    for (const item of items) requireFinite("priority", item.priority);
    if (items.length === 0) return;
    const batches: RedisArg[][] = [];
    for (let start = 0; start < items.length; start += ENQUEUE_BATCH) {
      batches.push(
        items.slice(start, start + ENQUEUE_BATCH).flatMap(({ data, priority, watch }) => [
          score(priority),
          data,
          encodeWatch(watch),
        ]),
      );
    }
    if (batches.length === 1) {
      await this.#run("enqueueMany", batches[0]);
      return;
    }
    const { enqueueMany } = await this.#loadScripts();
    const replies = await this.#executor.pipeline(
      batches.map((args) => ["EVALSHA", enqueueMany.sha, 1, this.#prefix, ...args]),
    );
    for (const [index, reply] of replies.entries()) {
      if (!(reply instanceof Error)) continue;
      if (!isNoScript(reply)) throw reply;
      // The server did not know the script: that batch did not run; run it by EVAL.
      await this.#run("enqueueMany", batches[index]);
    }
  }

  /** Leases the best waiting message for `visibility` seconds, or returns `undefined`. */
  async dequeue(visibility: number, now?: number): Promise<LeasedMessage | undefined> {
    const [leased] = await this.dequeueMany(1, visibility, now);
    return leased;
  }

  /** Leases up to `count` messages in one script, in dequeue order. */
  async dequeueMany(
    count: number,
    visibility: number,
    now: number = Date.now(),
  ): Promise<LeasedMessage[]> {
    requireFinite("visibility", visibility, 0);
    requireFinite("count", count, 0);
    const take = Math.floor(count);
    if (take === 0) return [];
    const reply = strings(
      await this.#run("dequeue", [take, now + visibility * 1000, crypto.randomUUID()]),
    );
    const leased: LeasedMessage[] = [];
    for (let i = 0; i < reply.length;) {
      const message: LeasedMessage = {
        lease: reply[i],
        data: reply[i + 1].slice(SEQUENCE_DIGITS),
        expiredLeases: Number(reply[i + 2]),
      };
      const watchedKeys = Number(reply[i + 3]);
      i += 4;
      if (watchedKeys > 0) {
        // Each value comes as "=value", or "" when the key holds none.
        message.watched = new Map();
        const end = i + 2 * watchedKeys;
        for (; i < end; i += 2) {
          const value = reply[i + 1];
          message.watched.set(reply[i], value === "" ? undefined : value.slice(1));
        }
      }
      leased.push(message);
    }
    return leased;
  }

  /**
   * Deletes a leased message and applies `effects`, in one script. Acks issued together
   * (workers finishing in one turn of the event loop) share one script.
   */
  ack(lease: string, effects: AckEffects = {}): Promise<void> {
    const put = effects.put;
    const deletes = effects.delete ?? [];
    const args: RedisArg[] = [
      lease,
      put ? "1" : "0",
      put?.key ?? "",
      put?.value ?? "",
      put ? this.#resultTtl(put.key, undefined) : "",
    ];
    return new Promise<void>((resolve, reject) => {
      this.#acks.push({ args, deletes, resolve, reject });
      if (this.#acks.length === 1) queueMicrotask(this.#flushAcks);
    });
  }

  /** Acks waiting for the end of this microtask turn. */
  #acks: { args: RedisArg[]; deletes: string[]; resolve(): void; reject(e: unknown): void }[] = [];

  readonly #flushAcks = (): void => {
    const acks = this.#acks;
    this.#acks = [];
    this.#run("ack", acks.flatMap(({ args, deletes }) => [...args, deletes.length, ...deletes]))
      .then(() => {
        for (const ack of acks) ack.resolve();
      }, (error) => {
        for (const ack of acks) ack.reject(error);
      });
  };

  /** Moves each held lease's deadline to `now + visibility`; returns the held leases. */
  async extend(leases: string[], visibility: number, now: number = Date.now()): Promise<string[]> {
    requireFinite("visibility", visibility, 0);
    if (leases.length === 0) return [];
    const held = new Set(strings(await this.#run("extend", [now + visibility * 1000, ...leases])));
    return leases.filter((lease) => held.has(lease));
  }

  /** Returns a leased message to its old place in the queue at once. */
  async release(lease: string): Promise<void> {
    await this.#run("release", [lease]);
  }

  /** Returns every message whose lease deadline is `<= now` to the queue; the count. */
  async requeueExpired(now: number = Date.now()): Promise<number> {
    return Number(await this.#run("requeueExpired", [now]));
  }

  /** Messages waiting (leased ones excluded). */
  async queueSize(): Promise<number> {
    return Number(await this.#send(["ZCARD", this.#prefix + "queue"]));
  }

  /** Messages currently leased. */
  async leasedCount(): Promise<number> {
    return Number(await this.#send(["ZCARD", this.#prefix + "leases"]));
  }

  /** The next `limit` waiting messages (all by default) in dequeue order, left in place. */
  async enqueuedItems(limit?: number): Promise<string[]> {
    return await this.#range("queue", limit);
  }

  /** Removes every waiting and leased message. */
  async flushQueue(): Promise<void> {
    await this.#run("flushQueue", []);
  }

  // --- schedule ------------------------------------------------------------------------

  /** Stores a message to run at `eta` (epoch ms); identical messages are kept apart. */
  async addToSchedule(data: string, eta: number): Promise<void> {
    requireFinite("eta", eta);
    await this.#run("scheduleAdd", [eta, data]);
  }

  /** Removes and returns every message with `eta <= now` in one script, soonest first. */
  async readSchedule(now: number): Promise<string[]> {
    requireFinite("now", now);
    return strings(await this.#run("scheduleRead", [now])).map(stripSequence);
  }

  /** Number of scheduled messages. */
  async scheduleSize(): Promise<number> {
    return Number(await this.#send(["ZCARD", this.#prefix + "schedule"]));
  }

  /** The next `limit` scheduled messages (all by default), soonest first, left in place. */
  async scheduledItems(limit?: number): Promise<string[]> {
    return await this.#range("schedule", limit);
  }

  /** Removes the whole schedule. */
  async flushSchedule(): Promise<void> {
    await this.#send(["DEL", this.#prefix + "schedule"]);
  }

  // --- key/value -----------------------------------------------------------------------

  /**
   * Upserts `key`; with `ttl` (seconds) it expires after that long. Without one, a result
   * key gets the `expireResults` ttl, if set.
   */
  async putData(key: string, value: string, ttl?: number): Promise<void> {
    await this.#run("put", [key, value, this.#resultTtl(key, ttl)]);
  }

  /** The value of `key`, or `undefined`. */
  async peekData(key: string): Promise<string | undefined> {
    return optional(await this.#send(["GET", this.#prefix + "k:" + key]));
  }

  /** Removes and returns the value of `key`, or `undefined`. */
  async popData(key: string): Promise<string | undefined> {
    return optional(await this.#run("pop", [key]));
  }

  /** Sets `key` only when absent (`SET NX`); whether it was set. */
  async putIfEmpty(key: string, value: string, ttl?: number): Promise<boolean> {
    const expiry = ttl === undefined ? "" : String(ttlMs(ttl, "ttl"));
    return await this.#run("putIfEmpty", [key, value, expiry]) === 1;
  }

  /** Deletes `key` (only when it holds `expected`, if given); whether it was deleted. */
  async deleteData(key: string, expected?: string): Promise<boolean> {
    const compare = expected === undefined ? ["0", ""] : ["1", expected];
    return await this.#run("delete", [key, ...compare]) === 1;
  }

  /** Whether `key` holds a value. */
  async hasData(key: string): Promise<boolean> {
    return await this.#send(["EXISTS", this.#prefix + "k:" + key]) === 1;
  }

  /** Number of keys in the result store. */
  async resultCount(): Promise<number> {
    return Number(await this.#run("resultCount", []));
  }

  /** Every key and value in the result store. */
  async resultItems(): Promise<Map<string, string>> {
    const reply = strings(await this.#run("resultItems", []));
    const items = new Map<string, string>();
    for (let i = 0; i < reply.length; i += 2) items.set(reply[i], reply[i + 1]);
    return items;
  }

  /** Removes every key in the result store. */
  async flushResults(): Promise<void> {
    await this.#run("flushResults", []);
  }

  // --- counters ------------------------------------------------------------------------

  /** Adds `by` to the counter (`INCRBYFLOAT`); a ttl applies when this call creates it. */
  async incr(key: string, by = 1, ttl?: number): Promise<number> {
    requireFinite("by", by);
    const expiry = ttl === undefined ? "" : String(ttlMs(ttl, "ttl"));
    return Number(await this.#run("incr", [key, by, expiry]));
  }

  /** Removes a counter. */
  async deleteCounter(key: string): Promise<void> {
    await this.#run("deleteCounter", [key]);
  }

  /** Removes every counter. */
  async flushCounters(): Promise<void> {
    await this.#run("flushCounters", []);
  }

  // --- dead letter ---------------------------------------------------------------------

  /** Sets a message aside with a reason; returns the entry id. */
  async deadLetter(data: string, reason: string, now: number = Date.now()): Promise<string> {
    requireFinite("now", now);
    return String(await this.#run("deadLetter", [crypto.randomUUID(), now, data, reason]));
  }

  /** Every dead-letter entry, oldest first (ties in the order they were added). */
  async deadLetters(): Promise<DeadLetterEntry[]> {
    const reply = strings(await this.#run("deadLetters", []));
    const entries: DeadLetterEntry[] = [];
    for (let i = 0; i < reply.length; i += 4) {
      entries.push({
        id: reply[i],
        at: Number(reply[i + 1]),
        reason: reply[i + 2],
        data: reply[i + 3],
      });
    }
    return entries;
  }

  /** Moves an entry back to the queue at priority 0; whether it existed. */
  async requeueDeadLetter(id: string): Promise<boolean> {
    return await this.#run("requeueDeadLetter", [id]) === 1;
  }

  /** Removes every dead-letter entry; the count removed. */
  async purgeDeadLetters(): Promise<number> {
    return Number(await this.#run("purgeDeadLetters", []));
  }

  // --- lifecycle -----------------------------------------------------------------------

  /**
   * Removes every key of this name (queue, leases, schedule, data, counters, dead letters);
   * the wake-up lists of blocked result waiters expire on their own within a minute.
   */
  async flushAll(): Promise<void> {
    await this.#run("flushAll", []);
  }

  /**
   * Ends pending waits (`waitForMessage` resolves, `waitForData` gives `false`) and closes
   * the executor if the storage made it (from `url`, `client` or the environment); an
   * executor passed in is left to its owner.
   */
  async close(): Promise<void> {
    this.#closing.abort();
    if (this.#ownsExecutor) await this.#executor.close();
  }

  // --- internals -----------------------------------------------------------------------

  #send(args: RedisArg[]): Promise<RedisReply> {
    return this.#executor.send(args);
  }

  async #run(name: ScriptName, args: RedisArg[]): Promise<RedisReply> {
    const all = this.#scripts ?? await this.#loadScripts();
    return await this.#executor.evalScript(all[name], [this.#prefix], args);
  }

  async #loadScripts(): Promise<Scripts> {
    this.#scripts ??= await scripts();
    return this.#scripts;
  }

  async #range(key: "queue" | "schedule", limit: number | undefined): Promise<string[]> {
    if (limit !== undefined) requireFinite("limit", limit, 0);
    const stop = limit === undefined ? -1 : Math.floor(limit) - 1;
    if (stop < -1 || (limit !== undefined && stop === -1)) return [];
    return strings(await this.#send(["ZRANGE", this.#prefix + key, 0, stop])).map(stripSequence);
  }

  /** The ttl (ms, or "" for none) a value gets: its own, else `expireResults` for results. */
  #resultTtl(key: string, ttl: number | undefined): string {
    if (ttl !== undefined) return String(ttlMs(ttl, "ttl"));
    if (this.#expireResultsMs === undefined || key.startsWith("~")) return "";
    return String(this.#expireResultsMs);
  }
}

/**
 * `dewey:{name}:`. The braces make the name a Redis Cluster hash tag (all of an instance's
 * keys in one slot, as its scripts need); percent-encoding keeps `{`, `}` and `:` out of
 * it, so no name's keys can collide with another's.
 */
function prefixFor(name: string): string {
  return `dewey:{${encodeURIComponent(name)}}:`;
}

/** Sorted-set score of a priority: ascending scores pop first, so larger priorities do. */
function score(priority: number): string {
  return String(-priority || 0); // `|| 0` turns -0 into 0
}

/** Watch keys as the scripts read them: `<UTF-8 bytes>:<key>` each; "" for none. */
function encodeWatch(keys: string[] | undefined): string {
  if (keys === undefined) return "";
  let encoded = "";
  for (const key of keys) encoded += `${utf8Length(key)}:${key}`;
  return encoded;
}

/** Bytes of `text` in UTF-8 (as Redis stores it), without encoding it. */
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    const next = text.charCodeAt(i + 1);
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      bytes += 2; // a surrogate pair: 2 UTF-16 units, 4 bytes
      i++;
    } else bytes += 2; // 3 bytes; a lone surrogate is sent as U+FFFD, also 3
  }
  return bytes;
}

function stripSequence(member: string): string {
  return member.slice(SEQUENCE_DIGITS);
}

function strings(reply: RedisReply): string[] {
  return Array.isArray(reply) ? reply.map((item) => String(item)) : [];
}

function optional(reply: RedisReply): string | undefined {
  return reply === null || reply === undefined ? undefined : String(reply);
}

/** A ttl in whole milliseconds (at least 1); refuses zero, negative and infinite ones. */
function ttlMs(seconds: number, name: string): number {
  requireTtl(seconds, name);
  return Math.max(1, Math.round(seconds * 1000));
}
