/**
 * Helpers of the end-to-end consumer tests: temporary directories, consumers started
 * through `cli.ts consume` with the runtime running the tests, polling with a deadline,
 * and fresh PostgreSQL databases.
 *
 * @module
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { POSTGRES_SERVER } from "../fixtures/e2e_tasks.ts";
import { type CliProcess, startCli } from "./cli.ts";

/** The fixture module, relative to the repository root (the consumers' working directory). */
export const FIXTURE = "tests/fixtures/e2e_tasks.ts";

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Starts a consumer on the fixture: `cli.ts consume <fixture> args…` with `env` added. */
export type Spawn = (
  args: readonly string[],
  env: Record<string, string>,
  options?: { waitStarted?: boolean },
) => Promise<CliProcess>;

/** What `withSandbox` gives its body. */
export interface Sandbox {
  /** A fresh temporary directory, removed afterwards. */
  dir: string;
  /**
   * Starts a consumer and, unless `waitStarted` is false, resolves once it logged that it
   * started (a worker or process pool may still be starting its workers then). It is
   * killed at the end if it is still running.
   */
  spawn: Spawn;
}

/**
 * Runs `body` with a fresh temporary directory and a way to start consumers, then kills
 * every consumer still running (SIGKILL) and removes the directory, whatever happened.
 */
export async function withSandbox(body: (sandbox: Sandbox) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "dewey-e2e-"));
  const started: CliProcess[] = [];
  const spawn: Spawn = async (args, env, options) => {
    const cli = startCli(["consume", FIXTURE, ...args], env);
    started.push(cli);
    if (options?.waitStarted !== false) {
      await cli.waitForStderr(/Dewey consumer started/, 30_000);
    }
    return cli;
  };
  try {
    await body({ dir, spawn });
  } finally {
    for (const cli of started) cli.kill();
    // Let the killed processes go before their files are removed.
    await Promise.all(started.map((cli) => cli.exited(10_000).catch(() => null)));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sends SIGTERM and asserts a clean exit (code 0) within `timeoutMs`. */
export async function stopConsumer(cli: CliProcess, timeoutMs = 20_000): Promise<void> {
  cli.signal("SIGTERM");
  const code = await cli.exited(timeoutMs);
  assert.equal(code, 0, `consumer exit code ${code}; stderr:\n${tail(cli.stderr())}`);
}

/** The last `lines` lines of `text` (for failure messages). */
export function tail(text: string, lines = 40): string {
  return text.split("\n").slice(-lines).join("\n");
}

/**
 * Polls `check` every `intervalMs` until it returns a value other than `undefined` or
 * `false`; fails with `what` and the last value seen after `timeoutMs`.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 20_000, intervalMs = 100, describe = () => "" }: {
    timeoutMs?: number;
    intervalMs?: number;
    describe?: () => string;
  } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${describe()}`);
    }
    await sleep(intervalMs);
  }
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${POSTGRES_SERVER}/postgres` });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new Error(
      `PostgreSQL is not reachable at ${POSTGRES_SERVER} (${(error as Error).message}); ` +
        "start it or set DEWEY_TEST_POSTGRES to a server URL without a database name",
    );
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates a fresh, empty PostgreSQL database; its name. */
export async function createPgDatabase(): Promise<string> {
  const name = `dewey_e2e_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await admin((client) => client.query(`create database ${name}`));
  return name;
}

/** Drops a database made by `createPgDatabase`, once its connections are gone (≤ 5 s). */
export async function dropPgDatabase(name: string): Promise<void> {
  await admin(async (client) => {
    for (let i = 0; i < 100; i++) {
      const { rows } = await client.query(
        "select count(*)::int as n from pg_stat_activity where datname = $1",
        [name],
      );
      if (rows[0].n === 0) break;
      await sleep(50);
    }
    await client.query(`drop database if exists ${name} with (force)`);
  });
}
