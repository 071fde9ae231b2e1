/**
 * `Task`: one invocation of a registered task (a signature), with its options, its
 * pipeline (`then`) and error handler (`error`); and the plain message it travels as.
 *
 * @module
 */

import { DecodeError } from "./errors.ts";
import { packValue, unpackValue } from "./outcome.ts";

/**
 * Per-invocation options, as taken by `schedule()` and `Task.with()`.
 *
 * @example
 * ```ts
 * import { Dewey, type TaskCallOptions } from "@dewey/dewey";
 *
 * const dewey = new Dewey();
 * const remind = dewey.task("remind", (user: string) => `reminded ${user}`);
 * const inAnHour: TaskCallOptions = { delay: 3600, priority: 10, expires: 7200 };
 * await remind.schedule(["ada"], inAnHour);
 * console.log(await dewey.scheduledCount()); // 1
 * ```
 */
export interface TaskCallOptions {
  /** Seconds from now until the task may run. Not together with `eta`. */
  delay?: number;
  /** When the task may run. Not together with `delay`. */
  eta?: Date;
  /** Larger runs first. @default 0 */
  priority?: number;
  /** Seconds counted from each time the task is queued, or an absolute `Date`. */
  expires?: number | Date;
  /** Seconds the task may run. */
  timeout?: number;
  /** How many times a failing task is retried. @default 0 */
  retries?: number;
  /** Seconds between a failure and its retry. @default 0 */
  retryDelay?: number;
  /** Multiplier applied to `retryDelay` after each retry (e.g. 2 doubles it). */
  retryBackoff?: number;
}

/** What a chord member's pipeline tail carries: where its result goes. */
export interface ChordConfig {
  /** The chord's id. */
  id: string;
  /** How many members the chord has. */
  size: number;
  /** This member's position. */
  index: number;
  /** The callback to enqueue once every member is done. */
  callback: Task;
}

/** The plain, JSON-shaped form a task travels in (through the codec). */
export interface TaskMessage {
  id: string;
  name: string;
  args: unknown[];
  /** Epoch ms. */
  eta?: number;
  retries: number;
  retryDelay: number;
  retryBackoff: number;
  priority: number;
  /** Relative expiry in seconds, as given. */
  expires?: number;
  /** Absolute expiry (epoch ms), when given as a `Date`. */
  expiresAt?: number;
  /** The resolved deadline, epoch ms. */
  deadline?: number;
  timeout?: number;
  onComplete?: TaskMessage;
  onError?: TaskMessage;
  chord?: { id: string; size: number; index: number; callback: TaskMessage };
}

/**
 * What `then`/`error` accept: a task wrapper (called with the extra args) or a task.
 *
 * @example
 * ```ts
 * import { Dewey, type TaskSource } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true });
 * const add = dewey.task("add", (a: number, b: number) => a + b);
 * const double = dewey.task("double", (n: number) => n * 2);
 * const next: TaskSource = double; // every task wrapper is one
 * const results = await dewey.enqueue(add.s(1, 2).then(next));
 * console.log(await results.get()); // [3, 6]
 * ```
 */
export interface TaskSource {
  /** Creates a signature from arguments. */
  s(...args: never[]): Task;
}

function checkSeconds(name: string, value: unknown, allowDate = false): void {
  if (value === undefined) return;
  if (allowDate && value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new RangeError(`Invalid "${name}": invalid Date`);
    return;
  }
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `Invalid "${name}": expected a non-negative number of seconds${
        allowDate ? " or a Date" : ""
      }, got ${String(value)}`,
    );
  }
}

/** Validates call options; shared by task definitions and invocations. */
export function validateCallOptions(options: TaskCallOptions): void {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Task options must be an object");
  }
  if (options.delay !== undefined && options.eta !== undefined) {
    throw new TypeError('Cannot use both "delay" and "eta"');
  }
  checkSeconds("delay", options.delay);
  if (options.eta !== undefined && !(options.eta instanceof Date && !isNaN(+options.eta))) {
    throw new TypeError('Invalid "eta": expected a valid Date');
  }
  if (options.priority !== undefined && !Number.isFinite(options.priority)) {
    throw new RangeError(`Invalid "priority": expected a finite number`);
  }
  checkSeconds("expires", options.expires, true);
  checkSeconds("timeout", options.timeout);
  if (
    options.retries !== undefined &&
    !(Number.isInteger(options.retries) && options.retries >= 0)
  ) {
    throw new RangeError(`Invalid "retries": expected a non-negative integer`);
  }
  checkSeconds("retryDelay", options.retryDelay);
  checkSeconds("retryBackoff", options.retryBackoff);
}

/**
 * One invocation of a task: its id, arguments and options, plus what follows it. Made by
 * `wrapper.s(...args)`; run by `dewey.enqueue(task)`. `then` and `error` return the same
 * task, so a pipeline reads as one expression.
 *
 * @example A pipeline: each result is the first argument of the next task
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 * const dewey = new Dewey({ immediate: true });
 * const add = dewey.task("add", (a: number, b: number) => a + b);
 * const results = await dewey.enqueue(add.s(1, 2).then(add, 3).then(add, 4));
 * console.log(await results.get()); // [3, 6, 10]
 * ```
 */
export class Task<R = unknown, P extends boolean = false> {
  /** The task's id (a UUID); a retry keeps it. */
  id: string;
  /** The registered task name. */
  readonly name: string;
  /** The arguments. */
  args: unknown[];
  /** When it may run; `undefined` = now. */
  eta?: Date;
  /** Larger runs first. */
  priority: number;
  /** Retries left. */
  retries: number;
  /** Seconds before a retry. */
  retryDelay: number;
  /** Multiplier for `retryDelay` after each retry (0 = none). */
  retryBackoff: number;
  /** Expiry as given: seconds from each queueing, or a `Date`. */
  expires?: number | Date;
  /** Seconds the task may run. */
  timeout?: number;
  /** The next task of the pipeline. */
  onComplete?: Task;
  /** The task to enqueue with the error when this one fails. */
  onError?: Task;
  /** @internal The chord this task's result belongs to. */
  chord?: ChordConfig;
  /** @internal Resolved expiry deadline, epoch ms. */
  deadline?: number;
  /** @internal Phantom marker for the result type. */
  declare readonly __result?: R;
  /** @internal Phantom marker: the head of a pipeline. */
  declare readonly __pipeline?: P;

  /** Creates a task; use `wrapper.s(...)` instead of calling this directly. */
  constructor(
    name: string,
    args: unknown[],
    options: TaskCallOptions & { id?: string } = {},
  ) {
    this.id = options.id ?? crypto.randomUUID();
    this.name = name;
    this.args = args;
    this.priority = options.priority ?? 0;
    this.retries = options.retries ?? 0;
    this.retryDelay = options.retryDelay ?? 0;
    this.retryBackoff = options.retryBackoff ?? 0;
    this.expires = options.expires;
    this.timeout = options.timeout;
    this.#applyTime(options);
  }

  #applyTime(options: TaskCallOptions): void {
    if (options.eta !== undefined) this.eta = options.eta;
    else if (options.delay !== undefined) this.eta = new Date(Date.now() + options.delay * 1000);
  }

  /**
   * Sets per-invocation options and returns this task.
   *
   * @example
   * ```ts
   * import { Dewey } from "@dewey/dewey";
   * const dewey = new Dewey();
   * const send = dewey.task("send", (to: string) => to);
   * const task = send.s("ada@example.com").with({ delay: 60, retries: 3 });
   * console.log(task.retries); // 3
   * ```
   */
  with(options: TaskCallOptions): this {
    validateCallOptions(options);
    if (options.priority !== undefined) this.priority = options.priority;
    if (options.retries !== undefined) this.retries = options.retries;
    if (options.retryDelay !== undefined) this.retryDelay = options.retryDelay;
    if (options.retryBackoff !== undefined) this.retryBackoff = options.retryBackoff;
    if (options.expires !== undefined) this.expires = options.expires;
    if (options.timeout !== undefined) this.timeout = options.timeout;
    this.#applyTime(options);
    return this;
  }

  /**
   * Appends `next` to the end of this task's pipeline: it runs after the last task of the
   * chain succeeds, with that task's value as its first argument, before `args`.
   */
  then(next: TaskSource | Task, ...args: unknown[]): Task<R, true> {
    if (typeof next === "function" && typeof (next as TaskSource).s !== "function") {
      // `await task` or resolving a promise with a task calls `then(resolve, reject)`:
      // answer as a settled value (the task itself) instead of building a pipeline.
      // Shadowing `then` while resolving makes the task a plain value for that moment.
      Object.defineProperty(this, "then", { value: undefined, configurable: true });
      try {
        (next as (value: unknown) => void)(this);
      } finally {
        delete (this as { then?: unknown }).then;
      }
      return this as unknown as Task<R, true>;
    }
    const task = toTask(next, args);
    let tail: Task = this as Task;
    while (tail.onComplete) tail = tail.onComplete;
    tail.onComplete = task;
    return this as unknown as Task<R, true>;
  }

  /**
   * Sets the task to enqueue when this task fails; it gets the `TaskError` as first
   * argument, before `args`. A second call chains the handler to the first handler.
   */
  error(handler: TaskSource | Task, ...args: unknown[]): this {
    const task = toTask(handler, args);
    let holder: Task = this as Task;
    while (holder.onError) holder = holder.onError;
    holder.onError = task;
    return this;
  }
}

/** A wrapper becomes `wrapper.s(...args)`; a task gets `args` appended. */
export function toTask(source: TaskSource | Task, args: unknown[]): Task {
  if (source instanceof Task) {
    if (args.length) source.args = [...source.args, ...args];
    return source;
  }
  if (source && typeof (source as TaskSource).s === "function") {
    return (source as TaskSource).s(...(args as never[]));
  }
  throw new TypeError("Expected a task wrapper or a Task");
}

/** Turns a task (and what follows it) into its wire message. */
export function toMessage(task: Task): TaskMessage {
  const message: TaskMessage = {
    id: task.id,
    name: task.name,
    args: packValue(task.args) as unknown[],
    retries: task.retries,
    retryDelay: task.retryDelay,
    retryBackoff: task.retryBackoff,
    priority: task.priority,
  };
  if (task.eta !== undefined) message.eta = task.eta.getTime();
  if (task.expires instanceof Date) message.expiresAt = task.expires.getTime();
  else if (task.expires !== undefined) message.expires = task.expires;
  if (task.deadline !== undefined) message.deadline = task.deadline;
  if (task.timeout !== undefined) message.timeout = task.timeout;
  if (task.onComplete) message.onComplete = toMessage(task.onComplete);
  if (task.onError) message.onError = toMessage(task.onError);
  if (task.chord) {
    const { id, size, index, callback } = task.chord;
    message.chord = { id, size, index, callback: toMessage(callback) };
  }
  return message;
}

function fail(what: string): never {
  throw new DecodeError(`Malformed task message: ${what}`);
}

function optionalNumber(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) fail(`"${field}" is not a number`);
  return value;
}

function requiredNumber(value: unknown, field: string): number {
  return optionalNumber(value, field) ?? fail(`"${field}" is missing`);
}

/**
 * Rebuilds a task from a decoded message, checking every field's type: a message from
 * storage is untrusted input.
 */
export function fromMessage(value: unknown, depth = 0): Task {
  if (depth > 64) fail("nested too deeply");
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    fail("not an object");
  }
  const m = value as Record<string, unknown>;
  if (typeof m.id !== "string" || m.id === "") fail('"id" is not a string');
  if (typeof m.name !== "string" || m.name === "") fail('"name" is not a string');
  if (!Array.isArray(m.args)) fail('"args" is not an array');
  let args: unknown[];
  try {
    args = unpackValue(m.args) as unknown[];
  } catch (error) {
    fail(`"args": ${(error as Error).message}`);
  }
  const task = new Task(m.name, args, {
    id: m.id,
    retries: requiredNumber(m.retries, "retries"),
    retryDelay: requiredNumber(m.retryDelay, "retryDelay"),
    retryBackoff: requiredNumber(m.retryBackoff, "retryBackoff"),
    priority: requiredNumber(m.priority, "priority"),
    timeout: optionalNumber(m.timeout, "timeout"),
  });
  const eta = optionalNumber(m.eta, "eta");
  if (eta !== undefined) task.eta = new Date(eta);
  const expiresAt = optionalNumber(m.expiresAt, "expiresAt");
  task.expires = expiresAt !== undefined
    ? new Date(expiresAt)
    : optionalNumber(m.expires, "expires");
  task.deadline = optionalNumber(m.deadline, "deadline");
  if (m.onComplete !== undefined) task.onComplete = fromMessage(m.onComplete, depth + 1);
  if (m.onError !== undefined) task.onError = fromMessage(m.onError, depth + 1);
  if (m.chord !== undefined) {
    const c = m.chord as Record<string, unknown>;
    if (c === null || typeof c !== "object") fail('"chord" is not an object');
    if (typeof c.id !== "string") fail('"chord.id" is not a string');
    task.chord = {
      id: c.id,
      size: requiredNumber(c.size, "chord.size"),
      index: requiredNumber(c.index, "chord.index"),
      callback: fromMessage(c.callback, depth + 1),
    };
  }
  return task;
}

/** A deep copy through the message form (used for follow-ups, so the original stays intact). */
export function cloneTask(task: Task): Task {
  return fromMessage(toMessage(task));
}

/** The names of every task a message refers to (itself, follow-ups, chord callbacks). */
export function taskNames(task: Task, into: Set<string> = new Set()): Set<string> {
  into.add(task.name);
  if (task.onComplete) taskNames(task.onComplete, into);
  if (task.onError) taskNames(task.onError, into);
  if (task.chord) taskNames(task.chord.callback, into);
  return into;
}
