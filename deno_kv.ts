/**
 * A Dewey storage on Deno KV: {@linkcode DenoKvStorage}, built from plain KV reads and
 * atomic operations, on a local file, in memory or on a remote database. On Deno it opens
 * the database itself with `Deno.openKv` (run with `--unstable-kv`, or set
 * `"unstable": ["kv"]` in deno.json); on Node and Bun it takes a database opened with
 * `openKv` of npm's `@deno/kv`, and the file is shared with Deno processes.
 *
 * @example A queue in a KV file
 * ```ts
 * import { DenoKvStorage } from "@dewey/dewey/deno-kv";
 *
 * const path = await Deno.makeTempFile({ suffix: ".kv" });
 * const storage = new DenoKvStorage({ path });
 * storage.bind("demo");
 * await storage.enqueue("hello", 0);
 * console.log(await storage.queueSize()); // 1
 * await storage.close();
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

export { DenoKvStorage, type DenoKvStorageOptions } from "./src/storage/deno_kv/deno_kv_storage.ts";
export type {
  DenoKvLike,
  KvAtomicLike,
  KvEntryLike,
  KvKey,
  KvKeyPart,
  KvListSelectorLike,
} from "./src/storage/deno_kv/kv_like.ts";
