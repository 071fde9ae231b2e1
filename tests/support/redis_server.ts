/**
 * A private `redis-server` for tests: started as a child process on a free port of
 * 127.0.0.1, never daemonized, stopped by its PID. Tests must not touch the shared Redis on
 * 6379 (nor FLUSHALL anything): each file starts its own.
 *
 * Works under Deno, Bun and Node (`node:child_process`, `node:net`).
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** How {@linkcode startRedisServer} runs the server. */
export interface RedisServerOptions {
  /** Append-only file on (durable across `restart`) or off (the default). */
  appendonly?: boolean;
  /** Working directory (AOF and logs); a fresh temporary one, removed on `stop`, by default. */
  dir?: string;
  /** `requirepass`: clients must AUTH with it. */
  password?: string;
  /** The port; a free one by default. Kept across `restart`. */
  port?: number;
}

/** A running private Redis. */
export interface RedisServer {
  /** 127.0.0.1 port it listens on. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>` (with the password, when one is set). */
  readonly url: string;
  /** Working directory of the server. */
  readonly dir: string;
  /** Stops the server (SIGTERM, or SIGKILL with `kill: true`) and waits for it to exit. */
  stop(options?: { kill?: boolean; keepDir?: boolean }): Promise<void>;
  /** Stops the server and starts it again on the same port and directory. */
  restart(options?: { kill?: boolean }): Promise<void>;
  /** Whether the process is running. */
  readonly running: boolean;
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a private redis-server and resolves once it answers PING. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "dewey-redis-"));
  const port = options.port ?? await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = "";

  const launch = async (): Promise<void> => {
    const args = [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      options.appendonly ? "yes" : "no",
      "--appendfsync",
      "everysec",
      "--dir",
      dir,
      "--daemonize",
      "no",
      "--protected-mode",
      "no",
    ];
    if (options.password !== undefined) args.push("--requirepass", options.password);
    const started = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    child = started;
    log = "";
    started.stdout?.on("data", (chunk) => (log += chunk));
    started.stderr?.on("data", (chunk) => (log += chunk));
    exited = new Promise((resolve) => started.once("exit", () => resolve()));
    const spawnError = new Promise<never>((_, reject) => started.once("error", reject));
    await Promise.race([waitForPing(port, options.password, 10_000, () => log), spawnError]);
  };

  const stop = async (how: { kill?: boolean; keepDir?: boolean } = {}): Promise<void> => {
    const running = child;
    child = undefined;
    if (running && running.exitCode === null && running.signalCode === null) {
      running.kill(how.kill ? "SIGKILL" : "SIGTERM");
      await exited;
    }
    if (ownDir && !how.keepDir) rmSync(dir, { recursive: true, force: true });
  };

  await launch();
  const auth = options.password === undefined ? "" : `:${encodeURIComponent(options.password)}@`;
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}`,
    dir,
    stop,
    async restart(how = {}) {
      await stop({ kill: how.kill, keepDir: true });
      await launch();
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
  };
}

/** Polls with a raw PING (and AUTH) until the server answers PONG. */
async function waitForPing(
  port: number,
  password: string | undefined,
  timeoutMs: number,
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ping(port, password)) return;
    if (Date.now() > deadline) {
      throw new Error(`redis-server on port ${port} did not start; its output:\n${log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function ping(port: number, password: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let reply = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("error", () => done(false));
    socket.on("data", (chunk) => {
      reply += chunk;
      if (reply.includes("+PONG")) done(true);
      else if (reply.includes("-")) done(false); // LOADING, NOAUTH…
    });
    socket.once("connect", () => {
      const auth = password === undefined ? "" : `AUTH ${password}\r\n`;
      socket.write(`${auth}PING\r\n`);
    });
  });
}
