/**
 * The executor: the single place where a task's execution semantics live — the order of
 * checks, exception mapping, result storing, follow-ups, chord bookkeeping and retries.
 * Immediate mode and every consumer worker type run tasks through it.
 *
 * @module
 */

import type { Codec } from "./codec.ts";
import {
  CancelExecution,
  type ErrorMetadata,
  RateLimitExceeded,
  RetryTask,
  TaskError,
  TaskException,
  TaskLockedException,
  TaskTimeout,
} from "./errors.ts";
import { errorOutcome, readOutcome, valueOutcome } from "./outcome.ts";
import { checkTaskRevoked, revokeKey } from "./revocation.ts";
import { Signal, type SignalBus } from "./signals.ts";
import type { AckEffects, Storage } from "./storage/storage.ts";
import { type ChordConfig, cloneTask, type Task } from "./task.ts";

/**
 * What a running task sees when its task was declared with `context: true` (passed as
 * the last argument).
 *
 * @example
 * ```ts
 * import { Dewey, type TaskContext } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true });
 * const resize = dewey.task(
 *   "resize",
 *   (width: number, ctx: TaskContext) => {
 *     ctx.checkTimeout(); // throws TaskTimeout once the 60 s are up
 *     return `${ctx.name} to ${width}px, ${ctx.retries} retries left`;
 *   },
 *   { context: true, retries: 2, timeout: 60 },
 * );
 * const result = await resize(800);
 * console.log(await result.get()); // "resize to 800px, 2 retries left"
 * ```
 */
export interface TaskContext {
  /** The task id. */
  readonly id: string;
  /** The task name. */
  readonly name: string;
  /** Retries left before this run's failure is counted (Huey's `task.retries`). */
  readonly retries: number;
  /** Seconds before the next retry; writable, to change the next retry's delay. */
  retryDelay: number;
  /** Aborts at the task's timeout and when the consumer shuts down. */
  readonly signal: AbortSignal;
  /** Seconds left before the timeout (`Infinity` without one). */
  readonly timeRemaining: number;
  /** Throws `TaskTimeout` once the timeout has passed. */
  checkTimeout(): void;
}

/**
 * A pre-execute hook; may throw `CancelExecution` to skip the task.
 *
 * @example
 * ```ts
 * import { CancelExecution, Dewey, type PreExecuteHook } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true });
 * const paused = new Set(["send-newsletter"]);
 * const skipPaused: PreExecuteHook = (task) => {
 *   if (paused.has(task.name)) throw new CancelExecution();
 * };
 * dewey.preExecute(skipPaused);
 * const send = dewey.task("send-newsletter", () => "sent");
 * console.log(await (await send()).get()); // undefined (canceled before it ran)
 * ```
 */
export type PreExecuteHook = (task: Task) => void | Promise<void>;
/**
 * A post-execute hook: the task, its value, and its error if it failed.
 *
 * @example
 * ```ts
 * import { Dewey, type PostExecuteHook } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true });
 * const failures: string[] = [];
 * const recordFailure: PostExecuteHook = (task, _value, error) => {
 *   if (error) failures.push(`${task.name}: ${error}`);
 * };
 * dewey.postExecute(recordFailure);
 * const divide = dewey.task("divide", (a: number, b: number) => {
 *   if (b === 0) throw new RangeError("division by zero");
 *   return a / b;
 * });
 * await divide(1, 0);
 * console.log(failures); // ["divide: RangeError: division by zero"]
 * ```
 */
export type PostExecuteHook = (task: Task, value: unknown, error?: unknown) => void | Promise<void>;

/** A registered task: its function and how to run it. */
export interface TaskDefinition {
  readonly name: string;
  readonly fn: (...args: never[]) => unknown;
  /** Pass a `TaskContext` as last argument. */
  readonly context: boolean;
  /** Periodic tasks store no results and keep their revocation after running. */
  readonly periodic: boolean;
}

/** What the executor needs from its instance. */
export interface ExecutionHost {
  readonly storage: Storage;
  readonly codec: Codec;
  readonly results: boolean;
  readonly storeNone: boolean;
  readonly storeIntermediateErrors: boolean;
  readonly signals: SignalBus;
  readonly preExecuteHooks: readonly PreExecuteHook[];
  readonly postExecuteHooks: readonly PostExecuteHook[];
  /** Tasks executing now (for `notifyInterruptedTasks`). */
  readonly inFlight: Set<Task>;
  /** Aborts when the consumer shuts down; handed to every task's signal. */
  readonly shutdownSignal?: AbortSignal;
  definition(name: string): TaskDefinition | undefined;
  /** Puts a task on the queue (resolving its expiry at `now`), with signal `enqueued`. */
  enqueueTask(task: Task, now: number): Promise<void>;
  /** Puts a task with an `eta` in the schedule, with signal `scheduled`. */
  scheduleTask(task: Task): Promise<void>;
  /** Reports a problem that must not stop the task (a throwing hook, say). */
  report(message: string, error: unknown): void;
  /**
   * Hands over the lease of a dequeued task, so the executor acks it itself (together with
   * the result); the instance then no longer acks it. `undefined` when it has none.
   */
  takeLease(task: Task): TaskLease | undefined;
  /**
   * The values of a dequeued task's revocation keys that the storage read with its lease
   * (once: later calls return `undefined`); `undefined` when it read none.
   */
  takeWatched(task: Task): Map<string, string | undefined> | undefined;
  /**
   * Runs a write that records a finished task (its result and ack, a retry, a follow-up):
   * under a consumer it is retried through a storage outage, so a task that ran is not
   * lost or run again for a failed write; elsewhere it runs once.
   */
  durably<T>(write: () => Promise<T>): Promise<T>;
}

/** Where a dequeued task's message is leased. */
export interface TaskLease {
  readonly storage: Storage;
  readonly lease: string;
}

/** Key of a chord's completion counter, and of member `index`'s contribution. */
function chordKey(id: string, index?: number): string {
  return index === undefined ? `~chord:${id}` : `~chord:${id}:${index}`;
}

/** The stored description of a failure. */
export function errorMetadata(task: Task, error: unknown): ErrorMetadata {
  const asError = error instanceof Error ? error : undefined;
  return {
    error: error instanceof TaskException ? error.metadata.error : String(error),
    name: asError?.name ?? "Error",
    message: asError?.message ?? String(error),
    stack: asError?.stack,
    taskId: task.id,
    retries: task.retries,
  };
}

class ExecutionContext implements TaskContext {
  readonly id: string;
  readonly name: string;
  readonly retries: number;
  retryDelay: number;
  readonly signal: AbortSignal;
  readonly #deadline?: number;
  readonly #timeout?: number;

  constructor(task: Task, signal: AbortSignal, timeout?: number) {
    this.id = task.id;
    this.name = task.name;
    this.retries = task.retries;
    this.retryDelay = task.retryDelay;
    this.signal = signal;
    this.#timeout = timeout;
    if (timeout !== undefined) this.#deadline = performance.now() + timeout * 1000;
  }

  /** Whether the timeout timer has fired (it may fire a little before `#deadline`). */
  get #timedOut(): boolean {
    return this.signal.aborted && this.signal.reason instanceof TaskTimeout;
  }

  get timeRemaining(): number {
    if (this.#deadline === undefined) return Infinity;
    if (this.#timedOut) return 0;
    return Math.max(0, (this.#deadline - performance.now()) / 1000);
  }

  checkTimeout(): void {
    if (
      this.#deadline !== undefined && (this.#timedOut || performance.now() >= this.#deadline)
    ) {
      throw new TaskTimeout(this.#timeout);
    }
  }
}

const NEVER_ABORTED = new AbortController().signal;

/** Runs tasks with Huey's semantics (see HUEY-SEMANTICS §4.2–4.7). */
export class Executor {
  readonly #host: ExecutionHost;

  constructor(host: ExecutionHost) {
    this.#host = host;
  }

  /**
   * Executes `task` at `now`: the checks (eta, revocation, expiry), then the function.
   * Returns the task's value, or `undefined` when it was scheduled, revoked, expired,
   * canceled or failed.
   */
  async execute(task: Task, now: Date): Promise<unknown> {
    const host = this.#host;
    const at = now.getTime();
    if (task.eta !== undefined && task.eta.getTime() > at) {
      await host.scheduleTask(task);
      return undefined;
    }
    if (await this.#isRevoked(task, at)) {
      await host.signals.emit(Signal.REVOKED, task);
      await this.abortChordMember(task, undefined, at);
      return undefined;
    }
    if (task.deadline !== undefined && task.deadline < at) {
      await host.signals.emit(Signal.EXPIRED, task);
      await this.abortChordMember(task, undefined, at);
      return undefined;
    }
    await host.signals.emit(Signal.EXECUTING, task);
    return await this.#run(task, at);
  }

  async #isRevoked(task: Task, at: number): Promise<boolean> {
    const storage = this.#host.storage;
    return await checkTaskRevoked(storage, task.id, task.name, at, this.#host.takeWatched(task));
  }

  async #run(task: Task, at: number): Promise<unknown> {
    const host = this.#host;
    const definition = host.definition(task.name);
    if (!definition) throw new TypeError(`Unknown task "${task.name}"`);
    for (const hook of host.preExecuteHooks) {
      try {
        await hook(task);
      } catch (error) {
        if (error instanceof CancelExecution) {
          await host.signals.emit(Signal.CANCELED, task);
          await this.abortChordMember(task, undefined, at);
          return undefined;
        }
        host.report(`pre-execute hook failed for ${task.name} ${task.id}`, error);
      }
    }

    let value: unknown;
    let error: unknown;
    let failed = false;
    host.inFlight.add(task);
    try {
      value = await this.#invoke(definition, task);
    } catch (thrown) {
      failed = true;
      error = thrown;
    } finally {
      host.inFlight.delete(task);
    }
    return await this.#settle(task, definition, at, failed, value, error);
  }

  /**
   * Settles a task that failed outside this executor's own invocation — a worker process
   * killed at its hard timeout, say: error signals, stored error, follow-ups, chord, retry.
   */
  async fail(task: Task, error: unknown, now: Date): Promise<void> {
    const definition = this.#host.definition(task.name);
    if (!definition) throw new TypeError(`Unknown task "${task.name}"`);
    await this.#settle(task, definition, now.getTime(), true, undefined, error);
  }

  /** Everything after the function ran: Huey's steps 4–12 (HUEY-SEMANTICS §4.3). */
  async #settle(
    task: Task,
    definition: TaskDefinition,
    at: number,
    failed: boolean,
    value: unknown,
    error: unknown,
  ): Promise<unknown> {
    const host = this.#host;
    let retryEta: number | undefined;
    if (failed) retryEta = await this.#mapError(task, error, at);

    const retrying = failed && task.retries > 0;
    const surfaceError = failed && (host.storeIntermediateErrors || !retrying);
    if (!definition.periodic) {
      const effects: AckEffects = {};
      // A revocation that arrived while the task ran is cleared, unless a retry follows
      // (Huey also clears it then, so the retry ran despite the revoke; we let it stop it).
      if (!retrying) effects.delete = [revokeKey(task.id)];
      if (host.results) {
        let outcome: unknown;
        if (surfaceError) outcome = errorOutcome(errorMetadata(task, error));
        else if (!failed && (value !== undefined || host.storeNone)) {
          outcome = valueOutcome(value);
        }
        if (outcome !== undefined) {
          effects.put = { key: task.id, value: host.codec.encode(outcome) };
        }
      }
      // When nothing durable follows (no retry, pipeline, error handler or chord), the
      // result, the revocation clean-up and the ack are one atomic storage step: one commit
      // instead of three. Otherwise the lease stays until the follow-ups are stored.
      const followUps = retrying || task.onComplete || task.onError || task.chord;
      const lease = followUps ? undefined : host.takeLease(task);
      if (lease) await host.durably(() => lease.storage.ack(lease.lease, effects));
      else await host.durably(() => this.#apply(effects));
    }

    for (const hook of host.postExecuteHooks) {
      try {
        await hook(task, value, failed ? error : undefined);
      } catch (hookError) {
        host.report(`post-execute hook failed for ${task.name} ${task.id}`, hookError);
      }
    }
    if (!failed) await host.signals.emit(Signal.COMPLETE, task);

    if (!failed && task.onComplete) {
      const next = cloneTask(task.onComplete);
      if (value !== undefined) next.args = [value, ...next.args];
      await host.durably(() => host.enqueueTask(next, at));
    } else if (surfaceError && task.onError) {
      const handler = cloneTask(task.onError);
      handler.args = [TaskError.from(error), ...handler.args];
      await host.durably(() => host.enqueueTask(handler, at));
    }

    if (!failed && task.chord) await this.#completeChordMember(task.chord, value, at);
    else if (failed && !retrying) {
      await this.abortChordMember(task, TaskError.from(error), at);
    }

    if (retrying) await this.#retry(task, at, retryEta);
    return failed ? undefined : value;
  }

  /** Runs the function, racing its timeout; a context task gets its `TaskContext`. */
  async #invoke(definition: TaskDefinition, task: Task): Promise<unknown> {
    const timeout = task.timeout !== undefined && task.timeout > 0 ? task.timeout : undefined;
    const shutdown = this.#host.shutdownSignal;
    if (timeout === undefined && !definition.context) {
      return await (definition.fn as (...args: unknown[]) => unknown)(...task.args);
    }
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut: Promise<never> | undefined;
    if (timeout !== undefined) {
      timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const reason = new TaskTimeout(timeout);
          controller.abort(reason);
          reject(reason);
        }, timeout * 1000);
      });
    }
    const signal = shutdown
      ? AbortSignal.any([controller.signal, shutdown])
      : timeout === undefined
      ? NEVER_ABORTED
      : controller.signal;
    const args = definition.context
      ? [...task.args, new ExecutionContext(task, signal, timeout)]
      : task.args;
    try {
      const running = Promise.resolve().then(() =>
        (definition.fn as (...args: unknown[]) => unknown)(...args)
      );
      const value = timedOut ? await Promise.race([running, timedOut]) : await running;
      const context = args[args.length - 1];
      if (context instanceof ExecutionContext) task.retryDelay = context.retryDelay;
      return value;
    } catch (error) {
      const context = args[args.length - 1];
      if (context instanceof ExecutionContext) task.retryDelay = context.retryDelay;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Maps control-flow exceptions to their effect (signals, retry counts) in Huey's order;
   * returns an explicit retry time when the exception asks for one.
   */
  async #mapError(task: Task, error: unknown, at: number): Promise<number | undefined> {
    const signals = this.#host.signals;
    if (error instanceof TaskTimeout) {
      await signals.emit(Signal.TIMEOUT, task);
    } else if (error instanceof RateLimitExceeded) {
      let retryEta: number | undefined;
      if (error.retry || task.retries > 0) {
        retryEta = at + (task.retryDelay || error.delay) * 1000;
        if (error.retry) task.retries += 1;
      }
      await signals.emit(Signal.RATE_LIMITED, task);
      return retryEta;
    } else if (error instanceof TaskLockedException) {
      await signals.emit(Signal.LOCKED, task);
    } else if (error instanceof RetryTask) {
      task.retries += 1;
      if (error.eta !== undefined) return error.eta.getTime();
      if (error.delay !== undefined) return at + error.delay * 1000;
    } else if (error instanceof CancelExecution) {
      const retry = error.retry === true || (error.retry === undefined && task.retries > 0);
      task.retries = retry ? Math.max(task.retries, 1) : 0;
      await signals.emit(Signal.CANCELED, task);
    } else {
      await signals.emit(Signal.ERROR, task, error);
    }
    return undefined;
  }

  async #retry(task: Task, at: number, retryEta: number | undefined): Promise<void> {
    const host = this.#host;
    await host.signals.emit(Signal.RETRYING, task);
    task.retries -= 1;
    if (retryEta !== undefined) {
      task.eta = new Date(retryEta);
      await host.durably(() => host.scheduleTask(task));
    } else if (task.retryDelay > 0) {
      task.eta = new Date(at + task.retryDelay * 1000);
      if (task.retryBackoff) task.retryDelay *= task.retryBackoff;
      await host.durably(() => host.scheduleTask(task));
    } else {
      task.eta = undefined;
      await host.durably(() => host.enqueueTask(task, at));
    }
  }

  /** Applies ack effects without an ack (the task keeps its lease, or has none). */
  async #apply(effects: AckEffects): Promise<void> {
    const storage = this.#host.storage;
    for (const key of effects.delete ?? []) await storage.deleteData(key);
    if (effects.put) await storage.putData(effects.put.key, effects.put.value);
  }

  /** A member that will not run contributes `value` to the chord its pipeline feeds. */
  async abortChordMember(task: Task, value: unknown, at: number): Promise<void> {
    for (let t: Task | undefined = task; t; t = t.onComplete) {
      if (t.chord) return await this.#completeChordMember(t.chord, value, at);
    }
  }

  /**
   * Records one member's contribution; the member that completes the set enqueues the
   * callback with every contribution in member order. Safe against redelivery and against
   * a member stopped between any two steps (a crash, a storage failure), at the price of
   * a full check on redelivery:
   *
   * 1. its slot is written with set-if-absent (the first contribution stands);
   * 2. the counter moves, then a "counted" mark is set. A member redelivered before its
   *    mark counts again: the counter may run ahead of the members in, never behind;
   * 3. a member whose count reached the size, or a redelivered one already counted, checks
   *    that every slot is filled, since the counter alone may run ahead;
   * 4. the first to find them all claims the chord (a redelivered claimant goes on),
   *    enqueues the callback, marks the claim done, then clears the bookkeeping. Only a
   *    claimant stopped between the enqueue and that mark enqueues the callback twice.
   */
  async #completeChordMember(chord: ChordConfig, value: unknown, at: number): Promise<void> {
    const host = this.#host;
    const storage = host.storage;
    const slot = chordKey(chord.id, chord.index);
    await storage.putIfEmpty(slot, host.codec.encode(valueOutcome(value)));
    const counted = `${slot}:counted`;
    if (!await storage.hasData(counted)) {
      const count = await storage.incr(chordKey(chord.id));
      await storage.putData(counted, "1");
      if (count < chord.size) return;
    }
    const raws: string[] = [];
    for (let index = 0; index < chord.size; index++) {
      const raw = await storage.peekData(chordKey(chord.id, index));
      if (raw === undefined) return; // a member still to come completes the chord
      raws.push(raw);
    }
    const claim = `${chordKey(chord.id)}:claimed`;
    const claimant = `${chord.index}`;
    const enqueued = `${chord.index}:enqueued`;
    if (!await storage.putIfEmpty(claim, claimant)) {
      // Another member completes it, unless this one did before it was stopped.
      const holder = await storage.peekData(claim);
      if (holder !== claimant && holder !== enqueued) return;
    }
    if (await storage.peekData(claim) !== enqueued) {
      const results = raws.map((raw) => {
        const outcome = readOutcome(host.codec.decode(raw));
        return outcome?.kind === "value" ? outcome.value : undefined;
      });
      const callback = cloneTask(chord.callback);
      callback.args = [results, ...callback.args];
      await host.enqueueTask(callback, at);
      await storage.putData(claim, enqueued);
    }
    for (let index = 0; index < chord.size; index++) {
      await storage.deleteData(chordKey(chord.id, index));
      await storage.deleteData(`${chordKey(chord.id, index)}:counted`);
    }
    await storage.deleteCounter(chordKey(chord.id));
    await storage.deleteData(claim);
  }
}
