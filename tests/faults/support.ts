/**
 * The fault-injection harness: seeded randomness, fleets of real consumer processes
 * (started, SIGKILLed, restarted), the ids the tasks recorded, the figures each scenario
 * reports, and the storage targets the scenarios run on.
 *
 * A storage target ({@linkcode FaultTarget}) says how to make a fresh, empty storage for
 * one scenario and which secrets its location holds; the scenarios
 * (`tests/faults/scenarios.ts`) run unchanged on every target. A new backend adds one entry
 * to `STORAGES` in `tests/faults/fixture.ts` and one target here.
 *
 * @module
 */

import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type CliProcess, isBun, startCli } from "../support/cli.ts";
import { startRedisServer } from "../support/redis_server.ts";
import { createFaultApp, type FaultApp, type FaultConfig, faultEnv } from "./fixture.ts";

/** The consumers' task module, relative to the repository root. */
export const FAULT_FIXTURE = "tests/faults/fixture.ts";

/** The runtime running the tests (and the consumers it starts). */
export const RUNTIME: "deno" | "bun" = isBun ? "bun" : "deno";

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------
// Seeded randomness

/** A seeded pseudo-random generator (sfc32): the same seed gives the same sequence. */
export interface Random {
  /** The seed, printed so a failure can be replayed. */
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** One element of `items`. */
  pick<T>(items: readonly T[]): T;
}

/** A generator seeded with `seed`. */
export function seededRandom(seed: number): Random {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const next = () => {
    a >>>= 0, b >>>= 0, c >>>= 0, d >>>= 0;
    const t = (a + b | 0) + d | 0;
    d = d + 1 | 0;
    a = b ^ b >>> 9;
    b = c + (c << 3) | 0;
    c = c << 21 | c >>> 11;
    c = c + t | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next(); // let the seed spread through the state
  return {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)],
  };
}

/**
 * The generator of one test: seeded by `DEWEY_FAULTS_SEED` when set, else by a fresh
 * random seed. Prints `label: seed N (replay: DEWEY_FAULTS_SEED=N)`.
 */
export function testRandom(label: string): Random {
  const fromEnv = process.env.DEWEY_FAULTS_SEED;
  const seed = fromEnv ? Number(fromEnv) >>> 0 : Math.floor(Math.random() * 2 ** 32);
  console.log(`${label}: seed ${seed} (replay: DEWEY_FAULTS_SEED=${seed})`);
  return seededRandom(seed);
}

// ---------------------------------------------------------------------------------------
// Storage targets

/** A fresh storage for one scenario. */
export interface FaultStorage {
  /** Where it lives (`DEWEY_FAULTS_LOCATION`). */
  location: string;
  /** Removes it (after every process using it is gone). */
  destroy(): Promise<void>;
  /**
   * Stops the server holding it (SIGTERM: a clean shutdown; SIGKILL with `kill`), keeping
   * its data on disk. Only storages made with `{ restartable: true }` have it.
   */
  stopServer?(options?: { kill?: boolean }): Promise<void>;
  /** Starts the stopped server again on the same address and data, once it answers. */
  startServer?(): Promise<void>;
}

/** A storage the scenarios run on. */
export interface FaultTarget {
  /** The name in test titles and figures, e.g. `"SQLite"`. */
  label: string;
  /** The key of `STORAGES` in `tests/faults/fixture.ts`. */
  storage: string;
  /**
   * Makes a fresh, empty storage; `dir` is the scenario's temporary directory. With
   * `restartable` (targets that say so), on a server that persists every write and has
   * `stopServer` / `startServer`.
   */
  create(dir: string, options?: { restartable?: boolean }): Promise<FaultStorage>;
  /** Secrets the location holds (a password in a URL), which no log may show. */
  secrets: string[];
  /** Whether `create` can make a restartable storage (scenario e runs on it). */
  restartable?: boolean;
}

/** SQLite: a fresh file in the scenario's directory. */
export const sqliteTarget: FaultTarget = {
  label: "SQLite",
  storage: "sqlite",
  create: (dir) => Promise.resolve({ location: join(dir, "queue.db"), destroy: async () => {} }),
  secrets: [],
};

/** The password of every Redis target server: a real secret for the log scans. */
const REDIS_PASSWORD = `redis-pw-${crypto.randomUUID()}`;

/**
 * Redis over TCP: a private `redis-server` per scenario on a free port of 127.0.0.1, with
 * `requirepass` (the password is in the URL every process connects with, so the log scans
 * look for it). Restartable: `appendonly yes` with `appendfsync everysec`.
 */
export const redisTarget: FaultTarget = {
  label: "Redis",
  storage: "redis",
  async create(_dir, options = {}) {
    const server = await startRedisServer({
      password: REDIS_PASSWORD,
      appendonly: options.restartable ?? false,
    });
    const storage: FaultStorage = { location: server.url, destroy: () => server.stop() };
    if (options.restartable) {
      storage.stopServer = (how = {}) => server.stop({ kill: how.kill, keepDir: true });
      storage.startServer = () => server.restart();
    }
    return storage;
  },
  secrets: [REDIS_PASSWORD],
  restartable: true,
};

// ---------------------------------------------------------------------------------------
// Consumer fleets

/**
 * Consumer processes (`cli.ts consume` on the fault fixture, run by the runtime running
 * the tests) that can be killed and restarted. Keeps the output of every process it
 * ever started, for the log checks.
 */
export class Fleet {
  readonly #args: readonly string[];
  readonly #env: Record<string, string>;
  readonly #members: CliProcess[] = [];
  readonly #all: CliProcess[] = [];

  /** `args`: the consume flags; `env`: the fixture's environment. */
  constructor(args: readonly string[], env: Record<string, string>) {
    this.#args = args;
    this.#env = env;
  }

  /** The running members, by slot. */
  get members(): readonly CliProcess[] {
    return this.#members;
  }

  /** Starts `count` consumers and waits until each logged that it started. */
  async start(count: number): Promise<void> {
    const started = Array.from({ length: count }, () => this.#spawn());
    this.#members.push(...started);
    await Promise.all(started.map((cli) => this.#ready(cli)));
  }

  /** SIGKILLs the consumer in `slot` and waits for its exit. */
  async kill(slot: number): Promise<void> {
    const cli = this.#members[slot];
    process.kill(cli.child.pid!, "SIGKILL");
    await cli.exited(20_000);
  }

  /** Starts a new consumer in `slot` (after `kill`) and waits until it started. */
  async restart(slot: number): Promise<CliProcess> {
    const cli = this.#spawn();
    this.#members[slot] = cli;
    await this.#ready(cli);
    return cli;
  }

  /** Whether every member is still running. */
  allRunning(): boolean {
    return this.#members.every((cli) => cli.child.exitCode === null && !cli.child.signalCode);
  }

  /** Everything every process ever started wrote (stdout and stderr). */
  output(): string {
    return this.#all.map((cli) => cli.stdout() + cli.stderr()).join("\n");
  }

  /** The last lines of each member's stderr (for failure messages). */
  tails(lines = 8): string {
    return this.#members.map((cli, slot) =>
      `--- consumer ${slot} (pid ${cli.child.pid}):\n${
        cli.stderr().split("\n").slice(-lines).join("\n")
      }`
    ).join("\n");
  }

  /** SIGTERMs every member and asserts each exits with code 0. */
  async stop(): Promise<void> {
    for (const cli of this.#members) cli.signal("SIGTERM");
    const codes = await Promise.all(this.#members.map((cli) => cli.exited(30_000)));
    assert.deepEqual(codes, this.#members.map(() => 0), `exit codes\n${this.tails()}`);
  }

  /** SIGKILLs whatever still runs and waits for it (the scenario's clean-up). */
  async dispose(): Promise<void> {
    for (const cli of this.#all) cli.kill();
    await Promise.all(this.#all.map((cli) => cli.exited(10_000).catch(() => null)));
  }

  #spawn(): CliProcess {
    const cli = startCli(["consume", FAULT_FIXTURE, ...this.#args], this.#env);
    this.#all.push(cli);
    return cli;
  }

  #ready(cli: CliProcess): Promise<void> {
    return cli.waitForStderr(/Dewey consumer started/, 30_000);
  }
}

// ---------------------------------------------------------------------------------------
// Recorded ids

/** How often each id was recorded, over every process's file in `out`. */
export function readRecords(out: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const file of readdirSync(out)) {
    for (const line of readFileSync(join(out, file), "utf8").split("\n")) {
      if (line === "") continue;
      const id = Number(line);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return counts;
}

/** The number of ids recorded in `out`, counting repeats (cheap enough to poll). */
export function recordedLines(out: string): number {
  let lines = 0;
  for (const file of readdirSync(out)) {
    const text = readFileSync(join(out, file), "latin1");
    for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) lines++;
  }
  return lines;
}

/** Lines recorded by one process (its file is `<pid>.ids`). */
export function recordedBy(out: string, pid: number): number {
  try {
    const text = readFileSync(join(out, `${pid}.ids`), "latin1");
    return text.split("\n").length - 1;
  } catch {
    return 0;
  }
}

/** Lost ids (never recorded) and duplicates (extra records) of ids `0 … tasks-1`. */
export function tally(
  counts: Map<number, number>,
  tasks: number,
): { lost: number[]; duplicates: number; strays: number[] } {
  const lost: number[] = [];
  let duplicates = 0;
  for (let id = 0; id < tasks; id++) {
    const n = counts.get(id) ?? 0;
    if (n === 0) lost.push(id);
    else duplicates += n - 1;
  }
  const strays = [...counts.keys()].filter((id) =>
    !(Number.isInteger(id) && id >= 0 && id < tasks)
  );
  return { lost, duplicates, strays };
}

// ---------------------------------------------------------------------------------------
// Figures

/** One scenario's figures: one JSON line of `DEWEY_FAULTS_REPORT`. */
export interface Figures {
  /** Scenario name, e.g. `"a. SIGKILL"`. */
  scenario: string;
  /** The target's label. */
  storage: string;
  /** The runtime of the test and its consumers. */
  runtime: string;
  /** Consumer processes at once. */
  consumers: number;
  /** Tasks (good messages) enqueued. */
  tasks: number;
  /** Bad messages mixed in. */
  bad: number;
  /** SIGKILLs. */
  kills: number;
  /** Restarts of the storage's server (scenario e). */
  restarts?: number;
  /** How the server was stopped for its restart: `"SIGTERM"` or `"SIGKILL"`. */
  restartSignal?: string;
  /** Milliseconds the server was down (from the stop to its answering again). */
  outageMs?: number;
  /** Ids never recorded. */
  lost: number;
  /** Extra records of ids recorded more than once. */
  duplicates: number;
  /** Workers × kills: the brief's bound on `duplicates`, assuming a slot holds one lease. */
  duplicateBound?: number;
  /** Leases returned after expiring: the tasks in flight at the kills, measured. */
  inFlightAtKills?: number;
  /** Leases of live consumers that expired before renewal (their warnings summed). */
  leaseLapses?: number;
  /** Dead-letter entries at the end. */
  deadLettered: number;
  /** Secrets found in the captured logs (asserted 0). */
  secretsInLogs: number;
  /** Bytes of log captured and scanned. */
  logBytes: number;
  /** From the first enqueue to the last check, milliseconds. */
  wallMs: number;
  /** The scenario's seed. */
  seed?: number;
  /** Whether every assertion held (set when the scenario ends). */
  passed?: boolean;
  /** The first line of the failure, when it failed. */
  failure?: string;
}

/** The codec fuzz's figures: one JSON line of `DEWEY_FAULTS_REPORT`. */
export interface FuzzFigures {
  /** What was fuzzed, e.g. `"codec fuzz: decode"`. */
  scenario: string;
  /** The runtime. */
  runtime: string;
  /** Cases run. */
  cases: number;
  /** Cases that decoded to a value. */
  decoded: number;
  /** Cases refused with `DecodeError`. */
  rejected: number;
  /** Cases that threw anything else (asserted 0). */
  failures: number;
  /** Milliseconds. */
  wallMs: number;
  /** The seed. */
  seed: number;
}

/**
 * Prints `figures: {…}` and, when `DEWEY_FAULTS_REPORT` names a file, appends the same
 * JSON as one line to it (read by `scripts/faults_report.mjs`).
 */
export function reportFigures(figures: Figures | FuzzFigures): void {
  const line = JSON.stringify(figures);
  console.log(`figures: ${line}`);
  const file = process.env.DEWEY_FAULTS_REPORT;
  if (file) appendFileSync(file, `${line}\n`);
}

/**
 * Sums the consumers' "Returned N task(s) with expired leases" warnings in `output`: the
 * leases dead (or stalled) consumers held, i.e. the tasks in flight at the kills.
 */
export function returnedLeases(output: string): number {
  let returned = 0;
  for (const m of output.matchAll(/Returned (\d+) task\(s\) with expired leases/g)) {
    returned += Number(m[1]);
  }
  return returned;
}

/** Sums the consumers' "N lease(s) expired before renewal" warnings in `output`. */
export function leaseLapses(output: string): number {
  let lapses = 0;
  for (const m of output.matchAll(/(\d+) lease\(s\) expired before renewal/g)) {
    lapses += Number(m[1]);
  }
  return lapses;
}

// ---------------------------------------------------------------------------------------
// Secrets

/** How many of `secrets` occur in `text` (each counted once). */
export function secretsIn(text: string, secrets: readonly string[]): string[] {
  return secrets.filter((secret) => secret !== "" && text.includes(secret));
}

// ---------------------------------------------------------------------------------------
// A scenario's sandbox

/** What a scenario body gets. */
export interface Sandbox {
  /** A fresh temporary directory. */
  dir: string;
  /** The directory `record` writes to. */
  out: string;
  /** The fixture config consumers and the test share. */
  config: FaultConfig;
  /** The consumers' environment. */
  env: Record<string, string>;
  /** The test's own instance on the same storage. */
  app: FaultApp;
  /** The storage (with `stopServer` / `startServer` when made restartable). */
  storage: FaultStorage;
  /** Makes a fleet; it is disposed of afterwards. */
  fleet(args: readonly string[]): Fleet;
}

/**
 * Runs `body` with a fresh storage of `target` (a restartable one with `restartable`), a
 * directory for the recorded ids, the test's app, and fleets that are killed afterwards,
 * whatever happened.
 */
export async function withSandbox(
  target: FaultTarget,
  { restartable, ...options }: Omit<FaultConfig, "storage" | "location" | "out"> & {
    restartable?: boolean;
  },
  body: (sandbox: Sandbox) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "dewey-faults-"));
  const out = join(dir, "ids");
  mkdirSync(out);
  const fleets: Fleet[] = [];
  let storage: FaultStorage | undefined;
  let app: FaultApp | undefined;
  try {
    storage = await target.create(dir, { restartable });
    const config: FaultConfig = {
      storage: target.storage,
      location: storage.location,
      out,
      ...options,
    };
    const env = faultEnv(config);
    app = createFaultApp(config);
    await body({
      dir,
      out,
      config,
      env,
      app,
      storage,
      fleet: (args) => {
        const fleet = new Fleet(args, env);
        fleets.push(fleet);
        return fleet;
      },
    });
  } finally {
    await Promise.all(fleets.map((fleet) => fleet.dispose()));
    await app?.close();
    await storage?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Polls `check` every `intervalMs` until it returns true. Fails with `what` and
 * `describe()` when `progress()` has not changed for `stallMs` (or after `timeoutMs`):
 * a stalled drain fails in seconds, a slow one is given time.
 */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  {
    progress = () => 0,
    stallMs = 20_000,
    timeoutMs = 120_000,
    intervalMs = 100,
    describe = () => "",
  }: {
    progress?: () => number | Promise<number>;
    stallMs?: number;
    timeoutMs?: number;
    intervalMs?: number;
    describe?: () => string | Promise<string>;
  } = {},
): Promise<void> {
  const start = Date.now();
  let last = await progress();
  let lastChange = start;
  for (;;) {
    if (await check()) return;
    const now = Date.now();
    const current = await progress();
    if (current !== last) {
      last = current;
      lastChange = now;
    }
    if (now - lastChange > stallMs || now - start > timeoutMs) {
      const why = now - start > timeoutMs
        ? `timed out after ${timeoutMs} ms`
        : `no progress for ${stallMs} ms`;
      throw new Error(`${what}: ${why}\n${await describe()}`);
    }
    await sleep(intervalMs);
  }
}
