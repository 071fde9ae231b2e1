/**
 * Named locks in the storage, with an owner token (only the holder releases) and an
 * optional time-to-live (a crashed holder cannot block forever).
 *
 * @module
 */

import { TaskLockedException } from "./errors.ts";
import type { Storage } from "./storage/storage.ts";

/**
 * Options of `dewey.lock()` and `dewey.lockTask()`.
 *
 * @example
 * ```ts
 * import { Dewey, type LockOptions } from "@dewey/dewey";
 *
 * const dewey = new Dewey();
 * const options: LockOptions = { ttl: 300 }; // freed after 5 minutes even if never released
 * const nightlyImport = dewey.lockTask("nightly-import", () => "imported", options);
 * console.log(await nightlyImport()); // "imported"
 * console.log(await dewey.lock("nightly-import").isLocked()); // false
 * ```
 */
export interface LockOptions {
  /** Seconds after which the lock frees itself even if never released. */
  ttl?: number;
}

/** Storage key of the lock called `name`. */
export function lockKey(name: string): string {
  return `~lock:${name}`;
}

/**
 * A named lock. `acquire()` throws `TaskLockedException` when another holder has it.
 *
 * @example Hold a lock for a block of code
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 * const dewey = new Dewey();
 * {
 *   await using _lock = await dewey.lock("reports").acquire();
 *   // only one holder at a time runs this
 * }
 * console.log(await dewey.lock("reports").isLocked()); // false
 * ```
 */
export class TaskLock {
  /** The lock's name. */
  readonly name: string;
  readonly #storage: () => Storage;
  readonly #ttl?: number;
  #token?: string;

  /** @internal Made by `dewey.lock()`. */
  constructor(storage: () => Storage, name: string, options: LockOptions = {}) {
    if (typeof name !== "string" || name === "") {
      throw new TypeError("A lock needs a non-empty name");
    }
    if (options.ttl !== undefined && !(options.ttl > 0)) {
      throw new RangeError(`Invalid lock "ttl": expected a positive number of seconds`);
    }
    this.#storage = storage;
    this.name = name;
    this.#ttl = options.ttl;
  }

  /** Takes the lock or throws `TaskLockedException`; returns this lock (disposable). */
  async acquire(): Promise<this> {
    const token = crypto.randomUUID();
    if (!await this.#storage().putIfEmpty(lockKey(this.name), token, this.#ttl)) {
      throw new TaskLockedException(this.name);
    }
    this.#token = token;
    return this;
  }

  /** Releases the lock if this handle holds it; whether it did. */
  async release(): Promise<boolean> {
    const token = this.#token;
    if (token === undefined) return false;
    this.#token = undefined;
    return await this.#storage().deleteData(lockKey(this.name), token);
  }

  /** Whether anyone holds the lock. */
  isLocked(): Promise<boolean> {
    return this.#storage().hasData(lockKey(this.name));
  }

  /** Runs `fn` holding the lock (throws `TaskLockedException` if taken); always releases. */
  async run<T>(fn: () => T | Promise<T>): Promise<Awaited<T>> {
    const token = crypto.randomUUID();
    const key = lockKey(this.name);
    if (!await this.#storage().putIfEmpty(key, token, this.#ttl)) {
      throw new TaskLockedException(this.name);
    }
    try {
      return await fn();
    } finally {
      await this.#storage().deleteData(key, token);
    }
  }

  /** Releases the lock at the end of an `await using` block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}
