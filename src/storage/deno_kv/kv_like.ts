/**
 * The part of a Deno KV database that {@linkcode DenoKvStorage} uses, declared by shape so
 * that `Deno.Kv` (from `Deno.openKv`) and the `Kv` of npm's `@deno/kv` (Node, Bun) both fit
 * without Dewey importing either.
 *
 * @module
 */

/**
 * One part of a KV key, as Dewey writes them.
 *
 * @example
 * ```ts
 * import type { KvKeyPart } from "@dewey/dewey/deno-kv";
 *
 * const parts: KvKeyPart[] = ["dewey", "app", "q", -10, 1n];
 * console.log(parts.length); // 5
 * ```
 */
export type KvKeyPart = Uint8Array | string | number | bigint | boolean;

/**
 * A KV key: a list of parts, compared part by part.
 *
 * @example
 * ```ts
 * import type { KvKey } from "@dewey/dewey/deno-kv";
 *
 * const key: KvKey = ["dewey", "app", "d", "task-id"];
 * console.log(key[2]); // "d"
 * ```
 */
export type KvKey = readonly KvKeyPart[];

/**
 * An entry read from KV: `versionstamp` is `null` (and `value` too) when the key is absent.
 *
 * @example
 * ```ts
 * import type { KvEntryLike } from "@dewey/dewey/deno-kv";
 *
 * const missing: KvEntryLike = { key: ["k"], value: null, versionstamp: null };
 * console.log(missing.versionstamp === null); // true
 * ```
 */
export interface KvEntryLike {
  /** The key read. */
  readonly key: readonly unknown[];
  /** The value, or `null` for an absent key. */
  readonly value: unknown;
  /** The version of the entry, or `null` for an absent key. */
  readonly versionstamp: string | null;
}

/**
 * What a `list` takes: every key under `prefix` (from `start`, before `end`), or every key
 * from `start` up to (not including) `end`.
 *
 * @example
 * ```ts
 * import type { KvListSelectorLike } from "@dewey/dewey/deno-kv";
 *
 * const selector: KvListSelectorLike = { prefix: ["dewey", "app", "q"] };
 * console.log("prefix" in selector); // true
 * ```
 */
export type KvListSelectorLike =
  | { prefix: KvKey }
  | { prefix: KvKey; start: KvKey }
  | { prefix: KvKey; end: KvKey }
  | { start: KvKey; end: KvKey };

/**
 * An atomic operation: checks, then mutations, all or none on `commit`.
 *
 * @example
 * ```ts
 * import type { KvAtomicLike } from "@dewey/dewey/deno-kv";
 *
 * // Creates ["lock"] only when it is absent.
 * async function claim(atomic: KvAtomicLike): Promise<boolean> {
 *   const result = await atomic
 *     .check({ key: ["lock"], versionstamp: null })
 *     .set(["lock"], new Uint8Array([1]))
 *     .commit();
 *   return result.ok;
 * }
 * console.log(typeof claim); // "function"
 * ```
 */
export interface KvAtomicLike {
  /** Fails the commit unless each key is at the given versionstamp (`null`: absent). */
  check(...checks: { key: KvKey; versionstamp: string | null }[]): KvAtomicLike;
  /** Sets a key; with `expireIn` (ms), KV may delete it once that time has passed. */
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): KvAtomicLike;
  /** Deletes a key. */
  delete(key: KvKey): KvAtomicLike;
  /** Adds to a 64-bit unsigned counter (not used by Dewey's own entries). */
  sum(key: KvKey, n: bigint): KvAtomicLike;
  /** Commits: `ok` is `false` when a check failed, and then nothing was written. */
  commit(): Promise<{ ok: boolean }>;
}

/**
 * A Deno KV database as {@linkcode DenoKvStorage} uses it: what `Deno.openKv()` returns,
 * and what `openKv()` of npm's `@deno/kv` returns on Node and Bun.
 *
 * @example Pass any open KV database
 * ```ts
 * import { DenoKvStorage, type DenoKvLike } from "@dewey/dewey/deno-kv";
 *
 * const kv: DenoKvLike = await Deno.openKv(":memory:");
 * const storage = new DenoKvStorage({ kv });
 * await storage.enqueue("message", 0);
 * console.log(await storage.queueSize()); // 1
 * await storage.close();
 * kv.close(); // the caller opened it, the caller closes it
 * ```
 */
export interface DenoKvLike {
  /** Reads one key. */
  get(key: KvKey, options?: { consistency?: "strong" | "eventual" }): Promise<KvEntryLike>;
  /** Reads up to 10 keys at once, in order. */
  getMany(
    keys: readonly KvKey[],
    options?: { consistency?: "strong" | "eventual" },
  ): Promise<readonly KvEntryLike[]>;
  /** Lists entries in key order (`reverse`: backwards). */
  list(
    selector: KvListSelectorLike,
    options?: {
      limit?: number;
      reverse?: boolean;
      batchSize?: number;
      consistency?: "strong" | "eventual";
      cursor?: string;
    },
  ): AsyncIterable<KvEntryLike>;
  /** Starts an atomic operation. */
  atomic(): KvAtomicLike;
  /** Closes the database. */
  close(): void;
}
