/**
 * The storage contract over SQL through Kysely: SQLite and PostgreSQL share one code path,
 * with small dialect switches (`for update skip locked`, `begin immediate`, column types).
 *
 * @module
 */

// deno-lint-ignore-file no-explicit-any -- Kysely<any>: the storage works on any schema type
import {
  CompiledQuery,
  type Kysely,
  PostgresAdapter,
  type QueryResult,
  type RawBuilder,
  sql,
  SqliteAdapter,
  type SqliteDatabase,
} from "kysely";
import type { AckEffects, DeadLetterEntry, LeasedMessage, QueueItem, Storage } from "../storage.ts";
import { requireFinite, requireInteger, requireSeconds, requireTtl } from "../checks.ts";
import { watchFiles } from "./file_watch.ts";
import { type ListenPool, PgListener } from "./pg_listen.ts";
import { ensureSchema } from "./schema.ts";
import {
  bindRawDatabase,
  type LeasedRow,
  runCompiled,
  type Statement,
  Statements,
} from "./statements.ts";
import { type Tables, tablesFor } from "./tables.ts";
import { type Backoff, DataWaiters, Waiters } from "../waiters.ts";
import { checkBinding } from "../binding.ts";

/**
 * The SQL dialects {@linkcode SqlStorage} speaks.
 *
 * @example
 * ```ts
 * import { SqliteStorage, type SqlDialect } from "@dewey/dewey/sqlite";
 *
 * const storage = new SqliteStorage({ path: ":memory:" });
 * const dialect: SqlDialect = storage.dialect;
 * console.log(dialect); // "sqlite"
 * await storage.close();
 * ```
 */
export type SqlDialect = "sqlite" | "postgres";

/**
 * A Kysely instance, as {@linkcode SqlStorage} takes it: pass any `new Kysely(…)`. Declared
 * by shape, as Kysely declares the drivers it accepts, so Dewey's documented API does not
 * take in Kysely's whole type tree.
 *
 * @example
 * ```ts
 * import { type KyselyDatabase, SqliteStorage } from "@dewey/dewey/sqlite";
 *
 * const storage = new SqliteStorage({ path: ":memory:" });
 * const db: KyselyDatabase = storage.db; // a Kysely instance; cast to use its query API
 * console.log(typeof db.transaction); // "function"
 * await storage.close();
 * ```
 */
export interface KyselyDatabase {
  /** Kysely's query executor; its `adapter` tells SQLite from PostgreSQL. */
  getExecutor(): { readonly adapter: object };
  /** Starts a transaction builder. */
  transaction(): object;
  /** Starts a single-connection builder. */
  connection(): object;
  /** Closes the database connections. */
  destroy(): Promise<void>;
}

/**
 * Options for {@linkcode SqlStorage}.
 *
 * @example
 * ```ts
 * import { SqliteStorage, SqlStorage, type SqlStorageOptions } from "@dewey/dewey/sqlite";
 *
 * const owner = new SqliteStorage({ path: ":memory:" });
 * let now = 0;
 * const options: SqlStorageOptions = { db: owner.db, dialect: "sqlite", clock: () => now };
 * const storage = new SqlStorage(options);
 * await storage.putData("k", "v", 10); // expires 10 s after `now`
 * now = 10_000;
 * console.log(await storage.hasData("k")); // false
 * await owner.close();
 * ```
 */
export interface SqlStorageOptions {
  /**
   * The database, as any Kysely instance. The storage creates its tables in it on first
   * use and leaves it open on {@linkcode SqlStorage.close}: its owner destroys it.
   */
  db: KyselyDatabase;
  /**
   * The SQL dialect. Detected from the Kysely adapter when omitted (Kysely's SQLite and
   * PostgreSQL adapters and their subclasses, e.g. PGlite); required for other dialects
   * that speak one of the two.
   */
  dialect?: SqlDialect;
  /**
   * PostgreSQL only: a `pg` `Pool` (or anything with its `connect()`) from which the
   * storage keeps one connection for `LISTEN`, so `waitForMessage` wakes as soon as any
   * process enqueues. Without it, `waitForMessage` wakes only for this object's enqueues
   * and otherwise runs to its timeout. Enqueues always `NOTIFY`.
   */
  listen?: ListenPool;
  /**
   * Epoch milliseconds now, for ttl expiry and as the default of every `now` parameter.
   *
   * @default {Date.now}
   */
  clock?: () => number;
}

/**
 * The storage contract over SQLite or PostgreSQL through a caller-supplied Kysely
 * instance. Tables are named after the instance name given to `bind` (`<name>_queue`,
 * `_schedule`, `_kv`, `_counters`, `_dead`, `_meta`; a name with characters other than
 * `[A-Za-z0-9_]` gets those replaced and a hash appended) and created on first use, so
 * one database can hold several Dewey instances.
 *
 * Dequeue is one atomic `UPDATE … RETURNING` that leases the best waiting row (with
 * `for update skip locked` in PostgreSQL), so concurrent consumers never get one message
 * twice, and reads the values of the row's watch keys in the same statement (SQLite needs
 * its built-in JSON functions, 3.38 or later); SQLite transactions start with
 * `begin immediate` whichever driver runs them.
 * Times are stored at whole milliseconds. On SQLite, `waitForMessage` and `waitForData`
 * watch the database files, so they wake for writes by other processes without polling.
 *
 * With your own SQLite Kysely, keep one connection per file per process: SQLite waits
 * for a lock synchronously, so a second connection in the same thread waiting on the
 * first blocks the thread that would release it ("database is locked" after the busy
 * timeout). {@linkcode SqliteStorage} makes its connections to one file take turns.
 *
 * @example An in-memory SQLite database through Kysely
 * ```ts
 * import { SqliteStorage, SqlStorage } from "@dewey/dewey/sqlite";
 *
 * // Any Kysely instance will do; here the one a SqliteStorage opened.
 * const owner = new SqliteStorage({ path: ":memory:" });
 * const storage = new SqlStorage({ db: owner.db });
 * storage.bind("demo");
 * await storage.enqueue("low", 0);
 * await storage.enqueue("high", 10);
 * const leased = await storage.dequeue(30);
 * console.log(leased?.data); // "high"
 * if (leased) await storage.ack(leased.lease);
 * await owner.close();
 * ```
 *
 * @example PostgreSQL (a sketch: not run here)
 * ```ts
 * import { Kysely, PostgresDialect } from "kysely";
 * import pg from "pg";
 * import { SqlStorage } from "@dewey/dewey/sqlite";
 *
 * export function postgresStorage(url: string): SqlStorage {
 *   const pool = new pg.Pool({ connectionString: url });
 *   const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
 *   return new SqlStorage({ db, listen: pool }); // destroy `db` yourself when done
 * }
 * ```
 */
export class SqlStorage implements Storage {
  #name = "dewey";
  #bound = false;
  readonly #db: Kysely<any>;
  readonly #dialect: SqlDialect;
  readonly #clock: () => number;
  readonly #listenPool?: ListenPool;
  readonly #waiters = new Waiters();
  readonly #dataWaiters = new DataWaiters();
  #tablesReady?: Promise<Ready>;
  #listener?: PgListener;
  #databaseFile?: Promise<string>;
  #nextSweep = 0;
  #closed = false;
  /** SQLite: operations waiting for the next group commit, in arrival order. */
  #pending: Operation[] = [];
  /** SQLite: whether a loop is running batches (it runs until `#pending` is empty). */
  #draining = false;

  /** Wraps `options.db`; nothing is queried until the first call. */
  constructor(options: SqlStorageOptions) {
    // The public type is Kysely's shape only; the object is a Kysely.
    this.#db = options.db as Kysely<any>;
    this.#dialect = options.dialect ?? detectDialect(this.#db);
    this.#clock = options.clock ?? Date.now;
    this.#listenPool = options.listen;
  }

  /** The instance name given to {@linkcode SqlStorage.bind}, or `"dewey"`. */
  get name(): string {
    return this.#name;
  }

  /** The Kysely instance the storage runs on (cast it to `Kysely` to query it). */
  get db(): KyselyDatabase {
    return this.#db;
  }

  /** The dialect in use, given or detected. */
  get dialect(): SqlDialect {
    return this.#dialect;
  }

  /** Sets the instance name; rebinding to the same name is allowed, to another throws. */
  bind(name: string): void {
    checkBinding(this.#bound, this.#name, name);
    if (name !== this.#name) {
      this.#tablesReady = undefined;
      void this.#listener?.close();
      this.#listener = undefined;
    }
    this.#name = name;
    this.#bound = true;
  }

  // --- queue ---------------------------------------------------------------------------

  /**
   * Adds a message; larger `priority` first, FIFO among equals. Its `watch` keys are
   * stored with it and their values read with each lease ({@linkcode LeasedMessage.watched}).
   */
  async enqueue(data: string, priority: number, watch?: string[]): Promise<void> {
    requireFinite("priority", priority);
    const { statements } = await this.#tables();
    await this.#execStatement(statements.enqueue, [priority, data, encodeWatch(watch)]);
    await this.#messagesAdded();
  }

  /** Adds several messages in order, all or none, in as few statements as parameters allow. */
  async enqueueMany(items: QueueItem[]): Promise<void> {
    for (const item of items) requireFinite("priority", item.priority);
    if (items.length === 0) return;
    const { statements } = await this.#tables();
    await this.#atomic(async (db) => {
      for (let start = 0; start < items.length; start += BATCH_ROWS) {
        const batch = items.slice(start, start + BATCH_ROWS);
        const parameters: unknown[] = [];
        for (const { data, priority, watch } of batch) {
          parameters.push(priority, data, encodeWatch(watch));
        }
        await statements.enqueueMany(batch.length).run(db, parameters);
      }
    });
    await this.#messagesAdded();
  }

  /** Leases the best waiting message for `visibility` seconds, or returns `undefined`. */
  async dequeue(
    visibility: number,
    now: number = this.#clock(),
  ): Promise<LeasedMessage | undefined> {
    const [leased] = await this.dequeueMany(1, visibility, now);
    return leased;
  }

  /**
   * Leases up to `count` waiting messages, best first, in one statement, which also reads
   * the live values of their watch keys.
   */
  async dequeueMany(
    count: number,
    visibility: number,
    now: number = this.#clock(),
  ): Promise<LeasedMessage[]> {
    requireFinite("count", count, 0);
    requireFinite("visibility", visibility, 0);
    if (count < 1) return [];
    const { statements } = await this.#tables();
    // One statement, so the pick and the lease are atomic. PostgreSQL: concurrent
    // dequeuers skip rows another one is leasing instead of queueing behind it.
    const lease = crypto.randomUUID();
    const deadline = ms(now + visibility * 1000);
    // Watch keys expire by the clock, as `peekData` reads them, whatever `now` says.
    const live = this.#now();
    let rows: LeasedRow[];
    if (count < 2) {
      ({ rows } = await this.#execStatement(statements.dequeueOne, [lease, deadline, live]));
    } else if (this.#dialect === "sqlite") {
      // SQLite runs the one-row statement a few times faster than `id in (…)` with a
      // limit (which builds a temporary table), so take the rows one by one, atomically.
      rows = await this.#atomic(async (db) => {
        const taken: LeasedRow[] = [];
        while (taken.length < count) {
          const { rows: [row] } = await statements.dequeueOne.run(db, [lease, deadline, live]);
          if (row === undefined) break;
          taken.push(row);
        }
        return taken;
      });
    } else {
      ({ rows } = await this.#execStatement(
        statements.dequeue,
        [lease, deadline, Math.floor(count), live],
      ));
    }
    // RETURNING follows no order: put the rows back in dequeue order.
    if (rows.length > 1) {
      rows.sort((a, b) => b.priority - a.priority || Number(a.id) - Number(b.id));
    }
    return rows.map(leasedMessage);
  }

  /** Deletes a leased message (unknown leases are ignored) and applies `effects`, atomically. */
  async ack(lease: string, effects?: AckEffects): Promise<void> {
    const { statements } = await this.#tables();
    if (!effects?.put && !effects?.delete?.length) {
      await this.#execStatement(statements.ack, [lease]);
      return;
    }
    await this.#atomic(async (db) => {
      await statements.ack.run(db, [lease]);
      for (const key of effects.delete ?? []) await statements.deleteKey.run(db, [key]);
      if (effects.put) {
        await statements.putData.run(db, [effects.put.key, effects.put.value, null]);
      }
    });
    if (effects.put) this.#dataWaiters.wake(effects.put.key);
  }

  /** Moves each held lease's deadline to `now + visibility`; returns the held leases. */
  async extend(
    leases: string[],
    visibility: number,
    now: number = this.#clock(),
  ): Promise<string[]> {
    requireFinite("visibility", visibility, 0);
    if (leases.length === 0) return [];
    const { statements } = await this.#tables();
    const { rows } = await this.#execStatement(
      statements.extend(leases.length),
      [ms(now + visibility * 1000), ...leases],
    );
    const held = new Set(rows.map((row) => row.lease_id));
    return leases.filter((lease) => held.has(lease));
  }

  /** Returns a leased message to the queue at once, in its old place (same id). */
  async release(lease: string): Promise<void> {
    const { queue } = await this.#tables();
    const result = await this.#exec(sql`update ${queue} set lease_id = null, leased_until = null
      where lease_id = ${lease}`);
    if (affected(result) > 0) await this.#messagesAdded();
  }

  /** Returns every message whose lease deadline is `<= now` to the queue; the count. */
  async requeueExpired(now: number = this.#clock()): Promise<number> {
    const { queue } = await this.#tables();
    const count = affected(
      await this.#exec(sql`update ${queue} set lease_id = null, leased_until = null,
        expired_leases = expired_leases + 1
        where lease_id is not null and leased_until <= ${ms(now)}`),
    );
    if (count > 0) await this.#messagesAdded();
    return count;
  }

  /** Messages waiting (leased ones excluded). */
  async queueSize(): Promise<number> {
    const { queue } = await this.#tables();
    return this.#count(sql`select count(*) as n from ${queue} where lease_id is null`);
  }

  /** Messages currently leased. */
  async leasedCount(): Promise<number> {
    const { queue } = await this.#tables();
    return this.#count(sql`select count(*) as n from ${queue} where lease_id is not null`);
  }

  /** The next `limit` waiting messages (all by default) in dequeue order, left in place. */
  async enqueuedItems(limit?: number): Promise<string[]> {
    const { queue } = await this.#tables();
    const { rows } = await this.#exec(sql<{ data: string }>`select data from ${queue}
      where lease_id is null order by priority desc, id ${limitClause(limit)}`);
    return rows.map((row) => row.data);
  }

  /** Removes every waiting and leased message. */
  async flushQueue(): Promise<void> {
    const { queue } = await this.#tables();
    await this.#exec(sql`delete from ${queue}`);
  }

  /**
   * Resolves when a message may be available: at once if one is waiting, on an enqueue,
   * release or requeue through this object, on a write by another process (SQLite: a
   * change to the database files; PostgreSQL: a `NOTIFY`, given the `listen` option), after
   * `timeout` seconds, or when `signal` aborts. Leaves no watcher or timer behind.
   */
  async waitForMessage(timeout: number, signal?: AbortSignal): Promise<void> {
    requireSeconds("timeout", timeout);
    // No await before this: the waiter is registered before the caller can enqueue.
    return await this.#waiters.wait(
      timeout,
      signal,
      () => this.#hasWaiting(),
      (onChange) => this.#watchOutside(onChange),
    );
  }

  // --- schedule ------------------------------------------------------------------------

  /** Stores a message to run at `eta` (epoch ms); identical messages are kept apart. */
  async addToSchedule(data: string, eta: number): Promise<void> {
    requireFinite("eta", eta);
    const { schedule } = await this.#tables();
    await this.#exec(sql`insert into ${schedule} (eta, data) values (${ms(eta)}, ${data})`);
  }

  /** Removes and returns every message with `eta <= now` in one statement, soonest first. */
  async readSchedule(now: number): Promise<string[]> {
    const { schedule } = await this.#tables();
    const due = this.#dialect === "postgres"
      ? sql`id in (select id from ${schedule} where eta <= ${ms(now)} for update skip locked)`
      : sql`eta <= ${ms(now)}`;
    const { rows } = await this.#exec(
      sql<{ id: number | string; eta: number | string; data: string }>`
      delete from ${schedule} where ${due} returning id, eta, data`,
    );
    // RETURNING has no defined order, and PostgreSQL gives BIGINTs as strings.
    return rows
      .sort((a, b) => Number(a.eta) - Number(b.eta) || Number(a.id) - Number(b.id))
      .map((row) => row.data);
  }

  /** Number of scheduled messages. */
  async scheduleSize(): Promise<number> {
    const { schedule } = await this.#tables();
    return this.#count(sql`select count(*) as n from ${schedule}`);
  }

  /** The next `limit` scheduled messages (all by default), soonest first, left in place. */
  async scheduledItems(limit?: number): Promise<string[]> {
    const { schedule } = await this.#tables();
    const { rows } = await this.#exec(sql<{ data: string }>`select data from ${schedule}
      order by eta, id ${limitClause(limit)}`);
    return rows.map((row) => row.data);
  }

  /** Removes the whole schedule. */
  async flushSchedule(): Promise<void> {
    const { schedule } = await this.#tables();
    await this.#exec(sql`delete from ${schedule}`);
  }

  // --- key/value -----------------------------------------------------------------------

  /** Upserts `key`; with `ttl` (seconds, > 0) it expires after that long. */
  async putData(key: string, value: string, ttl?: number): Promise<void> {
    const expiresAt = this.#expiry(ttl);
    const { statements } = await this.#tables();
    await this.#execStatement(statements.putData, [key, value, expiresAt]);
    this.#dataWaiters.wake(key);
    await this.#sweepExpired();
  }

  /** The live value of `key`, or `undefined`. */
  async peekData(key: string): Promise<string | undefined> {
    const { statements } = await this.#tables();
    const { rows } = await this.#readStatement(statements.peekData, [key, this.#now()]);
    return rows[0]?.value;
  }

  /** Removes and returns the live value of `key`, or `undefined`, in one statement. */
  async popData(key: string): Promise<string | undefined> {
    const { statements } = await this.#tables();
    const { rows } = await this.#execStatement(statements.popData, [key]);
    const row = rows[0];
    // An expired row is deleted all the same: that is its cleanup.
    return row && (row.expires_at === null || Number(row.expires_at) > this.#now())
      ? row.value
      : undefined;
  }

  /** Sets `key` when it is absent or expired, in one statement; whether it was set. */
  async putIfEmpty(key: string, value: string, ttl?: number): Promise<boolean> {
    const expiresAt = this.#expiry(ttl);
    const { kv } = await this.#tables();
    const { rows } = await this.#exec(sql`
      insert into ${kv} (key, value, expires_at) values (${key}, ${value}, ${expiresAt})
      on conflict (key) do update set value = excluded.value, expires_at = excluded.expires_at
      where ${kv}.expires_at <= ${this.#now()}
      returning key`);
    if (rows.length > 0) this.#dataWaiters.wake(key);
    return rows.length > 0;
  }

  /** Deletes `key` (only when it holds `expected`, if given); whether it was deleted. */
  async deleteData(key: string, expected?: string): Promise<boolean> {
    const { statements } = await this.#tables();
    const result = expected === undefined
      ? await this.#execStatement(statements.deleteData, [key, this.#now()])
      : await this.#execStatement(statements.deleteDataIf, [key, this.#now(), expected]);
    return affected(result) > 0;
  }

  /** Whether `key` holds a live value. */
  async hasData(key: string): Promise<boolean> {
    const { statements } = await this.#tables();
    const { rows } = await this.#readStatement(statements.hasData, [key, this.#now()]);
    return rows.length > 0;
  }

  /**
   * Resolves `true` at once when `key` holds a live value, else once one lands: checked
   * again on each `putData`/`putIfEmpty` of `key` through this object, on writes by other
   * processes (SQLite: a change to the database files), and on a backoff timer (from 5 ms,
   * ×1.5, up to 200 ms; with a file watch from 50 ms up to 1 s, as a safety net). `false`
   * after `timeout` seconds (`undefined` waits forever) or on {@linkcode SqlStorage.close}.
   * Leaves no watcher or timer behind.
   */
  async waitForData(key: string, timeout?: number): Promise<boolean> {
    if (timeout !== undefined) requireSeconds("timeout", timeout);
    // No await before this: the wait is registered before the caller can put the key.
    return await this.#dataWaiters.wait(
      key,
      timeout ?? Infinity,
      () => this.hasData(key),
      // PostgreSQL: key writes send no NOTIFY, so the backoff timer notices other processes'.
      this.#dialect === "sqlite" ? (onChange) => this.#watchOutside(onChange) : undefined,
      (watching) => watching ? WATCHED_DATA_BACKOFF : DATA_BACKOFF,
    );
  }

  /** Number of live keys. */
  async resultCount(): Promise<number> {
    const { kv } = await this.#tables();
    return this.#count(sql`select count(*) as n from ${kv} where ${this.#live()}`);
  }

  /** Every live key and its value, by key. */
  async resultItems(): Promise<Map<string, string>> {
    const { kv } = await this.#tables();
    const { rows } = await this.#exec(
      sql<{ key: string; value: string }>`select key, value from ${kv}
      where ${this.#live()} order by key`,
    );
    return new Map(rows.map((row) => [row.key, row.value]));
  }

  /** Removes every key. */
  async flushResults(): Promise<void> {
    const { kv } = await this.#tables();
    await this.#exec(sql`delete from ${kv}`);
  }

  // --- counters ------------------------------------------------------------------------

  /**
   * Adds `by` (a safe integer) to the counter, a missing or expired one counting as 0;
   * the new value. One upsert, so concurrent increments all count. A `ttl` applies when
   * this call creates the counter; later increments keep it.
   */
  async incr(key: string, by = 1, ttl?: number): Promise<number> {
    requireInteger("by", by);
    const expiresAt = this.#expiry(ttl);
    const { counters } = await this.#tables();
    const expired = sql`${counters}.expires_at <= ${this.#now()}`;
    const { rows } = await this.#exec(sql<{ value: number | string }>`
      insert into ${counters} (key, value, expires_at) values (${key}, ${by}, ${expiresAt})
      on conflict (key) do update set
        value = case when ${expired} then excluded.value
          else ${counters}.value + excluded.value end,
        expires_at = case when ${expired} then excluded.expires_at
          else ${counters}.expires_at end
      returning value`);
    return Number(rows[0].value);
  }

  /** Removes a counter. */
  async deleteCounter(key: string): Promise<void> {
    const { counters } = await this.#tables();
    await this.#exec(sql`delete from ${counters} where key = ${key}`);
  }

  /** Removes every counter. */
  async flushCounters(): Promise<void> {
    const { counters } = await this.#tables();
    await this.#exec(sql`delete from ${counters}`);
  }

  // --- dead letter ---------------------------------------------------------------------

  /** Sets a message aside with a reason; returns the entry id (a UUID). */
  async deadLetter(data: string, reason: string, now: number = this.#clock()): Promise<string> {
    const { dead } = await this.#tables();
    const id = crypto.randomUUID();
    await this.#exec(sql`insert into ${dead} (id, reason, at, data)
      values (${id}, ${reason}, ${ms(now)}, ${data})`);
    return id;
  }

  /** Every dead-letter entry, oldest first (ties in the order they were added). */
  async deadLetters(): Promise<DeadLetterEntry[]> {
    const { dead } = await this.#tables();
    const { rows } = await this.#exec(
      sql<{ id: string; reason: string; at: number | string; data: string }>`
      select id, reason, at, data from ${dead} order by at, seq`,
    );
    return rows.map(({ id, reason, at, data }) => ({ id, reason, at: Number(at), data }));
  }

  /** Moves an entry back to the queue at priority 0, in one transaction; whether it existed. */
  async requeueDeadLetter(id: string): Promise<boolean> {
    const { dead, queue } = await this.#tables();
    const moved = await this.#atomic(async (db) => {
      const { rows } = await sql<{ data: string }>`
        delete from ${dead} where id = ${id} returning data`.execute(db);
      if (rows.length === 0) return false;
      await sql`insert into ${queue} (priority, data) values (0, ${rows[0].data})`.execute(db);
      return true;
    });
    if (moved) await this.#messagesAdded();
    return moved;
  }

  /** Removes every dead-letter entry; the count removed. */
  async purgeDeadLetters(): Promise<number> {
    const { dead } = await this.#tables();
    return affected(await this.#exec(sql`delete from ${dead}`));
  }

  // --- lifecycle -----------------------------------------------------------------------

  /** Removes every row of this name's tables (the tables and their schema version stay). */
  async flushAll(): Promise<void> {
    const { queue, schedule, kv, counters, dead } = await this.#tables();
    await this.#atomic(async (db) => {
      for (const table of [queue, schedule, kv, counters, dead]) {
        await sql`delete from ${table}`.execute(db);
      }
    });
  }

  /**
   * Ends pending waits (`waitForData` gives `false`) and closes the `LISTEN` connection.
   * The Kysely instance stays open: it belongs to the caller.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#waiters.wakeAll();
    this.#dataWaiters.closeAll();
    await this.#listener?.close();
    this.#listener = undefined;
  }

  // --- internals -----------------------------------------------------------------------

  /** The tables, created or migrated on first use; a failed attempt is retried next call. */
  #tables(): Promise<Ready> {
    this.#tablesReady ??= this.#transaction(async (db) => {
      const tables = tablesFor(this.#name);
      await ensureSchema(db, tables, this.#dialect);
      return { ...tables, statements: new Statements(this.#db, tables, this.#dialect) };
    }).catch((error) => {
      this.#tablesReady = undefined;
      throw error;
    });
    return this.#tablesReady;
  }

  /**
   * Runs `work` in a write transaction. SQLite: `begin immediate` takes the write lock up
   * front, so a read-then-write waits (busy_timeout) instead of failing with "database is
   * locked" as a plain `begin` would; done by hand, so a caller's Kysely with any SQLite
   * driver behaves.
   */
  #transaction<T>(work: (db: Kysely<any>) => Promise<T>): Promise<T> {
    if (this.#dialect === "postgres") return this.#db.transaction().execute(work);
    return this.#db.connection().execute(async (db) => {
      await sql`begin immediate`.execute(db);
      try {
        const result = await work(db);
        await sql`commit`.execute(db);
        return result;
      } catch (error) {
        // SQLite may have rolled back already (e.g. on a full disk); keep the first error.
        await sql`rollback`.execute(db).catch(() => {});
        throw error;
      }
    });
  }

  /** Runs one statement: on SQLite in the next group commit, on PostgreSQL on its own. */
  #exec<R>(query: RawBuilder<R>): Promise<QueryResult<R>> {
    return this.#run((db) => query.execute(db), false);
  }

  /** Runs a prepared statement with `parameters`, as `#exec` runs a template. */
  #readStatement<R>(statement: Statement<R>, parameters: unknown[]): Promise<QueryResult<R>> {
    return this.#run((db) => statement.run(db, parameters), false, true);
  }

  /** Runs a prepared statement with `parameters`, as `#exec` runs a template. */
  #execStatement<R>(statement: Statement<R>, parameters: unknown[]): Promise<QueryResult<R>> {
    return this.#run((db) => statement.run(db, parameters), false);
  }

  /** Runs `work` all or none: on SQLite in the next group commit, on PostgreSQL alone. */
  #atomic<T>(work: (db: Kysely<any>) => Promise<T>): Promise<T> {
    return this.#run(work, true);
  }

  /**
   * Group commit (SQLite): operations that arrive while the connection is busy wait, and
   * the next batch runs all of them (up to {@linkcode MAX_BATCH}) in one `begin immediate
   * … commit`; one that fails is undone and rejected alone (see {@linkcode runBatch}).
   * Each caller's promise settles only after the commit: what it wrote is
   * stored when it resumes. A batch of one runs as today (autocommit, or its own
   * transaction when `atomic`). PostgreSQL runs every operation on its own.
   */
  #run<T>(work: (db: Kysely<any>) => Promise<T>, atomic: boolean, read = false): Promise<T> {
    if (this.#dialect === "postgres") {
      return atomic ? this.#transaction(work) : work(this.#db);
    }
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({
        work,
        atomic,
        read,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      if (!this.#draining) {
        this.#draining = true;
        void this.#drain();
      }
    });
  }

  /** Runs batches until no operation waits. Never rejects: each operation settles. */
  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        let taken = false;
        try {
          await this.#db.connection().execute(async (db) => {
            // Taken once the connection is ours: whatever arrived meanwhile joins.
            const batch = this.#pending.splice(0, MAX_BATCH);
            taken = true;
            const database = ownDatabases.get(this)?.();
            if (database) bindRawDatabase(db, database);
            await runBatch(db, batch);
          });
        } catch (error) {
          // No connection (e.g. the file cannot be opened): fail the operations waiting.
          if (!taken) { for (const operation of this.#pending.splice(0)) operation.reject(error); }
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Wakes local waiters and, on PostgreSQL, every listening process. */
  async #messagesAdded(): Promise<void> {
    this.#waiters.wakeAll();
    if (this.#dialect === "postgres") {
      // The message is stored already: a lost notification only lets a waiter time out,
      // whereas failing here would make the caller enqueue it twice.
      await sql`select pg_notify(${this.#channel()}, '')`.execute(this.#db).catch(() => {});
    }
  }

  async #hasWaiting(): Promise<boolean> {
    const { queue } = await this.#tables();
    const { rows } = await this.#exec(sql`select 1 as found from ${queue}
      where lease_id is null limit 1`);
    return rows.length > 0;
  }

  /** Watches for other processes' writes: the SQLite files, or a PostgreSQL channel. */
  async #watchOutside(onChange: () => void): Promise<(() => void) | undefined> {
    if (this.#closed) return undefined; // a closed storage opens no new connection or watch
    if (this.#dialect === "postgres") {
      if (this.#listenPool === undefined) return undefined;
      this.#listener ??= new PgListener(this.#listenPool, this.#channel());
      return this.#listener.watch(onChange);
    }
    // In WAL mode every commit writes the -wal file and checkpoints write the main file.
    this.#databaseFile ??= sql<{ file: string }>`
      select file from pragma_database_list where name = 'main'`.execute(this.#db)
      .then(({ rows }) => rows[0]?.file ?? "", () => "");
    const file = await this.#databaseFile;
    return file === "" ? undefined : watchFiles([`${file}-wal`, file], onChange);
  }

  #channel(): string {
    return `${tablesFor(this.#name).prefix}_queue`;
  }

  async #count(query: RawBuilder<unknown>): Promise<number> {
    const { rows } = await this.#exec(query as RawBuilder<{ n: number | string }>);
    return Number(rows[0].n); // PostgreSQL's count(*) is a BIGINT, given as a string
  }

  #now(): number {
    return ms(this.#clock());
  }

  #expiry(ttl: number | undefined): number | null {
    if (ttl === undefined) return null;
    requireTtl(ttl);
    return ms(this.#clock() + ttl * 1000);
  }

  /** Rows of `_kv` that have not expired. */
  #live(): RawBuilder<unknown> {
    return sql`(expires_at is null or expires_at > ${this.#now()})`;
  }

  /** Expired keys and counters read as absent; this deletes them, at most once a minute. */
  async #sweepExpired(): Promise<void> {
    const now = this.#now();
    if (now < this.#nextSweep) return;
    this.#nextSweep = now + 60_000;
    const { kv, counters } = await this.#tables();
    for (const table of [kv, counters]) {
      await this.#exec(sql`delete from ${table} where expires_at <= ${now}`);
    }
  }
}

/** Rows per INSERT in enqueueMany: 3 parameters each, well under SQLite's 32,766. */
const BATCH_ROWS = 1000;

/** Watch keys as the `watch` column holds them: a JSON array, or NULL for none. */
function encodeWatch(watch: string[] | undefined): string | null {
  return watch === undefined || watch.length === 0 ? null : JSON.stringify(watch);
}

/** A leased row as the contract returns it; `watched` only for a row with watch keys. */
function leasedMessage(row: LeasedRow): LeasedMessage {
  const message: LeasedMessage = {
    data: row.data,
    lease: row.lease_id,
    expiredLeases: Number(row.expired_leases),
  };
  if (row.watched !== null) {
    // SQLite gives the JSON text; PostgreSQL's driver parses its json type already.
    const pairs = typeof row.watched === "string" ? JSON.parse(row.watched) : row.watched;
    message.watched = new Map(
      (pairs as [string, string | null][]).map(([key, value]) => [key, value ?? undefined]),
    );
  }
  return message;
}

/** How often `waitForData` rechecks when nothing wakes it, in ms. */
const DATA_BACKOFF: Backoff = { first: 5, factor: 1.5, max: 200 };
/** The same with a file watch that reports other processes' writes: only a safety net. */
const WATCHED_DATA_BACKOFF: Backoff = { first: 50, factor: 1.5, max: 1000 };

/** The dialect of Kysely's own adapters (and subclasses, such as PGlite's). */
function detectDialect(db: Kysely<any>): SqlDialect {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof PostgresAdapter) return "postgres";
  if (adapter instanceof SqliteAdapter) return "sqlite";
  throw new TypeError(
    `Cannot tell the SQL dialect of adapter "${adapter.constructor.name}"; ` +
      `pass dialect: "sqlite" or "postgres"`,
  );
}

/** Epoch ms as the BIGINT columns hold them (PostgreSQL refuses a fraction there). */
function ms(time: number): number {
  return Math.round(time);
}

function affected(result: QueryResult<unknown>): number {
  return Number(result.numAffectedRows ?? 0n);
}

function limitClause(limit: number | undefined): RawBuilder<unknown> {
  if (limit === undefined) return sql``;
  requireFinite("limit", limit, 0);
  return sql`limit ${Math.floor(limit)}`;
}

/** The tables, and the hot-path statements compiled for them. */
interface Ready extends Tables {
  statements: Statements;
}

/** The SQLite handles of storages that opened their database themselves. */
const ownDatabases = new WeakMap<SqlStorage, () => SqliteDatabase | undefined>();

/**
 * Tells `storage` the SQLite database under its Kysely, which it opened itself
 * (`SqliteStorage`): statements in a group commit then run on that handle directly.
 * Without it they go through Kysely, as they must for a caller's own Kysely.
 */
export function useOwnDatabase(
  storage: SqlStorage,
  database: () => SqliteDatabase | undefined,
): void {
  ownDatabases.set(storage, database);
}

/** An operation waiting for the next SQLite group commit. */
interface Operation {
  work: (db: Kysely<any>) => Promise<unknown>;
  /** Several statements that must commit together (alone, they get a transaction). */
  atomic: boolean;
  /** A single read: a batch of reads only runs without a transaction. */
  read: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Operations per group commit at most, so one transaction stays short. */
const MAX_BATCH = 64;

const BEGIN = CompiledQuery.raw("begin immediate");
const COMMIT = CompiledQuery.raw("commit");
const ROLLBACK = CompiledQuery.raw("rollback");
const SAVEPOINT = CompiledQuery.raw("savepoint dewey_op");
const RELEASE = CompiledQuery.raw("release dewey_op");
const ROLLBACK_TO = CompiledQuery.raw("rollback to dewey_op");

/**
 * Runs `batch` on the connection `db` and settles each operation (never throws). One
 * operation runs as it would alone, and so do reads when the batch holds nothing else
 * (they need no write lock); otherwise the operations share a transaction. A single statement that
 * fails leaves SQLite's transaction open with its own changes undone, so no savepoint is
 * needed for it (an `atomic` operation gets one). When an operation fails, what ran before
 * it is committed at once (and settled), then the rest goes on in a new transaction: were
 * the transaction rolled back by SQLite (e.g. a full disk), that commit fails, and only
 * the operations it held fail with it.
 */
async function runBatch(db: Kysely<any>, batch: Operation[]): Promise<void> {
  if (batch.length === 1 || batch.every((operation) => operation.read)) {
    // One operation runs as it would alone; reads need no write lock, so reads together
    // run one after the other, each on its own snapshot, as they would alone.
    for (const operation of batch) {
      try {
        operation.resolve(
          operation.atomic ? await inTransaction(db, operation.work) : await operation.work(db),
        );
      } catch (error) {
        operation.reject(error);
      }
    }
    return;
  }
  let held: { operation: Operation; value: unknown }[] = [];
  let open = false;
  /** Commits what ran so far and settles it; on failure rolls back and rejects it. */
  const commit = async (): Promise<void> => {
    const settled = held;
    held = [];
    open = false;
    try {
      await runCompiled(db, COMMIT.sql, []);
    } catch (error) {
      await runCompiled(db, ROLLBACK.sql, []).catch(() => {});
      for (const { operation } of settled) operation.reject(error);
      return;
    }
    for (const { operation, value } of settled) operation.resolve(value);
  };
  for (const operation of batch) {
    if (!open) {
      try {
        await runCompiled(db, BEGIN.sql, []);
        open = true;
      } catch (error) {
        operation.reject(error);
        continue;
      }
    }
    try {
      if (operation.atomic) {
        await runCompiled(db, SAVEPOINT.sql, []);
        try {
          held.push({ operation, value: await operation.work(db) });
          await runCompiled(db, RELEASE.sql, []);
        } catch (error) {
          await runCompiled(db, ROLLBACK_TO.sql, []).catch(() => {});
          await runCompiled(db, RELEASE.sql, []).catch(() => {});
          throw error;
        }
      } else {
        held.push({ operation, value: await operation.work(db) });
      }
    } catch (error) {
      await commit();
      operation.reject(error);
    }
  }
  if (open) await commit();
}

/** `work` in a `begin immediate` transaction on the connection `db`. */
async function inTransaction<T>(
  db: Kysely<any>,
  work: (db: Kysely<any>) => Promise<T>,
): Promise<T> {
  await runCompiled(db, BEGIN.sql, []);
  try {
    const result = await work(db);
    await runCompiled(db, COMMIT.sql, []);
    return result;
  } catch (error) {
    // SQLite may have rolled back already (e.g. on a full disk); keep the first error.
    await runCompiled(db, ROLLBACK.sql, []).catch(() => {});
    throw error;
  }
}
