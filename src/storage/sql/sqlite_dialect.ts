/**
 * A Kysely instance on an SQLite file with the runtime's own SQLite module, set up for a
 * queue that several processes share: WAL, a busy timeout, and transactions that begin
 * with `begin immediate`.
 *
 * @module
 */

// deno-lint-ignore-file no-explicit-any -- Kysely<any>: the storage builds raw SQL
import {
  type AbortableOperationOptions,
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  type SqliteDatabase,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
} from "kysely";
import { openRuntimeSqlite } from "../../runtime/sqlite.ts";
import { lockKey } from "./process_lock.ts";

/** How to open the database; see `SqliteStorageOptions`. */
export interface SqliteSettings {
  path: string;
  synchronous: "normal" | "full";
  /** Seconds. */
  busyTimeout: number;
}

/** A Kysely instance that opens the database on its first query, and that database. */
export interface OpenedSqlite {
  db: Kysely<any>;
  /** The database handle, once the first query opened it. */
  database(): SqliteDatabase | undefined;
}

/** A Kysely instance that opens the database on its first query. */
export function openSqliteKysely(
  { path, synchronous, busyTimeout }: SqliteSettings,
): OpenedSqlite {
  let opened: SqliteDatabase | undefined;
  const db = new Kysely<any>({
    dialect: new DeweySqliteDialect(path, {
      database: async () => (opened = await openRuntimeSqlite(path)),
      async onCreateConnection(connection) {
        const pragma = (text: string) =>
          connection.executeQuery(CompiledQuery.raw(`pragma ${text}`));
        // First, so that the statements below wait for other connections' locks too (with
        // it, processes opening a new file at once switch it to WAL without an error).
        await pragma(`busy_timeout = ${Math.round(busyTimeout * 1000)}`);
        // Switching a new file to WAL can still fail with "database is locked" when two
        // processes open it at once (seen under Bun): the busy handler does not cover it.
        await retryWhileBusy(() => pragma("journal_mode = wal"), busyTimeout);
        await pragma(`synchronous = ${synchronous}`);
        // A queue rewrites the same few pages (queue leaf, index leaves) in every commit;
        // checkpointing every 10,000 WAL pages instead of SQLite's 1,000 copies each hot
        // page to the database file ten times less often (measured: drain +11 % with one
        // worker, +28 % with four). The WAL file then stays at up to ~40 MB.
        await pragma("wal_autocheckpoint = 10000");
      },
    }),
  });
  return { db, database: () => opened };
}

/** Whether `error` is SQLite's "database is locked" (messages differ per runtime). */
function isBusy(error: unknown): boolean {
  return error instanceof Error &&
    ((error as { code?: string }).code === "SQLITE_BUSY" ||
      /database is locked/.test(error.message));
}

/** Runs `operation`, retrying with a short backoff while SQLite is busy, up to `seconds`. */
async function retryWhileBusy<T>(operation: () => Promise<T>, seconds: number): Promise<T> {
  const deadline = performance.now() + seconds * 1000;
  for (let delay = 5;; delay = Math.min(delay * 2, 200)) {
    try {
      return await operation();
    } catch (error) {
      if (!isBusy(error) || performance.now() + delay > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** Kysely's SQLite dialect with {@linkcode DeweySqliteDriver}. */
class DeweySqliteDialect extends SqliteDialect {
  readonly #path: string;
  readonly #config: SqliteDialectConfig;

  constructor(path: string, config: SqliteDialectConfig) {
    super(config);
    this.#path = path;
    this.#config = config;
  }

  override createDriver(): Driver {
    return new DeweySqliteDriver(this.#path, this.#config);
  }
}

/**
 * Kysely's SQLite driver with two changes. `db.transaction()` sends `begin immediate`: a
 * plain `begin` takes the write lock only at the first write, and SQLite fails that
 * upgrade with "database is locked", without waiting, when another connection wrote
 * meanwhile. And each use of the connection holds a process-wide lock on the file, so
 * several storages on one file in one process take turns instead of deadlocking.
 */
class DeweySqliteDriver extends SqliteDriver {
  readonly #path: string;
  #key?: string;
  #unlock?: () => void;

  constructor(path: string, config: SqliteDialectConfig) {
    super(config);
    this.#path = path;
  }

  override async init(options?: AbortableOperationOptions): Promise<void> {
    // A private in-memory database needs no lock; a file is known by its absolute path.
    if (this.#path !== "" && this.#path !== ":memory:") {
      const { resolve } = await import("node:path");
      this.#key = `sqlite:${resolve(this.#path)}`;
    }
    // Opening runs the pragmas, which must not wait on this process's other connections.
    const unlock = this.#key === undefined ? undefined : await lockKey(this.#key);
    try {
      await super.init(options);
    } finally {
      unlock?.();
    }
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    // Kysely hands out this driver's one connection to one user at a time, so one field
    // is enough to remember the lock.
    if (this.#key !== undefined) this.#unlock = await lockKey(this.#key);
    return super.acquireConnection();
  }

  override async releaseConnection(): Promise<void> {
    this.#unlock?.();
    this.#unlock = undefined;
    await super.releaseConnection();
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }
}
