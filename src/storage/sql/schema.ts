/**
 * The tables of one instance and their migrations. `<prefix>_meta` holds the schema
 * version, so a later Dewey upgrades an existing database step by step instead of
 * failing on it, and an older Dewey refuses a database it does not understand.
 *
 * @module
 */

// deno-lint-ignore-file no-explicit-any
import { type Kysely, type RawBuilder, sql } from "kysely";
import type { SqlDialect } from "./sql_storage.ts";
import type { Tables } from "./tables.ts";

/** One step: the statements that take the schema from version `index` to `index + 1`. */
type Migration = (tables: Tables, dialect: SqlDialect) => RawBuilder<unknown>[];

const MIGRATIONS: Migration[] = [createTables, countExpiredLeases, addWatchKeys];

/** The version this code writes and reads. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/**
 * Creates or upgrades the tables. Idempotent; run it inside a write transaction so two
 * processes starting on one database do not migrate at the same time.
 */
export async function ensureSchema(
  db: Kysely<any>,
  tables: Tables,
  dialect: SqlDialect,
): Promise<void> {
  if (dialect === "postgres") {
    // Concurrent `create table if not exists` can still collide in PostgreSQL's catalog.
    await sql`select pg_advisory_xact_lock(hashtext(${tables.prefix}))`.execute(db);
  }
  await sql`create table if not exists ${tables.meta} (
    key text primary key, value text not null)`.execute(db);
  const { rows } = await sql<{ value: string }>`
    select value from ${tables.meta} where key = 'schema_version'`.execute(db);
  const found = rows.length > 0 ? Number(rows[0].value) : 0;
  if (found > SCHEMA_VERSION) {
    throw new Error(
      `Cannot use tables "${tables.prefix}_*": their schema version ${found} is newer than ` +
        `this Dewey's (${SCHEMA_VERSION}); upgrade Dewey`,
    );
  }
  for (const migration of MIGRATIONS.slice(found)) {
    for (const statement of migration(tables, dialect)) await statement.execute(db);
  }
  await sql`insert into ${tables.meta} (key, value) values ('schema_version', ${
    String(SCHEMA_VERSION)
  }) on conflict (key) do update set value = excluded.value`.execute(db);
}

/** Version 1. `if not exists` everywhere, so half-created tables are completed. */
function createTables(tables: Tables, dialect: SqlDialect): RawBuilder<unknown>[] {
  const { prefix, queue, schedule, kv, counters, dead } = tables;
  const postgres = dialect === "postgres";
  // AUTOINCREMENT: SQLite must not reuse the id of a deleted last row, or FIFO breaks.
  const serial = sql.raw(postgres ? "bigserial primary key" : "integer primary key autoincrement");
  const float = sql.raw(postgres ? "double precision" : "real");
  const index = (suffix: string) => sql.id(`${prefix}_${suffix}`);
  return [
    sql`create table if not exists ${queue} (id ${serial}, priority ${float} not null,
      data text not null, lease_id text, leased_until bigint)`,
    // dequeue walks this one; it holds waiting messages only.
    sql`create index if not exists ${index("queue_ready")}
      on ${queue} (priority desc, id) where lease_id is null`,
    // ack, extend, release and requeueExpired look among leased messages only.
    sql`create index if not exists ${index("queue_leased")}
      on ${queue} (lease_id) where lease_id is not null`,
    sql`create table if not exists ${schedule} (id ${serial}, eta bigint not null,
      data text not null)`,
    sql`create index if not exists ${index("schedule_eta")} on ${schedule} (eta, id)`,
    sql`create table if not exists ${kv} (key text primary key, value text not null,
      expires_at bigint)`,
    sql`create table if not exists ${counters} (key text primary key, value bigint not null,
      expires_at bigint)`,
    // seq orders entries with equal `at` by insertion; id is the public handle.
    sql`create table if not exists ${dead} (seq ${serial}, id text not null unique,
      reason text not null, at bigint not null, data text not null)`,
  ];
}

/**
 * Version 2: how many leases of each message expired (a crash counter for dead letters);
 * on SQLite, the key/value and counter tables keyed by their text key alone (`without
 * rowid`), so a write touches one b-tree instead of the table and its key index.
 */
function countExpiredLeases(tables: Tables, dialect: SqlDialect): RawBuilder<unknown>[] {
  const steps = [
    sql`alter table ${tables.queue} add column expired_leases integer not null default 0`,
  ];
  if (dialect === "postgres") return steps;
  for (
    const [table, name, type] of [[tables.kv, "kv", "text"], [
      tables.counters,
      "counters",
      "bigint",
    ]] as const
  ) {
    const rebuilt = sql.table(`${tables.prefix}_${name}_v2`);
    steps.push(
      sql`create table ${rebuilt} (key text primary key, value ${sql.raw(type)} not null,
        expires_at bigint) without rowid`,
      sql`insert into ${rebuilt} (key, value, expires_at) select key, value, expires_at
        from ${table}`,
      sql`drop table ${table}`,
      sql`alter table ${rebuilt} rename to ${sql.id(`${tables.prefix}_${name}`)}`,
    );
  }
  return steps;
}

/**
 * Version 3: each message's watch keys, as a JSON array of text (NULL for none), so a
 * dequeue reads their values with the lease. Rows enqueued before it have none.
 */
function addWatchKeys(tables: Tables): RawBuilder<unknown>[] {
  return [sql`alter table ${tables.queue} add column watch text`];
}
