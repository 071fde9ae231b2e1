/**
 * SQL storages for Dewey: {@linkcode SqliteStorage} on an SQLite file it opens with the
 * runtime's own SQLite module (`node:sqlite` in Deno and Node ≥ 22.5, `bun:sqlite` in
 * Bun; loaded only when a database is opened), and {@linkcode SqlStorage} over any Kysely
 * instance, SQLite or PostgreSQL.
 *
 * @example A queue in an SQLite file
 * ```ts
 * import { SqliteStorage } from "@dewey/dewey/sqlite";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const dir = mkdtempSync(join(tmpdir(), "dewey-"));
 * const storage = new SqliteStorage({ path: join(dir, "dewey.db") });
 * storage.bind("demo");
 * await storage.enqueue("hello", 0);
 * console.log(await storage.queueSize()); // 1
 * await storage.close();
 * rmSync(dir, { recursive: true });
 * ```
 *
 * @module
 */

export {
  type KyselyDatabase,
  type SqlDialect,
  SqlStorage,
  type SqlStorageOptions,
} from "./src/storage/sql/sql_storage.ts";
export type { ListenClient, ListenPool } from "./src/storage/sql/pg_listen.ts";
export { SqliteStorage, type SqliteStorageOptions } from "./src/storage/sql/sqlite_storage.ts";
