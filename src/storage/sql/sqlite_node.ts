/**
 * Opens an SQLite database with `node:sqlite` (Deno, Node ≥ 22.5) in the shape Kysely's
 * `SqliteDialect` expects. Imported only when used, so other runtimes never load it.
 *
 * @module
 */

import type { SqliteDatabase } from "kysely";
import type { SQLInputValue, StatementSync } from "node:sqlite";

/** Statements kept prepared; Dewey's SQL is a small fixed set, so this rarely fills. */
const CACHE_SIZE = 100;

/** `path` opened with `node:sqlite`, adapted to Kysely's `SqliteDatabase`. */
export async function openNodeSqlite(path: string): Promise<SqliteDatabase> {
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(path);
  const cache = new Map<string, StatementSync>();
  const prepare = (sql: string): StatementSync => {
    let statement = cache.get(sql);
    if (statement === undefined) {
      if (cache.size >= CACHE_SIZE) cache.clear();
      statement = db.prepare(sql);
      cache.set(sql, statement);
    }
    return statement;
  };
  return {
    close: () => db.close(),
    prepare(sql) {
      const statement = prepare(sql);
      // node:sqlite takes parameters spread (an array would read as named parameters)
      // and has no `reader` flag: a statement that yields columns is a reader.
      const spread = (parameters: ReadonlyArray<unknown>) => parameters as SQLInputValue[];
      return {
        reader: statement.columns().length > 0,
        all: (parameters) => statement.all(...spread(parameters)),
        run: (parameters) => statement.run(...spread(parameters)),
        iterate: (parameters) => statement.iterate(...spread(parameters)),
      };
    },
  };
}
