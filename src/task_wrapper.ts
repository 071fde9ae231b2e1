/**
 * The callable handles `dewey.task(...)` and `dewey.periodicTask(...)` return.
 *
 * @module
 */

import type { CronSchedule } from "./crontab.ts";
import type { Result, ResultGroup, RevokeOptions } from "./result.ts";
import type { Task, TaskCallOptions } from "./task.ts";

/**
 * Options of `dewey.task()`: defaults for every invocation.
 *
 * @example
 * ```ts
 * import { Dewey, type TaskOptions } from "@dewey/dewey";
 *
 * const dewey = new Dewey();
 * const flaky: TaskOptions = { retries: 3, retryDelay: 5, retryBackoff: 2, timeout: 30 };
 * const fetchFeed = dewey.task("fetch-feed", (url: string) => url.length, flaky);
 * const task = fetchFeed.s("https://example.com/feed.xml");
 * console.log(task.retries, task.retryDelay, task.timeout); // 3 5 30
 * ```
 */
export interface TaskOptions {
  /** How many times a failing task is retried. @default 0 */
  retries?: number;
  /** Seconds between a failure and its retry. @default 0 */
  retryDelay?: number;
  /** Multiplier applied to `retryDelay` after each retry. @default 0 (off) */
  retryBackoff?: number;
  /** Larger runs first. @default 0 */
  priority?: number;
  /** Seconds counted from each queueing, or an absolute `Date`. */
  expires?: number | Date;
  /** Seconds the task may run. */
  timeout?: number;
  /** Pass a `TaskContext` as the last argument. @default false */
  context?: boolean;
}

/**
 * A registered task. Calling it enqueues an invocation and resolves to its `Result`.
 *
 * @example
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 * const dewey = new Dewey({ immediate: true });
 * const add = dewey.task("add", (a: number, b: number) => a + b);
 * const result = await add(1, 2);
 * console.log(await result.get()); // 3
 * ```
 */
export interface TaskWrapper<A extends unknown[], R> {
  /** Enqueues `fn(...args)`. */
  (...args: A): Promise<Result<R>>;
  /** The task name (its identity on the wire). */
  readonly name: string;
  /** The defaults given to `dewey.task()`. */
  readonly options: Readonly<TaskOptions>;
  /**
   * Enqueues with per-invocation options: later with `delay`/`eta` (written straight to
   * the schedule), or now with the other options.
   */
  schedule(args: A, options?: TaskCallOptions): Promise<Result<R>>;
  /** A signature (`Task`), not enqueued: for pipelines, groups and chords. */
  s(...args: A): Task<R>;
  /** Enqueues one invocation per argument list, in one round trip where the storage allows. */
  map(argLists: A[]): Promise<ResultGroup<R>>;
  /** Calls the plain function in this process. */
  callLocal(...args: A): R;
  /** Revokes every invocation of this task (`once`: only the next one; `until`: up to then). */
  revoke(options?: RevokeOptions): Promise<void>;
  /** Undoes `revoke`; whether a revocation was there. */
  restore(): Promise<boolean>;
  /** Whether the task is revoked at `at` (default now). */
  isRevoked(at?: Date): Promise<boolean>;
}

/**
 * A registered periodic task. Calling it enqueues a run now.
 *
 * @example
 * ```ts
 * import { crontab, Dewey } from "@dewey/dewey";
 * const dewey = new Dewey();
 * const report = dewey.periodicTask("report", crontab({ minute: "0", hour: "9" }), () => {
 *   console.log("daily report");
 * });
 * console.log(report.cron.matches(new Date("2026-11-23T09:00:00Z"))); // true
 * ```
 */
export interface PeriodicTaskWrapper<R> {
  /** Enqueues a run now. */
  (): Promise<Result<R>>;
  /** The task name. */
  readonly name: string;
  /** The defaults given to `dewey.periodicTask()`. */
  readonly options: Readonly<TaskOptions>;
  /** When it runs. */
  readonly cron: CronSchedule;
  /** A signature (`Task`), not enqueued. */
  s(): Task<R>;
  /** Calls the plain function in this process. */
  callLocal(): R;
  /** Revokes the task (`once`: only the next run; `until`: up to then). */
  revoke(options?: RevokeOptions): Promise<void>;
  /** Undoes `revoke`; whether a revocation was there. */
  restore(): Promise<boolean>;
  /** Whether the task is revoked at `at` (default now). */
  isRevoked(at?: Date): Promise<boolean>;
}
