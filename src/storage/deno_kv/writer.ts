/**
 * Writes without checks (enqueue, ack, putData, …) through group commit: writes that
 * arrive while a commit is in flight share the next atomic operation, so concurrent tasks
 * finishing together cost one commit, not one each. Each caller's promise settles after
 * the commit that holds its writes. Also: splitting large write sets within KV's limits.
 *
 * @module
 */

import type { DenoKvLike, KvAtomicLike, KvKey } from "./kv_like.ts";

/** One write. `expireIn` is in ms (KV deletes the key lazily some time after). */
export type Mutation =
  | { type: "set"; key: KvKey; value: Uint8Array; expireIn?: number }
  | { type: "delete"; key: KvKey };

/**
 * Deno KV's limits per atomic operation (checks: `@deno/kv`'s, Deno's own allows 100),
 * with a margin on the byte limits, which count keys by their encoded size.
 */
export const LIMITS = {
  checks: 10,
  mutations: 1000,
  /** Keys and values together (KV: 800 KiB). */
  bytes: 780_000,
  /** Keys alone (Deno: 80 KiB). */
  keyBytes: 78_000,
};

/** What a set of mutations uses of one atomic operation's limits. */
export class Budget {
  mutations = 0;
  bytes = 0;
  keyBytes = 0;

  /** Whether `mutations` fit next to what is counted already (always, when nothing is). */
  fits(mutations: readonly Mutation[]): boolean {
    if (this.mutations === 0) return true;
    let bytes = this.bytes;
    let keyBytes = this.keyBytes;
    for (const mutation of mutations) {
      const size = keySize(mutation.key);
      keyBytes += size;
      bytes += size + (mutation.type === "set" ? mutation.value.length : 0);
    }
    return this.mutations + mutations.length <= LIMITS.mutations && bytes <= LIMITS.bytes &&
      keyBytes <= LIMITS.keyBytes;
  }

  add(mutations: readonly Mutation[]): void {
    for (const mutation of mutations) {
      const size = keySize(mutation.key);
      this.keyBytes += size;
      this.bytes += size + (mutation.type === "set" ? mutation.value.length : 0);
    }
    this.mutations += mutations.length;
  }
}

/** Adds `mutations` to an atomic operation. */
export function applyMutations(atomic: KvAtomicLike, mutations: readonly Mutation[]): KvAtomicLike {
  for (const mutation of mutations) {
    if (mutation.type === "delete") atomic = atomic.delete(mutation.key);
    else if (mutation.expireIn === undefined) atomic = atomic.set(mutation.key, mutation.value);
    else atomic = atomic.set(mutation.key, mutation.value, { expireIn: mutation.expireIn });
  }
  return atomic;
}

/** Commits `mutations` (no checks), failing loudly if KV refuses. */
export async function commitMutations(
  kv: DenoKvLike,
  mutations: readonly Mutation[],
): Promise<void> {
  const { ok } = await applyMutations(kv.atomic(), mutations).commit();
  if (!ok) throw new Error("Deno KV refused a write that had no checks");
}

/**
 * Commits `groups` in as few atomic operations as KV's limits allow, in order; a group is
 * never split. Not atomic as a whole: for flushes and bulk enqueues.
 */
export async function commitInChunks(
  kv: DenoKvLike,
  groups: readonly (readonly Mutation[])[],
): Promise<void> {
  let chunk: Mutation[] = [];
  let budget = new Budget();
  for (const group of groups) {
    if (!budget.fits(group)) {
      await commitMutations(kv, chunk);
      chunk = [];
      budget = new Budget();
    }
    budget.add(group);
    chunk.push(...group);
  }
  if (chunk.length > 0) await commitMutations(kv, chunk);
}

/** A write waiting for its commit. */
export interface Pending {
  readonly mutations: readonly Mutation[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit of check-free writes on one database. While `held()` says so (a dequeue is
 * under way), no commit of its own starts: the dequeue's claim takes the waiting writes
 * into its atomic operation ({@linkcode Writer.take}), so a finished task's ack and the
 * next task's claim are one commit; {@linkcode Writer.resume} carries on after it.
 */
export class Writer {
  readonly #kv: DenoKvLike;
  readonly #held: () => boolean;
  #pending: Pending[] = [];
  #draining?: Promise<void>;

  constructor(kv: DenoKvLike, held: () => boolean = () => false) {
    this.#kv = kv;
    this.#held = held;
  }

  /** Commits `mutations` together, possibly with other callers' writes; resolves once stored. */
  write(mutations: readonly Mutation[]): Promise<void> {
    if (mutations.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ mutations, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Takes the waiting writes that fit `budget` (which is updated) for a caller's atomic
   * operation; the caller then settles them with {@linkcode Writer.committed} or hands them
   * back with {@linkcode Writer.giveBack}.
   */
  take(budget: Budget): Pending[] {
    let taken = 0;
    while (taken < this.#pending.length && budget.fits(this.#pending[taken].mutations)) {
      budget.add(this.#pending[taken++].mutations);
    }
    return this.#pending.splice(0, taken);
  }

  /** Writes taken by a caller were committed with its operation. */
  committed(taken: readonly Pending[]): void {
    for (const pending of taken) pending.resolve();
  }

  /** Writes taken by a caller were not committed: they go first in line again. */
  giveBack(taken: readonly Pending[]): void {
    if (taken.length === 0) return;
    this.#pending.unshift(...taken);
    this.#schedule();
  }

  /**
   * The hold ended: commit what waits, after a macrotask. The consumer usually starts its
   * next dequeue within the same run of microtasks (the slots of the tasks whose acks
   * wait are free), and that claim then carries the acks instead of a commit of their own.
   */
  resume(): void {
    if (this.#pending.length > 0) setTimeout(() => this.#schedule(), 0);
  }

  /** Resolves once every write handed in so far has settled. */
  async idle(): Promise<void> {
    while (this.#draining || this.#pending.length > 0) {
      if (!this.#held()) this.#schedule();
      if (this.#draining) await this.#draining;
      else await new Promise((resolve) => setTimeout(resolve, 1)); // a dequeue holds them
    }
  }

  #schedule(): void {
    // A microtask later, so writes issued in one go (a loop, Promise.all) share a commit.
    if (this.#pending.length > 0) this.#draining ??= Promise.resolve().then(() => this.#drain());
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0 && !this.#held()) {
        const budget = new Budget();
        const batch = this.take(budget);
        await this.#commit(batch);
      }
    } finally {
      this.#draining = undefined;
    }
  }

  /** Commits a batch; if it fails, each write alone, so one bad write fails alone. */
  async #commit(batch: Pending[]): Promise<void> {
    try {
      await commitMutations(this.#kv, batch.flatMap((pending) => pending.mutations));
      return this.committed(batch);
    } catch (error) {
      if (batch.length === 1) return batch[0].reject(error);
    }
    for (const pending of batch) {
      try {
        await commitMutations(this.#kv, pending.mutations);
        pending.resolve();
      } catch (error) {
        pending.reject(error);
      }
    }
  }
}

/** The encoded size of a key, at most a few bytes over (tags, escapes). */
export function keySize(key: KvKey): number {
  let size = 0;
  for (const part of key) {
    if (typeof part === "string") size += utf8Length(part) + 2;
    else if (part instanceof Uint8Array) size += part.length + 2;
    else size += 10;
  }
  return size;
}

function utf8Length(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // Two extra bytes per char from U+0800 (a surrogate pair is 2 chars for 4 bytes).
    if (code >= 0x80) length += code >= 0x800 && (code < 0xd800 || code > 0xdfff) ? 2 : 1;
  }
  return length;
}
