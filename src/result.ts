/**
 * Result handles: `Result` for one task, `ResultGroup` for a pipeline or group,
 * `ChordResult` for a chord.
 *
 * @module
 */

import { ResultTimeout, TaskException } from "./errors.ts";
import type { Outcome } from "./outcome.ts";
import type { Task, TaskCallOptions } from "./task.ts";

/**
 * Options of `Result.get()`.
 *
 * @example
 * ```ts
 * import { Dewey, type GetOptions } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true });
 * const add = dewey.task("add", (a: number, b: number) => a + b);
 * const result = await add(1, 2);
 * const options: GetOptions = { blocking: true, timeout: 5, preserve: true };
 * console.log(await result.get(options)); // 3
 * console.log(await dewey.result(result.id)); // 3 (`preserve` left it in the store)
 * ```
 */
export interface GetOptions {
  /** Wait until the result is there. @default false */
  blocking?: boolean;
  /** With `blocking`, seconds to wait before throwing `ResultTimeout`; unset waits forever. */
  timeout?: number;
  /** Growth factor of the polling delay. @default 1.15 */
  backoff?: number;
  /** Longest polling delay, seconds. @default 1 */
  maxDelay?: number;
  /** Read without removing the stored value. @default false */
  preserve?: boolean;
  /** Revoke the task when a blocking wait times out. @default false */
  revokeOnTimeout?: boolean;
}

/**
 * Options of `revoke()` on a result or a task wrapper.
 *
 * @example
 * ```ts
 * import { Dewey, type RevokeOptions } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true });
 * const sync = dewey.task("sync", () => "synced");
 * const forAnHour: RevokeOptions = { until: new Date(Date.now() + 3600_000) };
 * await sync.revoke(forAnHour);
 * console.log(await sync.isRevoked()); // true
 * console.log(await (await sync()).get()); // undefined (discarded while revoked)
 * ```
 */
export interface RevokeOptions {
  /** Discard only the next run that reaches a worker. */
  once?: boolean;
  /** Revoked until this instant; later runs go ahead. */
  until?: Date;
}

/**
 * Options of `Result.reschedule()`.
 *
 * @example
 * ```ts
 * import { Dewey, type RescheduleOptions } from "@dewey/dewey";
 *
 * const dewey = new Dewey();
 * const sendReport = dewey.task("send-report", (to: string) => `sent to ${to}`);
 * const result = await sendReport("ops@example.com");
 * const inFiveMinutes: RescheduleOptions = { delay: 300, priority: 5 };
 * const moved = await result.reschedule(inFiveMinutes);
 * console.log(await dewey.scheduledCount(), moved.id !== result.id); // 1 true
 * ```
 */
export type RescheduleOptions = Pick<TaskCallOptions, "eta" | "delay" | "expires" | "priority">;

/** @internal What a result handle needs from its instance. */
export interface ResultBackend {
  readOutcome(id: string, preserve: boolean): Promise<Outcome | undefined>;
  hasOutcome(id: string): Promise<boolean>;
  waitForOutcome(id: string, options: GetOptions): Promise<boolean>;
  revokeById(id: string, options?: RevokeOptions): Promise<void>;
  restoreById(id: string): Promise<boolean>;
  isRevoked(target: string | Task): Promise<boolean>;
  reschedule(task: Task, options: RescheduleOptions): Promise<Result<unknown>>;
}

function settle<R>(outcome: Outcome): R {
  if (outcome.kind === "error") throw new TaskException(outcome.metadata);
  return outcome.value as R;
}

/**
 * The handle of one enqueued task. `get()` reads (and by default removes) the stored
 * value; the handle caches what it read until `reset()`.
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
export class Result<R = unknown> {
  /** The task id. */
  readonly id: string;
  /** @internal The task, when this handle was made from one. */
  readonly task?: Task;
  #backend: ResultBackend;
  #cached?: Outcome;

  /** @internal Handles are made by `enqueue` and `dewey.result`. */
  constructor(backend: ResultBackend, id: string, task?: Task) {
    this.#backend = backend;
    this.id = id;
    this.task = task;
  }

  /**
   * The task's value: `undefined` when not ready (unless `blocking`); throws
   * `TaskException` when the task failed and `ResultTimeout` when a blocking wait ran out.
   */
  async get(options: GetOptions = {}): Promise<R | undefined> {
    if (this.#cached) return settle(this.#cached);
    const preserve = options.preserve ?? false;
    let outcome = await this.#backend.readOutcome(this.id, preserve);
    if (!outcome && options.blocking) {
      await this.#backend.waitForOutcome(this.id, options);
      outcome = await this.#backend.readOutcome(this.id, preserve);
      if (!outcome) {
        if (options.revokeOnTimeout) await this.revoke();
        throw new ResultTimeout();
      }
    }
    if (!outcome) return undefined;
    this.#cached = outcome;
    return settle(outcome);
  }

  /** Whether a value (or failure) is there to read; reads nothing away. */
  async isReady(): Promise<boolean> {
    return this.#cached !== undefined || await this.#backend.hasOutcome(this.id);
  }

  /** Forgets the cached value, so the next `get` reads the store again (e.g. after a retry). */
  reset(): void {
    this.#cached = undefined;
  }

  /** Revokes this invocation (by default only its next run). */
  revoke(options: RevokeOptions = {}): Promise<void> {
    return this.#backend.revokeById(this.id, { once: true, ...options });
  }

  /** Undoes `revoke`; whether a revocation was there. */
  restore(): Promise<boolean> {
    return this.#backend.restoreById(this.id);
  }

  /** Whether this invocation is revoked (by id, or its whole task when the handle knows it). */
  isRevoked(): Promise<boolean> {
    return this.#backend.isRevoked(this.task ?? this.id);
  }

  /**
   * Revokes this invocation and enqueues a copy with a new id (now, or at `eta`/after
   * `delay`), keeping its pipeline; returns the new handle.
   */
  async reschedule(options: RescheduleOptions = {}): Promise<Result<R>> {
    if (!this.task) {
      throw new TypeError("Cannot reschedule a result made from a bare id: the task is unknown");
    }
    return await this.#backend.reschedule(this.task, options) as Result<R>;
  }
}

/**
 * Options of `ResultGroup.asCompleted()`.
 *
 * @example
 * ```ts
 * import { type AsCompletedOptions, Dewey } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true });
 * const square = dewey.task("square", (n: number) => n * n);
 * const results = await square.map([[1], [2], [3]]);
 * const polling: AsCompletedOptions = { backoff: 2, maxDelay: 0.5 };
 * let total = 0;
 * for await (const value of results.asCompleted(polling)) total += value;
 * console.log(total); // 14
 * ```
 */
export interface AsCompletedOptions {
  /** Growth factor of the polling delay. @default 1.15 */
  backoff?: number;
  /** Longest polling delay, seconds. @default 1 */
  maxDelay?: number;
}

const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

/**
 * Handles of several tasks: a pipeline's stages or a group's members, in order.
 *
 * @example
 * ```ts
 * import { Dewey, group } from "@dewey/dewey";
 * const dewey = new Dewey({ immediate: true });
 * const square = dewey.task("square", (n: number) => n * n);
 * const results = await dewey.enqueue(group([square.s(2), square.s(3)]));
 * console.log(await results.get()); // [4, 9]
 * ```
 */
export class ResultGroup<R = unknown> implements Iterable<Result<R>> {
  /** The handles, in order. */
  readonly results: readonly Result<R>[];

  /** @internal Groups are made by `enqueue`. */
  constructor(results: Result<R>[]) {
    this.results = results;
  }

  /** Number of handles. */
  get length(): number {
    return this.results.length;
  }

  /** Iterates the handles. */
  [Symbol.iterator](): Iterator<Result<R>> {
    return this.results[Symbol.iterator]();
  }

  /** Every value, in order (each read with the same options). */
  async get(options: GetOptions = {}): Promise<(R | undefined)[]> {
    const values: (R | undefined)[] = [];
    for (const result of this.results) values.push(await result.get(options));
    return values;
  }

  /**
   * Values in the order the tasks finish; a failed task throws `TaskException` when its
   * turn comes.
   */
  async *asCompleted(options: AsCompletedOptions = {}): AsyncIterable<R> {
    const backoff = options.backoff ?? 1.15;
    const maxDelay = options.maxDelay ?? 1;
    let pending = [...this.results];
    let delay = 0.01;
    while (pending.length) {
      const waiting: Result<R>[] = [];
      for (const result of pending) {
        if (await result.isReady()) yield (await result.get()) as R;
        else waiting.push(result);
      }
      if (waiting.length === pending.length) {
        await sleep(delay);
        delay = Math.min(delay * backoff, maxDelay);
      } else {
        delay = 0.01;
      }
      pending = waiting;
    }
  }
}

/**
 * The handle of a chord: `get()` is the callback's value; `results` the members'.
 *
 * @example
 * ```ts
 * import { chord, Dewey } from "@dewey/dewey";
 * const dewey = new Dewey({ immediate: true });
 * const incr = dewey.task("incr", (n: number) => n + 1);
 * const total = dewey.task("total", (values: number[]) => values.reduce((a, b) => a + b, 0));
 * const result = await dewey.enqueue(chord([incr.s(1), incr.s(2)], total));
 * console.log(await result.get()); // 5
 * ```
 */
export class ChordResult<R = unknown> {
  /** The members' handles, in member order. */
  readonly results: ResultGroup<unknown>;
  /** The callback's handle. */
  readonly callback: Result<R>;
  /** The callback and the tasks of its own pipeline. */
  readonly pipelineResults: ResultGroup<unknown>;

  /** @internal Made by `enqueue`. */
  constructor(results: ResultGroup, callback: Result<R>, pipelineResults: ResultGroup) {
    this.results = results;
    this.callback = callback;
    this.pipelineResults = pipelineResults;
  }

  /** The callback's value. */
  get(options: GetOptions = {}): Promise<R | undefined> {
    return this.callback.get(options);
  }

  /** Forgets every cached value. */
  reset(): void {
    this.callback.reset();
    for (const r of this.results) r.reset();
    for (const r of this.pipelineResults) r.reset();
  }
}
