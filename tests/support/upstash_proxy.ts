/**
 * An Upstash-compatible REST server for tests: what `@upstash/redis` sends
 * (RUNTIME-NOTES §8), answered by a private redis-server through a small RESP2 client.
 *
 * - `POST /` with `["CMD", …]` → `{"result": …}`, or 400 `{"error": "ERR …"}`;
 * - `POST /pipeline` with `[["CMD", …], …]` → `[{"result"}|{"error"}, …]`;
 * - `POST /multi-exec` → the same, inside MULTI … EXEC written in one socket write; a
 *   failed transaction → 400 `{"error"}`;
 * - `Authorization: Bearer <token>` required, else 401 `{"error":"Unauthorized"}`; non-POST
 *   → 405;
 * - with `Upstash-Encoding: base64`, every bulk string and every status other than `OK` is
 *   sent base64-encoded (bytes as stored), integers as numbers, nil as null.
 *
 * Each request borrows a pooled Redis connection for its round trip. Works under Deno, Bun
 * and Node (`node:http`, `node:net`).
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createConnection, type Socket } from "node:net";
import { Buffer } from "node:buffer";

/** A running proxy. */
export interface UpstashProxy {
  /** `http://127.0.0.1:<port>`, for `UPSTASH_REDIS_REST_URL`. */
  readonly url: string;
  /** The token it accepts. */
  readonly token: string;
  /** HTTP requests received so far (each is one round trip of a client). */
  readonly requests: number;
  /** Stops listening and closes its Redis connections. */
  close(): Promise<void>;
}

/** Where the proxy forwards, and the token it wants. */
export interface UpstashProxyOptions {
  /** Port of the redis-server on 127.0.0.1. */
  redisPort: number;
  /** The bearer token clients must send. */
  token?: string;
  /** AUTH password of the redis-server, if it has one. */
  redisPassword?: string;
}

/** Starts the proxy on a free port of 127.0.0.1. */
export async function startUpstashProxy(options: UpstashProxyOptions): Promise<UpstashProxy> {
  const token = options.token ?? "test-token";
  const pool = new ConnectionPool(options.redisPort, options.redisPassword);
  let requests = 0;
  const server = createServer((request, response) => {
    requests++;
    handle(request, response, token, pool).catch((error) => {
      reply(response, 500, { error: `proxy failure: ${(error as Error).message}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    get requests() {
      return requests;
    },
    async close() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      pool.close();
    },
  };
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  token: string,
  pool: ConnectionPool,
): Promise<void> {
  const body = await readBody(request);
  if (request.method !== "POST") return reply(response, 405, { error: "Method not allowed" });
  if (request.headers.authorization !== `Bearer ${token}`) {
    return reply(response, 401, { error: "Unauthorized" });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return reply(response, 400, { error: "ERR failed to parse request body" });
  }
  const base64 = String(request.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
  const path = new URL(request.url ?? "/", "http://proxy").pathname.replace(/\/+$/, "");
  const encode = (value: Resp): unknown => encodeValue(value, base64);
  if (path === "") {
    if (!isCommand(parsed)) return reply(response, 400, { error: "ERR expected a command" });
    const [result] = await pool.run([parsed]);
    if (result instanceof Error) return reply(response, 400, { error: result.message });
    return reply(response, 200, { result: encode(result) });
  }
  if (path === "/pipeline" || path === "/multi-exec") {
    if (!Array.isArray(parsed) || !parsed.every(isCommand)) {
      return reply(response, 400, { error: "ERR expected an array of commands" });
    }
    if (path === "/pipeline") {
      const results = await pool.run(parsed);
      return reply(response, 200, results.map((result) => entry(result, encode)));
    }
    const results = await pool.run([["MULTI"], ...parsed, ["EXEC"]]);
    const exec = results[results.length - 1];
    if (exec instanceof Error) return reply(response, 400, { error: exec.message });
    if (!Array.isArray(exec)) return reply(response, 400, { error: "ERR transaction aborted" });
    return reply(response, 200, exec.map((result) => entry(result, encode)));
  }
  return reply(response, 404, { error: `ERR unknown path ${path}` });
}

function entry(result: Resp, encode: (value: Resp) => unknown): unknown {
  return result instanceof Error ? { error: result.message } : { result: encode(result) };
}

function isCommand(value: unknown): value is (string | number | boolean)[] {
  return Array.isArray(value) && value.length > 0 &&
    value.every((item) => ["string", "number", "boolean"].includes(typeof item));
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  response.end(text);
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

// --- RESP2 -------------------------------------------------------------------------------

/** A status reply (`+OK`), kept apart from bulk strings for the encoding rules. */
class Status {
  constructor(readonly text: string) {}
}

type Resp = Buffer | Status | number | null | Error | Resp[];

function encodeValue(value: Resp, base64: boolean): unknown {
  if (value === null || typeof value === "number") return value;
  if (value instanceof Status) {
    return base64 && value.text !== "OK"
      ? Buffer.from(value.text, "utf8").toString("base64")
      : value.text;
  }
  if (value instanceof Error) return value.message;
  if (Array.isArray(value)) return value.map((item) => encodeValue(item, base64));
  return base64 ? value.toString("base64") : value.toString("utf8");
}

function encodeCommand(args: (string | number | boolean)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(String(arg), "utf8");
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

/** Parses one reply at `offset`: the value and the next offset, or undefined if incomplete. */
function parse(buffer: Buffer, offset: number): [Resp, number] | undefined {
  const lineEnd = buffer.indexOf("\r\n", offset);
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(buffer[offset]);
  const line = buffer.toString("utf8", offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case "+":
      return [new Status(line), next];
    case "-":
      return [new Error(line), next];
    case ":":
      return [Number(line), next];
    case "$": {
      const length = Number(line);
      if (length < 0) return [null, next];
      if (buffer.length < next + length + 2) return undefined;
      return [buffer.subarray(next, next + length), next + length + 2];
    }
    case "*": {
      const count = Number(line);
      if (count < 0) return [null, next];
      const items: Resp[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const parsed = parse(buffer, at);
        if (parsed === undefined) return undefined;
        items.push(parsed[0]);
        at = parsed[1];
      }
      return [items, at];
    }
    default:
      throw new Error(`Unexpected RESP type "${type}"`);
  }
}

/** One Redis connection: writes a batch of commands at once, reads as many replies. */
class Connection {
  #buffer: Buffer = Buffer.alloc(0);
  #waiting?: {
    count: number;
    replies: Resp[];
    resolve(replies: Resp[]): void;
    reject(error: Error): void;
  };
  broken = false;

  constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    const fail = (error: Error) => {
      this.broken = true;
      this.#waiting?.reject(error);
      this.#waiting = undefined;
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("Redis connection closed")));
  }

  run(commands: (string | number | boolean)[][]): Promise<Resp[]> {
    return new Promise((resolve, reject) => {
      this.#waiting = { count: commands.length, replies: [], resolve, reject };
      this.socket.write(Buffer.concat(commands.map(encodeCommand)));
    });
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    let offset = 0;
    while (waiting.replies.length < waiting.count) {
      const parsed = parse(this.#buffer, offset);
      if (parsed === undefined) break;
      waiting.replies.push(parsed[0]);
      offset = parsed[1];
    }
    this.#buffer = this.#buffer.subarray(offset);
    if (waiting.replies.length === waiting.count) {
      this.#waiting = undefined;
      waiting.resolve(waiting.replies);
    }
  }
}

class ConnectionPool {
  readonly #idle: Connection[] = [];
  readonly #all = new Set<Connection>();

  constructor(readonly port: number, readonly password: string | undefined) {}

  async run(commands: (string | number | boolean)[][]): Promise<Resp[]> {
    let connection = this.#idle.pop();
    while (connection?.broken) {
      this.#drop(connection);
      connection = this.#idle.pop();
    }
    connection ??= await this.#open();
    try {
      const replies = await connection.run(commands);
      this.#idle.push(connection);
      return replies;
    } catch (error) {
      this.#drop(connection);
      throw error;
    }
  }

  close(): void {
    for (const connection of this.#all) connection.socket.destroy();
    this.#all.clear();
    this.#idle.length = 0;
  }

  async #open(): Promise<Connection> {
    const socket = createConnection({ host: "127.0.0.1", port: this.port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const connection = new Connection(socket);
    this.#all.add(connection);
    if (this.password !== undefined) {
      const [auth] = await connection.run([["AUTH", this.password]]);
      if (auth instanceof Error) throw auth;
    }
    return connection;
  }

  #drop(connection: Connection): void {
    connection.socket.destroy();
    this.#all.delete(connection);
  }
}
