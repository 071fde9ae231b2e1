/**
 * The storage's hot-path statements, compiled once per storage and table names: each call
 * binds fresh parameters to the same SQL text instead of building and compiling a `sql`
 * template again. The constant text also keeps hitting the SQLite drivers' statement cache.
 *
 * @module
 */

// deno-lint-ignore-file no-explicit-any -- Kysely<any>: the storage works on any schema type
import {
  CompiledQuery,
  type Kysely,
  type QueryResult,
  type RawBuilder,
  sql,
  type SqliteDatabase,
} from "kysely";
import type { SqlDialect } from "./sql_storage.ts";
import type { Tables } from "./tables.ts";

/**
 * The SQLite database under a connection-bound Kysely, for connections the storage holds
 * (inside a group commit). Statements on such a connection call the driver's prepared
 * statement directly: the same handle Kysely would use, without its per-query layers of
 * promises, plugins and result freezing, which cost more than SQLite itself here.
 */
const rawDatabases = new WeakMap<object, SqliteDatabase>();

/** Marks `db` (a Kysely bound to one connection we hold) as backed by `database`. */
export function bindRawDatabase(db: Kysely<any>, database: SqliteDatabase): void {
  rawDatabases.set(db, database);
}

/** Runs compiled SQL on `db`: directly on its SQLite handle when it has one. */
export function runCompiled<R>(
  db: Kysely<any>,
  text: string,
  parameters: readonly unknown[],
): Promise<QueryResult<R>> {
  const database = rawDatabases.get(db);
  if (database === undefined) return db.executeQuery<R>(CompiledQuery.raw(text, [...parameters]));
  try {
    const statement = database.prepare(text);
    if (statement.reader) {
      return Promise.resolve({ rows: statement.all(parameters) as R[] });
    }
    const { changes } = statement.run(parameters);
    return Promise.resolve({ rows: [], numAffectedRows: BigInt(changes) });
  } catch (error) {
    return Promise.reject(error);
  }
}

/** One statement's SQL text, run with the parameters given in template order. */
export class Statement<R = unknown> {
  /** The SQL text, with the dialect's placeholders. */
  readonly sql: string;
  /** How many parameters the statement takes. */
  readonly arity: number;

  /**
   * Compiles `build(p)` for `db`. `build` must pass `p(0)`, `p(1)`, … as the template's
   * values, in the order they appear; any other value there throws.
   */
  constructor(db: Kysely<any>, build: (p: (index: number) => unknown) => RawBuilder<R>) {
    const markers: string[] = [];
    const p = (index: number): string => (markers[index] ??= `\u0000dewey:${index}`);
    const compiled = build(p).compile(db);
    const same = compiled.parameters.length === markers.length &&
      compiled.parameters.every((value, index) => value === markers[index]);
    if (!same) throw new Error(`Statement parameters out of order: ${compiled.sql}`);
    this.sql = compiled.sql;
    this.arity = markers.length;
  }

  /** Runs the statement on `db` (a connection or the pool) with `parameters`. */
  run(db: Kysely<any>, parameters: unknown[]): Promise<QueryResult<R>> {
    return runCompiled<R>(db, this.sql, parameters);
  }
}

/** A row `dequeue` leased. */
export interface LeasedRow {
  id: number | string;
  priority: number;
  lease_id: string;
  data: string;
  expired_leases: number;
  /**
   * The live values of the row's watch keys, read by the leasing statement itself: a JSON
   * array of `[key, value or null]` pairs (SQLite gives its text, PostgreSQL parsed
   * JSON), or `null` when the row has no watch keys.
   */
  watched: string | [string, string | null][] | null;
}

/** Most distinct sizes `extend` and `enqueueMany` each keep a statement for. */
const KEPT_SIZES = 32;

/** The statements of one storage: one set per table names and dialect. */
export class Statements {
  /** `(priority, data, watch)`, `watch` a JSON array of keys or `null`. */
  readonly enqueue: Statement;
  /**
   * `(lease prefix, leased_until, count, now)`; returns the leased rows, in no set order,
   * with their watch keys' values live at `now`. Each lease id is the prefix, a colon and
   * the row id.
   */
  readonly dequeue: Statement<LeasedRow>;
  /** `dequeue` for one row, `(lease prefix, leased_until, now)`: SQLite runs `id = (…)`
   * several times faster than `id in (…)`, which builds a temporary table. */
  readonly dequeueOne: Statement<LeasedRow>;
  /** `(lease)`. */
  readonly ack: Statement;
  /** `(key)`: deletes whether or not the entry has expired. */
  readonly deleteKey: Statement;
  /** `(key, now)`; returns `value`. */
  readonly peekData: Statement<{ value: string }>;
  /** `(key, now)`; returns `found`. */
  readonly hasData: Statement;
  /** `(key, value, expires_at)`. */
  readonly putData: Statement;
  /** `(key, now)`. */
  readonly deleteData: Statement;
  /** `(key, now, expected)`. */
  readonly deleteDataIf: Statement;
  /** `(key)`; returns `value, expires_at`. */
  readonly popData: Statement<{ value: string; expires_at: number | string | null }>;
  readonly #extend = new Map<number, Statement<{ lease_id: string }>>();
  readonly #enqueueMany = new Map<number, Statement>();
  readonly #db: Kysely<any>;
  readonly #queue: RawBuilder<unknown>;

  constructor(db: Kysely<any>, tables: Tables, dialect: SqlDialect) {
    const { queue, kv } = tables;
    this.#db = db;
    this.#queue = queue;
    // PostgreSQL: concurrent dequeuers skip rows another one is leasing.
    const skipLocked = sql.raw(dialect === "postgres" ? " for update skip locked" : "");
    const live = (now: unknown) => sql`(expires_at is null or expires_at > ${now})`;
    this.enqueue = new Statement(db, (p) =>
      sql`
      insert into ${queue} (priority, data, watch) values (${p(0)}, ${p(1)}, ${p(2)})`);
    // One statement, so the pick, the lease and the read of the watch keys are atomic.
    const idText = sql.raw(dialect === "postgres" ? "id::text" : "id");
    this.dequeue = new Statement(db, (p) =>
      sql<LeasedRow>`
      update ${queue} set lease_id = ${p(0)} || ':' || ${idText}, leased_until = ${p(1)}
      where id in (select id from ${queue} where lease_id is null
        order by priority desc, id limit ${p(2)}${skipLocked})
      returning id, priority, lease_id, data, expired_leases,
        ${watchedValues(kv, dialect, p(3))} as watched`);
    this.dequeueOne = new Statement(db, (p) =>
      sql<LeasedRow>`
      update ${queue} set lease_id = ${p(0)} || ':' || ${idText}, leased_until = ${p(1)}
      where id = (select id from ${queue} where lease_id is null
        order by priority desc, id limit 1${skipLocked})
      returning id, priority, lease_id, data, expired_leases,
        ${watchedValues(kv, dialect, p(2))} as watched`);
    this.ack = new Statement(db, (p) => sql`delete from ${queue} where lease_id = ${p(0)}`);
    this.deleteKey = new Statement(db, (p) => sql`delete from ${kv} where key = ${p(0)}`);
    this.peekData = new Statement(db, (p) =>
      sql<{ value: string }>`
      select value from ${kv} where key = ${p(0)} and ${live(p(1))}`);
    this.hasData = new Statement(db, (p) =>
      sql`
      select 1 as found from ${kv} where key = ${p(0)} and ${live(p(1))}`);
    this.putData = new Statement(db, (p) =>
      sql`
      insert into ${kv} (key, value, expires_at) values (${p(0)}, ${p(1)}, ${p(2)})
      on conflict (key) do update set value = excluded.value, expires_at = excluded.expires_at`);
    this.deleteData = new Statement(db, (p) =>
      sql`
      delete from ${kv} where key = ${p(0)} and ${live(p(1))}`);
    this.deleteDataIf = new Statement(db, (p) =>
      sql`
      delete from ${kv} where key = ${p(0)} and ${live(p(1))} and value = ${p(2)}`);
    this.popData = new Statement(db, (p) =>
      sql<{
        value: string;
        expires_at: number | string | null;
      }>`delete from ${kv} where key = ${p(0)} returning value, expires_at`);
  }

  /** `(leased_until, ...leases)` for `count` leases; returns `lease_id`. */
  extend(count: number): Statement<{ lease_id: string }> {
    const queue = this.#queue;
    return sized(this.#extend, count, () =>
      new Statement(this.#db, (p) => {
        const leases = Array.from({ length: count }, (_, index) => p(index + 1));
        return sql<{ lease_id: string }>`update ${queue} set leased_until = ${p(0)}
          where lease_id in (${sql.join(leases)}) returning lease_id`;
      }));
  }

  /**
   * `enqueue` for `count` rows in one statement, `(priority, data, watch, priority, …)`.
   * Kept compiled: building and compiling a template of thousands of parameters on every
   * bulk enqueue costs more than SQLite's insert.
   */
  enqueueMany(count: number): Statement {
    const queue = this.#queue;
    return sized(this.#enqueueMany, count, () =>
      new Statement(this.#db, (p) => {
        const rows = Array.from(
          { length: count },
          (_, row) => sql`(${p(3 * row)}, ${p(3 * row + 1)}, ${p(3 * row + 2)})`,
        );
        return sql`insert into ${queue} (priority, data, watch) values ${sql.join(rows)}`;
      }));
  }
}

/** The statement kept in `kept` for `count`, made by `make` when missing. */
function sized<S>(kept: Map<number, S>, count: number, make: () => S): S {
  let statement = kept.get(count);
  if (statement === undefined) {
    if (kept.size >= KEPT_SIZES) kept.clear();
    statement = make();
    kept.set(count, statement);
  }
  return statement;
}

/**
 * The `watched` column a dequeue returns: a correlated subquery over the leased row's
 * `watch` (a JSON array of keys) that pairs each key with its value live at `now`, NULL
 * when absent or expired, as `peekData` reads it. Part of the leasing statement, so the
 * values are read in the same atomic step as the lease, at no extra round trip. A row
 * without watch keys skips the subquery.
 */
function watchedValues(
  kv: RawBuilder<unknown>,
  dialect: SqlDialect,
  now: unknown,
): RawBuilder<unknown> {
  const live = sql`(v.expires_at is null or v.expires_at > ${now})`;
  const pairs = dialect === "postgres"
    ? sql`select json_agg(json_build_array(w.key, v.value) order by w.n)
        from json_array_elements_text(watch::json) with ordinality as w (key, n)
        left join ${kv} as v on v.key = w.key and ${live}`
    : sql`select json_group_array(json_array(w.value, v.value))
        from json_each(watch) as w left join ${kv} as v on v.key = w.value and ${live}`;
  return sql`case when watch is null then null else (${pairs}) end`;
}
