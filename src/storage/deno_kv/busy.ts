/**
 * Retries of operations that found the database busy. A local KV file is an SQLite
 * database: when two connections (processes) write at once, a commit that read before
 * writing can fail at once with "database is locked" instead of waiting. Such a commit
 * wrote nothing, so it is safe to run again; this wrapper does, with a short random
 * backoff, for every read and commit the storage makes.
 *
 * @module
 */

import type { DenoKvLike, KvAtomicLike, KvKey } from "./kv_like.ts";

/** How long an operation keeps retrying before the error is passed on, in ms. */
const BUSY_TIMEOUT_MS = 30_000;
/** The longest pause between two tries, in ms. */
const MAX_PAUSE_MS = 50;

/** Whether `error` says the database was busy (Deno's and `@deno/kv`'s wording). */
export function isBusy(error: unknown): boolean {
  return /database (table )?is locked|SQLITE_BUSY/i.test(String((error as Error)?.message));
}

/** Runs `work`, again after a short pause while it fails with a busy database. */
export async function retryBusy<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  let pause = 1;
  for (;;) {
    try {
      return await work();
    } catch (error) {
      if (!isBusy(error) || Date.now() >= deadline) throw error;
      // Random, so that writers that collided do not collide again.
      await new Promise((resolve) => setTimeout(resolve, pause * (0.5 + Math.random())));
      pause = Math.min(pause * 2, MAX_PAUSE_MS);
    }
  }
}

/**
 * `kv` with busy retries on `get`, `getMany` and `commit` (an atomic operation is recorded
 * and rebuilt for each try). `list` is passed through: a scan is retried as a whole by its
 * caller.
 */
export function retryingKv(kv: DenoKvLike): DenoKvLike {
  return {
    get: (key, options) => retryBusy(() => kv.get(key, options)),
    getMany: (keys, options) => retryBusy(() => kv.getMany(keys, options)),
    list: (selector, options) => kv.list(selector, options),
    atomic: () => new RecordedAtomic(kv),
    close: () => kv.close(),
  };
}

type Step = (atomic: KvAtomicLike) => KvAtomicLike;

/** An atomic operation as a list of steps, replayed on a fresh one for each try. */
class RecordedAtomic implements KvAtomicLike {
  readonly #kv: DenoKvLike;
  readonly #steps: Step[] = [];

  constructor(kv: DenoKvLike) {
    this.#kv = kv;
  }

  check(...checks: { key: KvKey; versionstamp: string | null }[]): KvAtomicLike {
    this.#steps.push((atomic) => atomic.check(...checks));
    return this;
  }

  set(key: KvKey, value: unknown, options?: { expireIn?: number }): KvAtomicLike {
    this.#steps.push((atomic) => atomic.set(key, value, options));
    return this;
  }

  delete(key: KvKey): KvAtomicLike {
    this.#steps.push((atomic) => atomic.delete(key));
    return this;
  }

  sum(key: KvKey, n: bigint): KvAtomicLike {
    this.#steps.push((atomic) => atomic.sum(key, n));
    return this;
  }

  commit(): Promise<{ ok: boolean }> {
    return retryBusy(() =>
      this.#steps.reduce((atomic, step) => step(atomic), this.#kv.atomic()).commit()
    );
  }
}
