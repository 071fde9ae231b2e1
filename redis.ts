/**
 * Redis storage for Dewey: {@linkcode RedisStorage} over a small command executor, with
 * two executors included: {@linkcode tcpExecutor} (self-hosted Redis over TCP through
 * ioredis, with blocking wake-ups) and {@linkcode upstashExecutor} (Upstash's REST API
 * through `@upstash/redis`, for serverless and edge producers).
 *
 * Importing this module loads neither client: ioredis is loaded on the first command of a
 * TCP executor, `@upstash/redis` on the first command of a REST executor built from a URL,
 * so the Upstash path runs on edge runtimes (no `node:net`).
 *
 * @example An instance on Redis (nothing connects before the first command)
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 * import { RedisStorage } from "@dewey/dewey/redis";
 *
 * const storage = new RedisStorage({ url: "redis://127.0.0.1:6379/0" }); // not connected yet
 * const dewey = new Dewey({ name: "demo", storage });
 * export const add = dewey.task("add", (a: number, b: number) => a + b);
 * console.log(storage.prefix); // "dewey:{demo}:"
 * await dewey.close();
 * ```
 *
 * @module
 */

export { RedisStorage } from "./src/storage/redis/redis_storage.ts";
export type { RedisStorageOptions } from "./src/storage/redis/options.ts";
export type {
  LuaScript,
  RedisArg,
  RedisExecutor,
  RedisReply,
} from "./src/storage/redis/executor.ts";
export {
  type IoredisClient,
  type IoredisPipeline,
  tcpExecutor,
} from "./src/storage/redis/tcp_executor.ts";
export {
  type UpstashClient,
  upstashExecutor,
  type UpstashExecutorOptions,
} from "./src/storage/redis/upstash_executor.ts";
