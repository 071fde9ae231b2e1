/**
 * `SqliteStorage`: the SQL storage on an SQLite file it opens itself, with the runtime's
 * own SQLite module (`node:sqlite` in Deno and Node ≥ 22.5, `bun:sqlite` in Bun).
 *
 * @module
 */

import { openSqliteKysely } from "./sqlite_dialect.ts";
import { SqlStorage, useOwnDatabase } from "./sql_storage.ts";

/**
 * Options for {@linkcode SqliteStorage}.
 *
 * @example
 * ```ts
 * import { SqliteStorage, type SqliteStorageOptions } from "@dewey/dewey/sqlite";
 *
 * const options: SqliteStorageOptions = { path: ":memory:", synchronous: "full" };
 * const storage = new SqliteStorage(options);
 * await storage.close();
 * ```
 */
export interface SqliteStorageOptions {
  /**
   * The database file, created when missing. Every process that opens the same file
   * shares the queue. `":memory:"` gives a private database that lives as long as the
   * storage.
   */
  path: string;
  /**
   * `"normal"`: with WAL, a power loss may lose the last commits but never corrupts the
   * file. `"full"`: every commit is synced to disk, slower.
   *
   * @default {"normal"}
   */
  synchronous?: "normal" | "full";
  /**
   * Seconds a statement waits for another connection's write lock before failing with
   * "database is locked".
   *
   * @default {5}
   */
  busyTimeout?: number;
}

/**
 * The storage contract on an SQLite file, shared safely by any number of processes (and
 * storages in one process): WAL journal, a busy timeout, `begin immediate` transactions
 * and single-statement dequeues. Each storage has its own connection, opened on first use
 * and closed by {@linkcode SqliteStorage.close}.
 *
 * `waitForMessage` wakes at once for this object's enqueues and, through a watch on the
 * database files, for other processes' writes, so consumers do not poll.
 *
 * @example
 * ```ts
 * import { SqliteStorage } from "@dewey/dewey/sqlite";
 *
 * const storage = new SqliteStorage({ path: ":memory:" }); // or a file: "dewey.db"
 * storage.bind("demo");
 * await storage.enqueue("message", 0);
 * const leased = await storage.dequeue(30);
 * console.log(leased?.data); // "message"
 * if (leased) await storage.ack(leased.lease);
 * await storage.close();
 * ```
 */
export class SqliteStorage extends SqlStorage {
  /** Prepares the database; the file is opened on the first call. */
  constructor(options: SqliteStorageOptions) {
    const { path, synchronous = "normal", busyTimeout = 5 } = options;
    if (synchronous !== "normal" && synchronous !== "full") {
      throw new TypeError(`synchronous must be "normal" or "full", got "${synchronous}"`);
    }
    if (!(busyTimeout >= 0 && busyTimeout < Infinity)) {
      throw new RangeError(`busyTimeout must be a finite number of seconds, got ${busyTimeout}`);
    }
    const opened = openSqliteKysely({ path, synchronous, busyTimeout });
    super({ db: opened.db, dialect: "sqlite" });
    // Opened here, so hot statements may skip Kysely's layers.
    useOwnDatabase(this, opened.database);
  }

  /** Ends pending waits and closes the database. */
  override async close(): Promise<void> {
    await super.close();
    await this.db.destroy();
  }
}
