/**
 * The command executor: the few things {@linkcode RedisStorage} needs from a Redis
 * connection, typed by shape so the storage never imports a Redis client. Two
 * implementations ship (TCP over ioredis, Upstash REST over `@upstash/redis`); anything
 * with these methods works.
 *
 * @module
 */

/**
 * One argument of a Redis command: strings are sent as UTF-8 bytes, numbers in decimal.
 *
 * @example
 * ```ts
 * import type { RedisArg } from "@dewey/dewey/redis";
 *
 * const command: RedisArg[] = ["SET", "greeting", "hello", "PX", 5000];
 * console.log(command.length); // 5
 * ```
 */
export type RedisArg = string | number;

/**
 * A Redis reply as the storage reads it: bulk and status strings as strings, integers as
 * numbers, nil as `null`, arrays nested.
 *
 * @example
 * ```ts
 * import type { RedisReply } from "@dewey/dewey/redis";
 *
 * const reply: RedisReply = ["lease-1", "message", "0"];
 * console.log(Array.isArray(reply)); // true
 * ```
 */
export type RedisReply = string | number | null | RedisReply[];

/**
 * A Lua script with its SHA-1 (lower-case hex), for `EVALSHA` with a fallback to `EVAL`.
 *
 * @example
 * ```ts
 * import type { LuaScript } from "@dewey/dewey/redis";
 *
 * const script: LuaScript = {
 *   source: "return 1",
 *   sha: "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", // SHA-1 of the source
 * };
 * console.log(script.sha.length); // 40
 * ```
 */
export interface LuaScript {
  /** The Lua source. */
  readonly source: string;
  /** SHA-1 of `source`, lower-case hex, as `SCRIPT LOAD` returns it. */
  readonly sha: string;
}

/**
 * What {@linkcode RedisStorage} sends its commands through. Each method is one round trip
 * to the server (a script that the server does not know yet may cost a second one, once).
 * Errors: a Redis error reply rejects with an `Error` whose message starts with the Redis
 * error code (`"ERR …"`, `"NOSCRIPT …"`); a transport failure rejects with an `Error` that
 * names the server (never its password or token).
 *
 * @example Count the round trips of another executor
 * ```ts
 * import type { LuaScript, RedisArg, RedisExecutor, RedisReply } from "@dewey/dewey/redis";
 *
 * export function counting(inner: RedisExecutor): RedisExecutor & { calls: number } {
 *   const counter = {
 *     calls: 0,
 *     description: inner.description,
 *     send(args: RedisArg[]): Promise<RedisReply> {
 *       counter.calls++;
 *       return inner.send(args);
 *     },
 *     evalScript(script: LuaScript, keys: RedisArg[], args: RedisArg[]): Promise<RedisReply> {
 *       counter.calls++;
 *       return inner.evalScript(script, keys, args);
 *     },
 *     pipeline(commands: RedisArg[][]): Promise<(RedisReply | Error)[]> {
 *       counter.calls++;
 *       return inner.pipeline(commands);
 *     },
 *     close: () => inner.close(),
 *   };
 *   return counter;
 * }
 * ```
 */
export interface RedisExecutor {
  /** The server, for error messages: a URL without password or token. */
  readonly description: string;
  /** Sends one command; resolves to its reply, rejects on an error reply. */
  send(args: RedisArg[]): Promise<RedisReply>;
  /**
   * Runs `script` by `EVALSHA`; when the server answers `NOSCRIPT` (first use, or after a
   * restart flushed its script cache), runs it by `EVAL`, which also caches it.
   */
  evalScript(script: LuaScript, keys: RedisArg[], args: RedisArg[]): Promise<RedisReply>;
  /**
   * Sends several commands in one round trip (not a transaction); each reply, or the
   * `Error` of that one command, in order. Rejects only when the transport fails.
   */
  pipeline(commands: RedisArg[][]): Promise<(RedisReply | Error)[]>;
  /**
   * Optional: `BLPOP key timeout` on a connection of its own, so other commands are not
   * held up. Resolves to the popped value, or `undefined` after `timeout` seconds or when
   * `signal` aborts. Executors that cannot block (HTTP) leave it out, and the storage
   * polls instead.
   */
  blockingPop?(key: string, timeout: number, signal?: AbortSignal): Promise<string | undefined>;
  /** Closes what the executor opened (not a client it was given, but its own extra connections). */
  close(): Promise<void>;
}

/** Whether `error` is Redis saying it does not know a script SHA. */
export function isNoScript(error: unknown): boolean {
  return error instanceof Error && /NOSCRIPT/i.test(error.message);
}

/**
 * Runs `script` through `send` by its SHA (`EVALSHA`), sending the whole source (`EVAL`)
 * only when the server does not know it yet (first use, or after a restart).
 */
export async function evalWithFallback(
  send: (args: RedisArg[]) => Promise<RedisReply>,
  script: LuaScript,
  keys: RedisArg[],
  args: RedisArg[],
): Promise<RedisReply> {
  try {
    return await send(["EVALSHA", script.sha, keys.length, ...keys, ...args]);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return await send(["EVAL", script.source, keys.length, ...keys, ...args]);
  }
}
