/**
 * Opens an SQLite database with `bun:sqlite` in the shape Kysely's `SqliteDialect`
 * expects. Imported only under Bun.
 *
 * @module
 */

import type { SqliteDatabase } from "kysely";

/** The part of `bun:sqlite` used here (its types are not installed for Deno's checker). */
interface BunDatabase {
  close(): void;
  /** Prepares `sql`, reusing a cached statement for SQL seen before. */
  query(sql: string): BunStatement;
}

interface BunStatement {
  readonly columnNames: string[];
  all(...parameters: unknown[]): unknown[];
  run(...parameters: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  iterate(...parameters: unknown[]): IterableIterator<unknown>;
}

/** `path` opened with `bun:sqlite`, adapted to Kysely's `SqliteDatabase`. */
export async function openBunSqlite(path: string): Promise<SqliteDatabase> {
  const { Database } = await import("bun:sqlite") as {
    Database: new (path: string, options: { create: boolean }) => BunDatabase;
  };
  const db = new Database(path, { create: true });
  // `columnNames` is worked out on every read: remember whether each statement is a reader.
  const readers = new Map<string, boolean>();
  return {
    close: () => db.close(),
    prepare(sql) {
      const statement = db.query(sql);
      let reader = readers.get(sql);
      if (reader === undefined) {
        if (readers.size >= 100) readers.clear();
        reader = statement.columnNames.length > 0;
        readers.set(sql, reader);
      }
      return {
        reader,
        all: (parameters) => statement.all(...parameters),
        run: (parameters) => statement.run(...parameters),
        iterate: (parameters) => statement.iterate(...parameters),
      };
    },
  };
}
