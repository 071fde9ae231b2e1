/**
 * The Upstash REST executor: Redis over HTTPS through `@upstash/redis`, for serverless and
 * edge producers (and consumers that poll). It sends each command as one `POST` and a
 * pipeline to `/pipeline`, through the client's own request layer: the values stay the
 * exact strings Redis holds (the client's high-level commands would parse JSON-looking
 * values), while its base64 response decoding and retries on network errors still apply.
 *
 * `@upstash/redis` is imported only when this executor builds a client itself (from a URL
 * and token), and then its `cloudflare` build, which needs nothing but `fetch`.
 *
 * @module
 */

import type { LuaScript, RedisArg, RedisExecutor, RedisReply } from "./executor.ts";
import { evalWithFallback } from "./executor.ts";

/**
 * An `@upstash/redis` client (`new Redis({ url, token })`), by shape: any of its builds
 * (`@upstash/redis`, `/cloudflare`, `/fastly`) will do. The executor sends its commands
 * through the client's request layer, so the client's `automaticDeserialization` setting
 * does not matter.
 *
 * @example
 * ```ts
 * import { type UpstashClient, upstashExecutor } from "@dewey/dewey/redis";
 *
 * // With @upstash/redis: const client: UpstashClient = new Redis({ url, token });
 * export function executorFor(client: UpstashClient) {
 *   return upstashExecutor(client);
 * }
 * ```
 */
export interface UpstashClient {
  /**
   * Runs any command (the client's generic `exec`). The executor itself sends through the
   * client's HTTP requester (`client.request`, which every `@upstash/redis` client has, but
   * which is not public in its types), so a look-alike object with only `exec` is refused.
   */
  exec(args: [command: string, ...args: (string | number | boolean)[]]): Promise<unknown>;
}

/**
 * Where an Upstash REST executor connects.
 *
 * @example
 * ```ts
 * import { upstashExecutor, type UpstashExecutorOptions } from "@dewey/dewey/redis";
 *
 * const options: UpstashExecutorOptions = { url: "https://eu1-demo.upstash.io", token: "…" };
 * const executor = upstashExecutor(options); // no request is sent yet
 * console.log(executor.description); // "https://eu1-demo.upstash.io"
 * ```
 */
export interface UpstashExecutorOptions {
  /** The database's REST URL (`UPSTASH_REDIS_REST_URL`), `https://…` (or `http://`). */
  url: string;
  /** Its REST token (`UPSTASH_REDIS_REST_TOKEN`); never shown in error messages. */
  token: string;
}

/** The request layer of an `@upstash/redis` client (its `HttpClient`). */
interface Requester {
  request(req: { path?: string[]; body?: unknown }): Promise<unknown>;
}

/**
 * An executor over Upstash's REST API. Give the URL and token (the executor builds an
 * `@upstash/redis` client on first use) or a client of yours. It has no blocking pop: HTTP
 * cannot block, so a consumer on it polls, and result waits poll too.
 *
 * @example
 * ```ts
 * import { RedisStorage, upstashExecutor } from "@dewey/dewey/redis";
 *
 * const executor = upstashExecutor({ url: "https://eu1-demo.upstash.io", token: "…" });
 * const storage = new RedisStorage({ executor });
 * console.log(storage.waitForMessage); // undefined: consumers poll over REST
 * ```
 */
export function upstashExecutor(target: UpstashClient | UpstashExecutorOptions): RedisExecutor {
  return new UpstashExecutor(target);
}

class UpstashExecutor implements RedisExecutor {
  readonly description: string;
  readonly #options?: UpstashExecutorOptions;
  #requester?: Requester;
  #loading?: Promise<Requester>;

  constructor(target: UpstashClient | UpstashExecutorOptions) {
    if ("url" in target && typeof target.url === "string") {
      if (!/^https?:\/\//i.test(target.url)) {
        throw new TypeError(`Expected an https:// Upstash REST URL, got "${target.url}"`);
      }
      if (typeof target.token !== "string" || target.token === "") {
        throw new TypeError(`An Upstash REST URL needs its token (${target.url})`);
      }
      this.#options = { url: target.url.replace(/\/+$/, ""), token: target.token };
      this.description = this.#options.url;
    } else {
      const requester = (target as { client?: Partial<Requester> & { baseUrl?: unknown } })
        .client;
      if (typeof requester?.request !== "function") {
        throw new TypeError("Expected an @upstash/redis Redis client (or { url, token })");
      }
      this.#requester = requester as Requester;
      this.description = typeof requester.baseUrl === "string"
        ? requester.baseUrl
        : "an Upstash REST client";
    }
  }

  async send(args: RedisArg[]): Promise<RedisReply> {
    const response = await this.#request([], args.map(String)) as Reply;
    if (typeof response?.error === "string") throw new Error(response.error);
    return (response?.result ?? null) as RedisReply;
  }

  evalScript(script: LuaScript, keys: RedisArg[], args: RedisArg[]): Promise<RedisReply> {
    return evalWithFallback((command) => this.send(command), script, keys, args);
  }

  async pipeline(commands: RedisArg[][]): Promise<(RedisReply | Error)[]> {
    if (commands.length === 0) return [];
    const body = commands.map((command) => command.map(String));
    const response = await this.#request(["pipeline"], body);
    if (!Array.isArray(response) || response.length !== commands.length) {
      throw new Error(`Upstash Redis at ${this.description} sent a malformed pipeline reply`);
    }
    return (response as Reply[]).map((reply) =>
      typeof reply?.error === "string" ? new Error(reply.error) : (reply?.result ?? null)
    );
  }

  close(): Promise<void> {
    return Promise.resolve(); // HTTP keeps nothing open
  }

  async #request(path: string[], body: unknown): Promise<unknown> {
    const requester = this.#requester ?? await this.#load();
    try {
      return await requester.request({ path, body });
    } catch (error) {
      throw this.#explain(error);
    }
  }

  #load(): Promise<Requester> {
    this.#loading ??= (async () => {
      const { url, token } = this.#options!;
      const { Redis } = await import("@upstash/redis/cloudflare");
      const client = new Redis({
        url,
        token,
        enableTelemetry: false,
        enableAutoPipelining: false,
        automaticDeserialization: false,
      });
      // The request layer is a protected member in the client's types, public at run time.
      this.#requester = (client as unknown as { client: Requester }).client;
      return this.#requester;
    })();
    return this.#loading;
  }

  /**
   * Redis error replies keep their message (`ERR …`, `NOSCRIPT …`); HTTP and network
   * failures name the URL. Never the token, nor the command (it may hold user data).
   */
  #explain(error: unknown): Error {
    let message = error instanceof Error ? error.message : String(error);
    // UpstashError appends ", command was: <the JSON body>".
    message = message.replace(/, command was: [\s\S]*$/, "");
    if (this.#options) message = message.replaceAll(this.#options.token, "***");
    if (/^[A-Z]+ /.test(message)) return new Error(message, { cause: error });
    const what = error instanceof Error && error.name === "UpstashError"
      ? /unauthori[sz]ed/i.test(message) ? "refused the token" : "failed"
      : "is unreachable";
    return new Error(`Upstash Redis at ${this.description} ${what}: ${message}`, { cause: error });
  }
}

interface Reply {
  result?: RedisReply;
  error?: unknown;
}
