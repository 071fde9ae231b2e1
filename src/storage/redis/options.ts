/**
 * Options of {@linkcode RedisStorage}, and how they become an executor: a URL picks TCP
 * (`redis://`, `rediss://`) or Upstash REST (`https://`, `http://`); without one the
 * environment is read, in a way that works on Deno, Bun and Node and does nothing on an
 * edge runtime without `process`.
 *
 * @module
 */

import type { RedisExecutor } from "./executor.ts";
import { redactUrl, tcpExecutor } from "./tcp_executor.ts";
import { type UpstashClient, upstashExecutor } from "./upstash_executor.ts";
import { readEnv } from "../../runtime/env.ts";

/**
 * Options for {@linkcode RedisStorage}. Give at most one of `url`, `client` and
 * `executor`; with none, `REDIS_URL` is read from the environment, else
 * `UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN`.
 *
 * @example
 * ```ts
 * import { RedisStorage, type RedisStorageOptions } from "@dewey/dewey/redis";
 *
 * const options: RedisStorageOptions = {
 *   url: "redis://127.0.0.1:6379/0",
 *   expireResults: 3600, // unread results vanish after an hour
 * };
 * const storage = new RedisStorage(options); // connects on first use
 * await storage.close();
 * ```
 */
export interface RedisStorageOptions {
  /**
   * `redis://[user:password@]host:port/db` or `rediss://…` for TCP (ioredis), or an
   * Upstash REST URL `https://…` (with `token`).
   */
  url?: string;
  /** The REST token with an `https://` URL (default: `UPSTASH_REDIS_REST_TOKEN`). */
  token?: string;
  /** An `@upstash/redis` client of yours (Upstash REST). */
  client?: UpstashClient;
  /** Any executor, e.g. `tcpExecutor(yourIoredisClient)`; the caller closes it. */
  executor?: RedisExecutor;
  /**
   * Seconds after which a stored result expires, as Huey's `RedisExpireHuey`: applies to
   * values written without a ttl of their own under keys outside Dewey's internal `~`
   * namespace (task results, and values of `dewey.put`). Revocations, locks, chord parts
   * and counters keep the ttl they are given. Reading a result still removes it.
   *
   * @default {undefined} results stay until read
   */
  expireResults?: number;
  /**
   * Block on a per-result list (`BLPOP`) in `waitForData` instead of polling, as Huey's
   * `notify_result`. Needs an executor with a blocking pop (TCP).
   *
   * @default {true} over TCP, `false` over REST
   */
  notifyResult?: boolean;
}

/** The executor the options describe, and whether the storage owns (closes) it. */
export function resolveExecutor(options: RedisStorageOptions): {
  executor: RedisExecutor;
  owned: boolean;
} {
  const given = (["url", "client", "executor"] as const).filter((key) =>
    options[key] !== undefined
  );
  if (given.length > 1) {
    throw new TypeError(`Give one of url, client or executor, not ${given.join(" and ")}`);
  }
  if (options.executor !== undefined) return { executor: options.executor, owned: false };
  if (options.client !== undefined) {
    return { executor: upstashExecutor(options.client), owned: true };
  }
  let url = options.url;
  let token = options.token;
  if (url === undefined) {
    url = readEnv("REDIS_URL") || readEnv("UPSTASH_REDIS_REST_URL") || undefined;
    if (url === undefined) {
      throw new TypeError(
        "RedisStorage needs a url, a client or an executor; none was given and neither " +
          "REDIS_URL nor UPSTASH_REDIS_REST_URL is set",
      );
    }
  }
  if (/^rediss?:\/\//i.test(url)) return { executor: tcpExecutor(url), owned: true };
  if (/^https?:\/\//i.test(url)) {
    token ??= readEnv("UPSTASH_REDIS_REST_TOKEN");
    if (!token) {
      throw new TypeError(
        `The Upstash REST URL ${url} needs a token (option token or UPSTASH_REDIS_REST_TOKEN)`,
      );
    }
    return { executor: upstashExecutor({ url, token }), owned: true };
  }
  throw new TypeError(
    `Unsupported Redis URL "${redactUrl(url)}": expected redis://, rediss:// or https://`,
  );
}
