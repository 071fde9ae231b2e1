/**
 * The table names of one Dewey instance: `<prefix>_queue`, `_schedule`, `_kv`,
 * `_counters`, `_dead` and `_meta`, where the prefix is the instance name made safe for
 * an SQL identifier.
 *
 * @module
 */

import { type RawBuilder, sql } from "kysely";

/** The tables of one instance, as identifiers ready to splice into `sql` templates. */
export interface Tables {
  /** The identifier-safe instance name every table and index name starts with. */
  prefix: string;
  queue: RawBuilder<unknown>;
  schedule: RawBuilder<unknown>;
  kv: RawBuilder<unknown>;
  counters: RawBuilder<unknown>;
  dead: RawBuilder<unknown>;
  meta: RawBuilder<unknown>;
}

/** PostgreSQL truncates identifiers at 63 bytes; leave room for suffixes like `_queue_ready`. */
const MAX_PREFIX = 40;

/** The (quoted) table identifiers for instance `name`. */
export function tablesFor(name: string): Tables {
  const prefix = tablePrefix(name);
  const table = (suffix: string) => sql.table(`${prefix}_${suffix}`);
  return {
    prefix,
    queue: table("queue"),
    schedule: table("schedule"),
    kv: table("kv"),
    counters: table("counters"),
    dead: table("dead"),
    meta: table("meta"),
  };
}

/**
 * `name` kept to `[A-Za-z0-9_]`. A name that had to change (or be shortened) gets a hash
 * of the original appended, so "a-b" and "a_b" still get tables of their own.
 */
export function tablePrefix(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_]/g, "_");
  if (safe === name && safe.length > 0 && safe.length <= MAX_PREFIX) return safe;
  return `${safe.slice(0, MAX_PREFIX - 9)}_${fnv1a(name)}`;
}

/** 32-bit FNV-1a over UTF-16 code units, as 8 hex digits: short, stable, dependency-free. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}
