/**
 * The TCP executor: Redis over ioredis, for consumers and producers on servers. Blocking
 * pops run on extra connections (duplicates of the main one), one per concurrent wait, so
 * a blocked wait never delays other commands.
 *
 * This module does not import ioredis: it types the client by shape, and loads the module
 * that connects ({@linkcode CONNECT_MODULE}) on first use with a dynamic import.
 *
 * @module
 */

import type { LuaScript, RedisArg, RedisExecutor, RedisReply } from "./executor.ts";
import { evalWithFallback } from "./executor.ts";

/**
 * An ioredis client (`new Redis(…)` from the `ioredis` package), by the shape the TCP
 * executor uses. Declared here so that importing Dewey's Redis entry point does not load
 * ioredis.
 *
 * @example
 * ```ts
 * import { type IoredisClient, tcpExecutor } from "@dewey/dewey/redis";
 *
 * // With ioredis: const client: IoredisClient = new Redis("redis://127.0.0.1:6379");
 * export function executorFor(client: IoredisClient) {
 *   return tcpExecutor(client); // closing the executor leaves `client` open
 * }
 * ```
 */
export interface IoredisClient {
  /** Sends any command. */
  call(command: string, args: (string | number)[]): Promise<unknown>;
  /** Starts a pipeline. */
  pipeline(): IoredisPipeline;
  /** A new connection with the same options. */
  duplicate(): IoredisClient;
  /** Closes the connection at once. */
  disconnect(): void;
  /** Closes the connection after pending replies. */
  quit(): Promise<unknown>;
  /** Connection errors are reported as `error` events; `ready` follows each (re)connect. */
  on(event: "error" | "ready", listener: (error: Error) => void): unknown;
}

/**
 * An ioredis pipeline, by the shape the TCP executor uses.
 *
 * @example
 * ```ts
 * import type { IoredisClient, IoredisPipeline } from "@dewey/dewey/redis";
 *
 * export async function ping(client: IoredisClient): Promise<unknown> {
 *   const pipeline: IoredisPipeline = client.pipeline();
 *   pipeline.call("PING", []);
 *   return (await pipeline.exec())?.[0]?.[1]; // "PONG"
 * }
 * ```
 */
export interface IoredisPipeline {
  /** Queues any command. */
  call(command: string, args: (string | number)[]): unknown;
  /** Sends the queued commands; `[error, reply]` per command. */
  exec(): Promise<[Error | null, unknown][] | null>;
}

/**
 * The module that imports ioredis, named in a variable so that bundlers do not follow it.
 * (Deno needs read permission for such an import of a local file; pass your own client
 * to {@linkcode tcpExecutor} to avoid it.)
 */
const CONNECT_MODULE = "./ioredis_connect.ts";

/** The module's type, for the cast after the untyped dynamic import. */
type ConnectModule = typeof import("./ioredis_connect.ts");

/**
 * An executor over TCP (ioredis). Give a `redis://` / `rediss://` URL (the executor opens
 * the connection on first use and closes it on `close()`), or an ioredis client of yours
 * (left open on `close()`; the executor's extra blocking connections are closed).
 *
 * A lost connection is re-established in the background forever; a command sent while it
 * is down rejects after one failed reconnection attempt (a few seconds at most) with an
 * error naming the server, rather than hanging.
 *
 * @example
 * ```ts
 * import { RedisStorage, tcpExecutor } from "@dewey/dewey/redis";
 *
 * const executor = tcpExecutor("redis://127.0.0.1:6379/0"); // nothing is opened yet
 * const storage = new RedisStorage({ executor });
 * console.log(executor.description); // "redis://127.0.0.1:6379/0"
 * await storage.close();
 * await executor.close(); // the caller's executor: the caller closes it
 * ```
 */
export function tcpExecutor(target: string | IoredisClient): RedisExecutor {
  return new TcpExecutor(target);
}

/** A command waiting for the next write. */
interface Pending {
  args: RedisArg[];
  resolve(reply: RedisReply): void;
  reject(error: Error): void;
}

class TcpExecutor implements RedisExecutor {
  readonly description: string;
  readonly #url?: string;
  #client?: IoredisClient;
  #connecting?: Promise<IoredisClient>;
  /** The last connection error of a connection this executor opened. */
  #lastError?: Error;
  readonly #idle: IoredisClient[] = [];
  readonly #busy = new Set<IoredisClient>();
  #closed = false;
  #pending: Pending[] = [];

  constructor(target: string | IoredisClient) {
    if (typeof target === "string") {
      if (!/^rediss?:\/\//i.test(target)) {
        throw new TypeError(`Expected a redis:// or rediss:// URL, got "${redactUrl(target)}"`);
      }
      this.#url = target;
      this.description = redactUrl(target);
    } else {
      this.#client = target;
      this.description = describeClient(target);
    }
  }

  /**
   * Queues the command for a write in a microtask: commands sent together (workers woken
   * by one reply, a task's two revocation reads, an ack and the next dequeue) leave in one
   * socket write, as one pipeline. Unlike ioredis's auto-pipelining (`setImmediate`, one
   * batch in flight at a time), a write goes out at once, however many earlier ones still
   * wait for their replies.
   */
  send(args: RedisArg[]): Promise<RedisReply> {
    return new Promise<RedisReply>((resolve, reject) => {
      this.#pending.push({ args, resolve, reject });
      if (this.#pending.length === 1) queueMicrotask(this.#flush);
    });
  }

  readonly #flush = (): void => {
    const batch = this.#pending;
    this.#pending = [];
    const client = this.#client;
    if (client !== undefined) return this.#write(client, batch);
    this.#main().then((client) => this.#write(client, batch), (error) => {
      for (const command of batch) command.reject(this.#explain(error));
    });
  };

  #write(client: IoredisClient, batch: Pending[]): void {
    if (batch.length === 0) return; // flushed early by `pipeline`
    if (batch.length > 1) batch = mergeGets(batch);
    if (batch.length === 1) {
      const { args, resolve, reject } = batch[0];
      client.call(String(args[0]), args.slice(1)).then(
        (reply) => resolve(reply as RedisReply),
        (error) => reject(this.#explain(error)),
      );
      return;
    }
    const pipeline = client.pipeline();
    for (const { args } of batch) pipeline.call(String(args[0]), args.slice(1));
    pipeline.exec().then((results) => {
      for (let i = 0; i < batch.length; i++) {
        const result = results?.[i];
        if (result === undefined) batch[i].reject(this.#explain(new Error("No reply")));
        else if (result[0]) batch[i].reject(this.#explain(result[0]));
        else batch[i].resolve(result[1] as RedisReply);
      }
    }, (error) => {
      for (const command of batch) command.reject(this.#explain(error));
    });
  }

  evalScript(script: LuaScript, keys: RedisArg[], args: RedisArg[]): Promise<RedisReply> {
    return evalWithFallback((command) => this.send(command), script, keys, args);
  }

  async pipeline(commands: RedisArg[][]): Promise<(RedisReply | Error)[]> {
    if (commands.length === 0) return [];
    const client = this.#client ?? await this.#main();
    if (this.#pending.length > 0) this.#flush(); // commands sent earlier go out first
    const pipeline = client.pipeline();
    for (const [command, ...args] of commands) pipeline.call(String(command), args);
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (error) {
      throw this.#explain(error);
    }
    return (results ?? []).map(([error, reply]) => error ?? reply as RedisReply);
  }

  async blockingPop(
    key: string,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    // BLPOP reads 0 as "forever"; a wait that short is no wait.
    if (signal?.aborted || this.#closed || !(timeout >= 0.001)) return undefined;
    const connection = this.#idle.pop() ?? await this.#openBlocking();
    if (signal?.aborted || this.#closed) {
      this.#idle.push(connection);
      return undefined;
    }
    this.#busy.add(connection);
    return await new Promise<string | undefined>((resolve, reject) => {
      let settled = false;
      const finish = (reusable: boolean): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(guard);
        signal?.removeEventListener("abort", onAbort);
        this.#busy.delete(connection);
        // A connection left blocked (abort, guard) is dropped: BLPOP cannot be taken back.
        if (reusable && !this.#closed) this.#idle.push(connection);
        else connection.disconnect();
        return true;
      };
      const onAbort = (): void => {
        if (finish(false)) resolve(undefined);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      // The server answers by the timeout; a link that died silently must not hang us.
      const guard = setTimeout(onAbort, timeout * 1000 + 2000);
      connection.call("BLPOP", [key, timeout.toFixed(3)]).then(
        (reply) => {
          if (finish(true)) resolve(Array.isArray(reply) ? String(reply[1]) : undefined);
        },
        (error) => {
          if (finish(false)) reject(this.#explain(error));
        },
      );
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const connection of [...this.#idle, ...this.#busy]) connection.disconnect();
    this.#idle.length = 0;
    this.#busy.clear();
    if (this.#url === undefined) return; // the caller's client: the caller closes it
    const client = this.#client ?? await this.#connecting?.catch(() => undefined);
    this.#client = undefined;
    this.#connecting = undefined;
    if (client === undefined) return;
    // QUIT lets replies in flight arrive; a server that is down would make it wait.
    const timer = new Promise((resolve) => setTimeout(resolve, 1000));
    await Promise.race([client.quit().catch(() => {}), timer]);
    client.disconnect();
  }

  /** The main connection, opened on first use. */
  #main(): Promise<IoredisClient> {
    if (this.#closed) {
      return Promise.reject(new Error(`Redis executor for ${this.description} is closed`));
    }
    this.#connecting ??= (async () => {
      const module = await import(CONNECT_MODULE) as ConnectModule;
      const client = module.connect(this.#url!);
      this.#watch(client);
      this.#client = client;
      return client;
    })();
    return this.#connecting;
  }

  async #openBlocking(): Promise<IoredisClient> {
    const main = this.#client ?? await this.#main();
    const connection = main.duplicate();
    this.#watch(connection);
    return connection;
  }

  /** Keeps a connection's last error (and keeps ioredis from printing it as unhandled). */
  #watch(client: IoredisClient): void {
    client.on("error", (error) => (this.#lastError = error));
    client.on("ready", () => (this.#lastError = undefined));
  }

  /** Redis error replies pass unchanged; connection failures get the server's name. */
  #explain(error: unknown): Error {
    if (!(error instanceof Error)) return new Error(String(error));
    if (/^(WRONGPASS|NOAUTH)/.test(error.message)) {
      return new Error(`Redis at ${this.description} refused the credentials: ${error.message}`, {
        cause: error,
      });
    }
    if (error.name === "ReplyError" || /^[A-Z]+ /.test(error.message)) return error;
    // ioredis's own words ("Reached the max retries per request limit…", "Connection is
    // closed.") say less than the socket error behind them.
    const reason = this.#lastError?.message ?? error.message;
    return new Error(`Redis at ${this.description} is unreachable: ${reason}`, { cause: error });
  }
}

/**
 * The batch with its single-key `GET`s as one `MGET` (a task's revocation reads: one
 * command instead of two, for the client and the server), placed where the last of them
 * was, so none is answered before a write that was sent ahead of it. Only keys with the
 * first one's hash tag are merged (an `MGET` across slots fails on a cluster).
 */
function mergeGets(batch: Pending[]): Pending[] {
  let tag: string | undefined;
  const mergeable = (args: RedisArg[]): boolean => {
    if (args.length !== 2 || args[0] !== "GET") return false;
    tag ??= hashTag(String(args[1]));
    return hashTag(String(args[1])) === tag;
  };
  let gets = 0;
  let last = -1;
  for (let i = 0; i < batch.length; i++) {
    if (mergeable(batch[i].args)) {
      gets++;
      last = i;
    }
  }
  if (gets < 2) return batch;
  const readers: Pending[] = [];
  const merged: Pending[] = [];
  for (let i = 0; i < batch.length; i++) {
    const command = batch[i];
    if (mergeable(command.args)) readers.push(command);
    else merged.push(command);
    if (i !== last) continue;
    merged.push({
      args: ["MGET", ...readers.map((reader) => reader.args[1])],
      resolve(reply) {
        const values = Array.isArray(reply) ? reply : [];
        for (let j = 0; j < readers.length; j++) readers[j].resolve(values[j] ?? null);
      },
      reject(error) {
        for (const reader of readers) reader.reject(error);
      },
    });
  }
  return merged;
}

/** The part of `key` that Redis Cluster hashes: `{tag}` when present, else the whole key. */
function hashTag(key: string): string {
  const open = key.indexOf("{");
  const close = open === -1 ? -1 : key.indexOf("}", open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** `url` without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href.replace(/\/$/, "");
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@");
  }
}

/** `redis://host:port/db` of an ioredis client (read from its options when present). */
function describeClient(client: IoredisClient): string {
  const options = (client as { options?: { host?: unknown; port?: unknown; db?: unknown } })
    .options;
  if (typeof options?.host !== "string") return "an ioredis client";
  const db = typeof options.db === "number" && options.db !== 0 ? `/${options.db}` : "";
  return `redis://${options.host}:${options.port}${db}`;
}
