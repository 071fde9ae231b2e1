/**
 * Runs `cli.ts` in a child process with the runtime running the tests: `deno run -A
 * cli.ts …` under `deno test`, `bun cli.ts …` under `bun test`.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository's root directory (the children's working directory). */
export const root: string = fileURLToPath(new URL("../../", import.meta.url));

/** Whether the tests run under Bun. */
export const isBun: boolean = "Bun" in globalThis;

/** The command and arguments that run `cli.ts args…` with this runtime. */
export function cliCommand(args: readonly string[]): [string, string[]] {
  const bin = (name: string) => join(root, "node_modules", ".bin", name);
  return isBun
    ? [bin("bun"), ["cli.ts", ...args]]
    : [bin("deno"), ["run", "-A", "cli.ts", ...args]];
}

/** A running `cli.ts` process. */
export interface CliProcess {
  /** The child process. */
  readonly child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves once stderr matches `pattern`; rejects after `timeoutMs` or on exit. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /**
   * Sends `signal` to the process. (Not `child.kill()`: Deno's sends only the first signal
   * and then reports the exit as killed by it, whatever the child's exit code.)
   */
  signal(signal: "SIGINT" | "SIGTERM"): void;
  /** Resolves with the exit code once the process has ended and its output is read. */
  exited(timeoutMs?: number): Promise<number | null>;
  /** Kills the process (SIGKILL) if it is still running. */
  kill(): void;
}

/** Starts `cli.ts args…`; `env` is added to this process's environment. */
export function startCli(args: readonly string[], env: Record<string, string> = {}): CliProcess {
  const [command, commandArgs] = cliCommand(args);
  const child = spawn(command, commandArgs, {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((listener) => listener());
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
    notify();
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
    notify();
  });
  let closed = false;
  let code: number | null = null;
  const close = new Promise<void>((resolve) => {
    child.on("close", (exitCode) => {
      closed = true;
      code = exitCode;
      notify();
      resolve();
    });
    child.on("error", (error) => {
      err += `spawn failed: ${error.message}`;
      closed = true;
      notify();
      resolve();
    });
  });

  /** Resolves when `ready()` holds; rejects with `what` after `timeoutMs`. */
  function until(ready: () => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (ready()) finish(resolve);
        else if (closed) finish(() => reject(new Error(`${what}: the process exited\n${err}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`${what}: timed out after ${timeoutMs} ms\n${err}`))),
        timeoutMs,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      check();
    });
  }

  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitForStderr: (pattern, timeoutMs = 20_000) =>
      until(() => pattern.test(err), `waiting for ${pattern} on stderr`, timeoutMs),
    exited: async (timeoutMs = 20_000) => {
      await until(() => closed, "waiting for the exit", timeoutMs);
      await close;
      return code;
    },
    signal: (signal) => {
      process.kill(child.pid!, signal);
    },
    kill: () => {
      if (!closed && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

/** The outcome of a finished `cli.ts` run. */
export interface CliResult {
  /** Exit code. */
  code: number | null;
  /** stdout. */
  stdout: string;
  /** stderr. */
  stderr: string;
}

/** Runs `cli.ts args…` to the end (killed after `timeoutMs`). */
export async function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<CliResult> {
  const cli = startCli(args, env);
  try {
    const code = await cli.exited(timeoutMs);
    return { code, stdout: cli.stdout(), stderr: cli.stderr() };
  } finally {
    cli.kill();
  }
}

/** The non-empty lines of `text`. */
export function lines(text: string): string[] {
  return text.split("\n").filter((line) => line.trim() !== "");
}
