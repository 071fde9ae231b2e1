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

/** A prepared statement and whether it yields rows. */
interface Prepared {
  statement: StatementSync;
  reader: boolean;
}

/** `path` opened with `node:sqlite`, adapted to Kysely's `SqliteDatabase`. */
export async function openNodeSqlite(path: string): Promise<SqliteDatabase> {
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(path);
  // node:sqlite has no `reader` flag: a statement that yields columns is a reader. Worked
  // out once per statement, as `columns()` builds a fresh array on every call.
  const cache = new Map<string, Prepared>();
  const prepare = (sql: string): Prepared => {
    let prepared = cache.get(sql);
    if (prepared === undefined) {
      if (cache.size >= CACHE_SIZE) cache.clear();
      const statement = db.prepare(sql);
      prepared = { statement, reader: statement.columns().length > 0 };
      cache.set(sql, prepared);
    }
    return prepared;
  };
  return {
    close: () => db.close(),
    prepare(sql) {
      const { statement, reader } = prepare(sql);
      // node:sqlite takes parameters spread (an array would read as named parameters).
      const spread = (parameters: ReadonlyArray<unknown>) => parameters as SQLInputValue[];
      return {
        reader,
        all: (parameters) => statement.all(...spread(parameters)),
        run: (parameters) => statement.run(...spread(parameters)),
        iterate: (parameters) => statement.iterate(...spread(parameters)),
      };
    },
  };
}
