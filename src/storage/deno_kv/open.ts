/**
 * Finding `Deno.openKv`, with one clear error where it is missing.
 *
 * @module
 */

import type { DenoKvLike } from "./kv_like.ts";

/** Opens a KV database: `Deno.openKv`'s shape. */
export type OpenKv = (path?: string) => Promise<DenoKvLike>;

/** The message for Deno without KV enabled; the CLI's module loader words it the same. */
export const MISSING_FLAG =
  'Deno.openKv is missing; run with --unstable-kv or set "unstable": ["kv"] in deno.json';

/** The message for runtimes other than Deno. */
export const NOT_DENO = "Deno.openKv is missing: this runtime is not Deno; pass an open " +
  'database as "kv", e.g. from openKv(path) of npm\'s @deno/kv';

/** `Deno.openKv`, or a `TypeError` saying how to get it. */
export function findOpenKv(): OpenKv {
  const deno = (globalThis as { Deno?: { openKv?: OpenKv } }).Deno;
  if (typeof deno?.openKv === "function") return (path) => deno.openKv!(path);
  throw new TypeError(deno === undefined ? NOT_DENO : MISSING_FLAG);
}
