/**
 * Fixed-window rate limits kept in the storage's atomic counters: one counter per window,
 * so there is no reset race at a window boundary, and a refused call does not count.
 *
 * @module
 */

import { RateLimitExceeded } from "./errors.ts";
import type { Storage } from "./storage/storage.ts";

/**
 * Options of `dewey.rateLimit()`.
 *
 * @example
 * ```ts
 * import { Dewey, RateLimitExceeded, type RateLimitOptions } from "@dewey/dewey";
 *
 * const dewey = new Dewey();
 * const options: RateLimitOptions = { limit: 2, per: 60, retry: false };
 * const smtp = dewey.rateLimit("smtp", options);
 * const now = new Date("2026-03-02T09:00:00Z");
 * await smtp.acquire(now);
 * await smtp.acquire(now);
 * try {
 *   await smtp.acquire(now);
 * } catch (e) {
 *   console.log(e instanceof RateLimitExceeded); // true
 * }
 * ```
 */
export interface RateLimitOptions {
  /** Calls allowed per window. */
  limit: number;
  /** Window length, seconds. */
  per: number;
  /** Reschedule a task that hits the limit to the next window (no retry consumed). @default true */
  retry?: boolean;
}

/**
 * A named rate limit: at most `limit` calls per `per` seconds, across every process that
 * shares the storage.
 *
 * @example
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 * const dewey = new Dewey();
 * const api = dewey.rateLimit("api", { limit: 10, per: 60 });
 * const fetchUser = dewey.task("fetch-user", api.wrap((id: number) => ({ id })));
 * console.log(typeof fetchUser); // "function"
 * ```
 */
export class RateLimiter {
  /** The limit's name. */
  readonly name: string;
  /** Calls allowed per window. */
  readonly limit: number;
  /** Window length, seconds. */
  readonly per: number;
  /** Whether a limited task is rescheduled to the next window. */
  readonly retry: boolean;
  readonly #storage: () => Storage;

  /** @internal Made by `dewey.rateLimit()`. */
  constructor(storage: () => Storage, name: string, options: RateLimitOptions) {
    if (typeof name !== "string" || name === "") {
      throw new TypeError("A rate limit needs a non-empty name");
    }
    if (!Number.isInteger(options?.limit) || options.limit < 1) {
      throw new RangeError(`Invalid rate limit "limit": expected a positive integer`);
    }
    if (!(typeof options.per === "number" && options.per > 0 && Number.isFinite(options.per))) {
      throw new RangeError(`Invalid rate limit "per": expected a positive number of seconds`);
    }
    this.#storage = storage;
    this.name = name;
    this.limit = options.limit;
    this.per = options.per;
    this.retry = options.retry ?? true;
  }

  #window(now: Date): number {
    return Math.floor(now.getTime() / 1000 / this.per);
  }

  #key(window: number): string {
    return `~rl:${this.name}:${window}`;
  }

  /** Counts one call in the current window, or throws `RateLimitExceeded`. */
  async acquire(now: Date = new Date()): Promise<void> {
    const window = this.#window(now);
    const key = this.#key(window);
    // Kept a little past its window so a slow clock elsewhere still sees it.
    const count = await this.#storage().incr(key, 1, Math.ceil(this.per) + 1);
    if (count > this.limit) {
      await this.#storage().incr(key, -1);
      const delay = (window + 1) * this.per - now.getTime() / 1000;
      throw new RateLimitExceeded(this.name, delay, this.retry);
    }
  }

  /** Calls counted in the current window. */
  currentUsage(now: Date = new Date()): Promise<number> {
    return this.#storage().incr(this.#key(this.#window(now)), 0, Math.ceil(this.per) + 1);
  }

  /** Forgets the current window's count. */
  reset(now: Date = new Date()): Promise<void> {
    return this.#storage().deleteCounter(this.#key(this.#window(now)));
  }

  /** Runs `fn` if the limit allows, else throws `RateLimitExceeded`. */
  async run<T>(fn: () => T | Promise<T>): Promise<Awaited<T>> {
    await this.acquire();
    return await fn();
  }

  /** Wraps `fn` so every call goes through `run`. */
  wrap<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => Promise<Awaited<T>> {
    return (...args: A) => this.run(() => fn(...args));
  }
}
