/**
 * The task module of the fault-injection suite. Consumers started by `cli.ts consume`
 * load its default export, built from the environment; the test process builds its own
 * instance on the same storage with {@linkcode createFaultApp}, so both sides share task
 * names, storage, visibility timeout and signing key.
 *
 * Environment (read when the module is loaded):
 * - `DEWEY_FAULTS_STORAGE`: a key of {@linkcode STORAGES} (`sqlite`, `redis`).
 * - `DEWEY_FAULTS_LOCATION`: where that storage lives (an SQLite file path, a `redis://` URL).
 * - `DEWEY_FAULTS_OUT`: a directory where `record` appends ids, one file per process.
 * - `DEWEY_FAULTS_VISIBILITY`: the instance's `visibilityTimeout`, seconds (default 30).
 * - `DEWEY_FAULTS_SIGNING_KEY`: the instance's signing key (none when unset).
 * - `DEWEY_FAULTS_TASK_MS`: how long `record` takes after recording (default 0).
 *
 * @module
 */

import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { Dewey, type Storage } from "../../mod.ts";
import { RedisStorage } from "../../redis.ts";
import { SqliteStorage } from "../../sqlite.ts";

/** Builds a storage from its location. A new backend adds one entry (and a target in support.ts). */
export const STORAGES: Record<string, (location: string) => Storage> = {
  sqlite: (location) => new SqliteStorage({ path: location }),
  redis: (location) => new RedisStorage({ url: location }),
};

/** Where an app keeps its queue and writes its side effects. */
export interface FaultConfig {
  /** A key of {@linkcode STORAGES}. */
  storage: string;
  /** Where the storage lives. */
  location: string;
  /** Directory for `record`'s per-process id files. */
  out?: string;
  /** The instance's visibility timeout, seconds. */
  visibility?: number;
  /** The instance's signing key. */
  signingKey?: string;
  /** Milliseconds `record` waits after recording (keeps tasks in flight). */
  taskMs?: number;
}

/** The environment that gives a consumer process `config`. */
export function faultEnv(config: FaultConfig): Record<string, string> {
  const env: Record<string, string> = {
    DEWEY_FAULTS_STORAGE: config.storage,
    DEWEY_FAULTS_LOCATION: config.location,
  };
  if (config.out) env.DEWEY_FAULTS_OUT = config.out;
  if (config.visibility !== undefined) env.DEWEY_FAULTS_VISIBILITY = String(config.visibility);
  if (config.signingKey) env.DEWEY_FAULTS_SIGNING_KEY = config.signingKey;
  if (config.taskMs) env.DEWEY_FAULTS_TASK_MS = String(config.taskMs);
  return env;
}

/** What the `probe` task reports about the consumer process's built-in prototypes. */
export interface PrototypeReport {
  /** The consumer's process id. */
  pid: number;
  /** `Object.getOwnPropertyNames(Object.prototype)`, sorted. */
  objectNames: string[];
  /** Enumerable keys of `Object.prototype` and `Array.prototype` (normally none). */
  enumerable: string[];
  /** Whether a fresh `{}` shows a `polluted` property. */
  polluted: boolean;
  /** Whether `Object.prototype` still has `Object.prototype`'s identity checks right. */
  intact: boolean;
}

/** The report for this process (the test compares the consumer's with its own). */
export function prototypeReport(): PrototypeReport {
  const probe = {} as Record<string, unknown>;
  return {
    pid: process.pid,
    objectNames: Object.getOwnPropertyNames(Object.prototype).sort(),
    enumerable: [...Object.keys(Object.prototype), ...Object.keys(Array.prototype)],
    polluted: "polluted" in probe || probe.polluted !== undefined,
    intact: Object.getPrototypeOf(probe) === Object.prototype &&
      Object.getPrototypeOf(Object.prototype) === null &&
      typeof Object.prototype.hasOwnProperty === "function" &&
      typeof Object.prototype.toString === "function",
  };
}

/** Builds the instance and its tasks on the storage `config` names. */
export function createFaultApp(config: FaultConfig) {
  const make = STORAGES[config.storage];
  if (!make) throw new Error(`faults fixture: unknown storage "${config.storage}"`);
  const dewey = new Dewey({
    name: "faults",
    storage: make(config.location),
    visibilityTimeout: config.visibility ?? 30,
    signingKeys: config.signingKey,
  });

  // One descriptor, opened on first use with O_APPEND: each id is one write(2), which a
  // SIGKILL cannot tear, and nothing is buffered in the process.
  let fd: number | undefined;
  const taskMs = config.taskMs ?? 0;

  /** Appends `id` to this process's file in `config.out`; `token` is a secret never logged. */
  const record = dewey.task("record", async (id: number, _token?: string) => {
    if (!config.out) throw new Error("faults fixture: DEWEY_FAULTS_OUT is not set");
    fd ??= openSync(join(config.out, `${process.pid}.ids`), "a");
    writeSync(fd, `${id}\n`);
    if (taskMs > 0) await new Promise((resolve) => setTimeout(resolve, taskMs));
  });

  /** Reports the state of this process's built-in prototypes. */
  const probe = dewey.task("probe", () => prototypeReport());

  /** Closes the storage and the id file. */
  async function close(): Promise<void> {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    await dewey.close();
  }

  return { dewey, record, probe, close };
}

/** One app, as the test process uses it. */
export type FaultApp = ReturnType<typeof createFaultApp>;

/** The config given by this process's environment, or `undefined` without a storage. */
export function envConfig(): FaultConfig | undefined {
  const env = process.env;
  if (!env.DEWEY_FAULTS_STORAGE || !env.DEWEY_FAULTS_LOCATION) return undefined;
  return {
    storage: env.DEWEY_FAULTS_STORAGE,
    location: env.DEWEY_FAULTS_LOCATION,
    out: env.DEWEY_FAULTS_OUT || undefined,
    visibility: env.DEWEY_FAULTS_VISIBILITY ? Number(env.DEWEY_FAULTS_VISIBILITY) : undefined,
    signingKey: env.DEWEY_FAULTS_SIGNING_KEY || undefined,
    taskMs: env.DEWEY_FAULTS_TASK_MS ? Number(env.DEWEY_FAULTS_TASK_MS) : undefined,
  };
}

const config = envConfig();

/** The consumer's instance (undefined when the environment names no storage). */
const instance: Dewey | undefined = config ? createFaultApp(config).dewey : undefined;
export default instance;
