/**
 * workerd (Cloudflare's Workers runtime, npm `workerd`) for tests: bundles a Worker module
 * for the browser platform with Bun, writes a config that lets the Worker `fetch` loopback
 * addresses (RUNTIME-NOTES §7) and passes text bindings, and runs `workerd serve` on a free
 * port of 127.0.0.1 as a child process, stopped by its PID.
 *
 * Works under Deno, Bun and Node (`node:child_process`).
 *
 * @module
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { root } from "./cli.ts";
import { freePort } from "./redis_server.ts";

/** A running workerd. */
export interface Workerd {
  /** `http://127.0.0.1:<port>`, where the Worker answers. */
  readonly url: string;
  /** Everything workerd wrote to stdout and stderr so far. */
  output(): string;
  /** Stops workerd (SIGKILL: it keeps no state) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Bundles `entry` (a path relative to the repository root) into `dir/worker.js` with
 * `bun build --target=browser --format=esm`; the bundle's path. Throws with Bun's output
 * when bundling fails.
 */
export function bundleWorker(entry: string, dir: string): string {
  const out = join(dir, "worker.js");
  const result = spawnSync(
    join(root, "node_modules", ".bin", "bun"),
    ["build", entry, "--target=browser", "--format=esm", `--outfile=${out}`],
    { cwd: root, encoding: "utf8", timeout: 60_000 },
  );
  if (result.status !== 0) {
    throw new Error(`bun build ${entry} failed (${result.status}):\n${result.stderr}`);
  }
  return out;
}

/** A capnp text literal of printable ASCII (where capnp and JSON escapes agree). */
function capnpText(value: string): string {
  if (!/^[\x20-\x7e]*$/.test(value)) {
    throw new TypeError(`Only printable ASCII goes into a capnp config: ${JSON.stringify(value)}`);
  }
  return JSON.stringify(value);
}

/** The workerd config: one Worker on `port`, loopback fetch allowed, text bindings. */
export function workerdConfig(
  script: string,
  port: number,
  bindings: Record<string, string>,
): string {
  const texts = Object.entries(bindings)
    .map(([name, text]) => `(name = ${capnpText(name)}, text = ${capnpText(text)})`)
    .join(", ");
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .mainWorker),
               (name = "internet", network = (allow = ["public", "private", "local"])) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ] );
const mainWorker :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed ${capnpText(script)}) ],
  bindings = [ ${texts} ],
  compatibilityDate = "2024-09-01",
  globalOutbound = "internet" );
`;
}

/**
 * Writes `dir/config.capnp` for the bundled Worker `script` (a file in `dir`) and starts
 * `workerd serve` on it; resolves once the port accepts connections.
 */
export async function startWorkerd(
  dir: string,
  script: string,
  bindings: Record<string, string>,
): Promise<Workerd> {
  const port = await freePort();
  const config = join(dir, "config.capnp");
  writeFileSync(config, workerdConfig(script, port, bindings));
  const child: ChildProcess = spawn(
    join(root, "node_modules", ".bin", "workerd"),
    ["serve", config],
    { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", (error) => {
      output += `spawn failed: ${error.message}`;
      resolve();
    });
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  const deadline = Date.now() + 20_000;
  while (!await accepts(port)) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`workerd did not start on port ${port}; its output:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { url: `http://127.0.0.1:${port}`, output: () => output, stop };
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => done(true));
  });
}
