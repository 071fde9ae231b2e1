/**
 * The runtime's own SQLite module, chosen when a database is first opened: `bun:sqlite` on
 * Bun, `node:sqlite` on Deno and Node ≥ 22.5, each adapted to Kysely's `SqliteDatabase`.
 * Neither module is imported before then, so nothing runtime-specific loads with the
 * storage.
 *
 * @module
 */

import type { SqliteDatabase } from "kysely";

/** Opens `path` with the runtime's SQLite module. */
export function openRuntimeSqlite(path: string): Promise<SqliteDatabase> {
  return "Bun" in globalThis
    ? import("./sqlite_bun.ts").then(({ openBunSqlite }) => openBunSqlite(path))
    : import("./sqlite_node.ts").then(({ openNodeSqlite }) => openNodeSqlite(path));
}
