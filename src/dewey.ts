/**
 * The `Dewey` instance: the task registry, the producer side (enqueue, schedule,
 * results), and the low-level calls a consumer (or a test) drives.
 *
 * @module
 */

import { Chord, Group } from "./canvas.ts";
import { type Codec, defaultCodec, MessageSigner } from "./codec.ts";
import { type CronSchedule, type ScheduleLike, toSchedule } from "./crontab.ts";
import { Consumer } from "./consumer/consumer.ts";
import type { ConsumerOptions } from "./consumer/options.ts";
import { ConfigurationError, DecodeError, TaskError, TaskException } from "./errors.ts";
import {
  type ExecutionHost,
  Executor,
  type PostExecuteHook,
  type PreExecuteHook,
  type TaskContext,
  type TaskDefinition,
} from "./executor.ts";
import { lockKey, type LockOptions, TaskLock } from "./locks.ts";
import { readOutcome, valueOutcome } from "./outcome.ts";
import { RateLimiter, type RateLimitOptions } from "./rate_limit.ts";
import {
  ChordResult,
  type GetOptions,
  type RescheduleOptions,
  Result,
  type ResultBackend,
  ResultGroup,
  type RevokeOptions,
} from "./result.ts";
import { checkRevoked, revocationKeys, revoke, revokeKey, revokeTaskKey } from "./revocation.ts";
import { Signal, SignalBus, type SignalHandler, type SignalName } from "./signals.ts";
import { readEvents } from "./events/reader.ts";
import type { DeweyEvent, EventsOptions } from "./events/types.ts";
import { MemoryStorage } from "./storage/memory.ts";
import type { LeasedMessage, Storage } from "./storage/storage.ts";
import {
  cloneTask,
  fromMessage,
  Task,
  type TaskCallOptions,
  taskNames,
  toMessage,
  validateCallOptions,
} from "./task.ts";
import type { PeriodicTaskWrapper, TaskOptions, TaskWrapper } from "./task_wrapper.ts";

/**
 * Where Dewey reports problems that must not stop work (a throwing signal handler, say).
 *
 * @example
 * ```ts
 * import { Dewey, type Logger } from "@dewey/dewey";
 *
 * const lines: string[] = [];
 * const logger: Logger = {
 *   debug() {},
 *   info() {},
 *   warn: (...data) => lines.push(`warn: ${data.join(" ")}`),
 *   error: (message) => lines.push(`error: ${message}`),
 * };
 * const dewey = new Dewey({ immediate: true, logger });
 * dewey.signal(() => {
 *   throw new Error("handler bug");
 * });
 * const ping = dewey.task("ping", () => "pong");
 * console.log(await (await ping()).get()); // "pong" (a failing handler does not stop the task)
 * console.log(lines[0]); // 'error: signal handler for "enqueued" failed:'
 * ```
 */
export interface Logger {
  /** Detail for debugging. */
  debug(...data: unknown[]): void;
  /** Normal operation. */
  info(...data: unknown[]): void;
  /** Something odd that was handled. */
  warn(...data: unknown[]): void;
  /** Something failed. */
  error(...data: unknown[]): void;
}

/**
 * Options of `new Dewey()`.
 *
 * @example
 * ```ts
 * import { Dewey, type DeweyOptions, MemoryStorage } from "@dewey/dewey";
 *
 * const options: DeweyOptions = {
 *   name: "billing",
 *   storage: new MemoryStorage(),
 *   visibilityTimeout: 60,
 *   storeNone: true,
 * };
 * const dewey = new Dewey(options);
 * console.log(dewey.name, dewey.visibilityTimeout); // "billing" 60
 * ```
 */
export interface DeweyOptions {
  /** Key prefix / table namespace. @default "dewey" */
  name?: string;
  /** Where messages and results live. @default a MemoryStorage (one process only) */
  storage?: Storage;
  /** `false`: nothing is written to the result store. @default true */
  results?: boolean;
  /** `true`: a task returning `undefined` stores a marker. @default false */
  storeNone?: boolean;
  /** `false`: only the final failure is stored and reported. @default true */
  storeIntermediateErrors?: boolean;
  /** Run tasks in-process at call time. @default false */
  immediate?: boolean;
  /** Immediate mode swaps in a private MemoryStorage. @default true */
  immediateUseMemory?: boolean;
  /** Read cron schedules in UTC (`false`: local time). @default true */
  utc?: boolean;
  /** How messages and results are encoded. @default the structured-clone-compatible codec */
  codec?: Codec;
  /** `true`: Huey's delivery (no lease; a killed consumer loses its task). @default false */
  atMostOnce?: boolean;
  /** Seconds a dequeued message stays leased without a heartbeat. @default 30 */
  visibilityTimeout?: number;
  /**
   * A message whose lease expired more than this many times (each time, the consumer
   * running it died or stalled) goes to dead letter instead of killing another consumer.
   * @default 5
   */
  maxLeaseExpiries?: number;
  /** HMAC-SHA-256 keys: the first signs, all verify. */
  signingKeys?: string | string[];
  /** Where problems are reported. @default console */
  logger?: Logger;
  /**
   * Consumers publish task events and heartbeats to the event log, for `events()`, the
   * dashboard and `cli.ts top` (a consumer's own `events` option overrides it).
   * @default false
   */
  events?: boolean;
}

/** @internal How a consumer wants the writes that record a finished task retried. */
export interface WriteRetry {
  /** Aborts on a hard stop: the write then fails as it is. */
  signal: AbortSignal;
  /** A write failed for the first time and will be retried. */
  failed(error: unknown): void;
  /** A write that had failed went through at last. */
  recovered(): void;
}

/**
 * A dead-letter entry as `dewey.deadLetters()` gives it.
 *
 * @example
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 *
 * const dewey = new Dewey();
 * await dewey.storage.enqueue("not a task message", 0);
 * console.log(await dewey.dequeue()); // [] (the message went to dead letter)
 * const [letter] = await dewey.deadLetters();
 * console.log(letter.reason.startsWith("cannot decode"), letter.at instanceof Date); // true true
 * console.log(await dewey.purgeDeadLetters()); // 1
 * ```
 */
export interface DeadLetter {
  /** The entry's id (for `requeueDeadLetter`). */
  id: string;
  /** Why the message was set aside. */
  reason: string;
  /** When. */
  at: Date;
  /** The message as stored. */
  data: string;
}

/**
 * A lifecycle hook run by each consumer worker at start or stop.
 *
 * @example
 * ```ts
 * import { Dewey, type LifecycleHook } from "@dewey/dewey";
 *
 * const dewey = new Dewey();
 * const events: string[] = [];
 * const openPool: LifecycleHook = () => {
 *   events.push("pool opened");
 * };
 * const closePool: LifecycleHook = () => {
 *   events.push("pool closed");
 * };
 * dewey.onStartup(openPool);
 * dewey.onShutdown(closePool);
 * await dewey.runLifecycleHooks("startup"); // as each consumer worker does when it starts
 * await dewey.runLifecycleHooks("shutdown");
 * console.log(events); // ["pool opened", "pool closed"]
 * ```
 */
export type LifecycleHook = () => void | Promise<void>;

interface Registration extends TaskDefinition {
  readonly defaults: TaskOptions;
  readonly cron?: CronSchedule;
}

const FUTURE_SLACK_MS = 0;

function resolveDeadline(task: Task, now: number): void {
  if (task.expires instanceof Date) task.deadline = task.expires.getTime();
  else if (task.expires !== undefined) task.deadline = now + task.expires * 1000;
}

function lastStage(task: Task): Task {
  let tail = task;
  while (tail.onComplete) tail = tail.onComplete;
  return tail;
}

function stages(task: Task): Task[] {
  const all: Task[] = [];
  for (let t: Task | undefined = task; t; t = t.onComplete) all.push(t);
  return all;
}

function remove<T>(list: T[], item: T): () => void {
  return () => {
    const index = list.indexOf(item);
    if (index >= 0) list.splice(index, 1);
  };
}

/**
 * A task queue instance: register tasks, enqueue them, read their results.
 *
 * @example
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true }); // runs tasks in-process, for the example
 * const add = dewey.task("add", (a: number, b: number) => a + b);
 * const result = await add(1, 2);
 * console.log(await result.get()); // 3
 * ```
 */
export class Dewey {
  /** The instance name (key prefix / table namespace). */
  readonly name: string;
  /** Whether results are stored. */
  readonly results: boolean;
  /** Whether `undefined` results store a marker. */
  readonly storeNone: boolean;
  /** Whether failures that will be retried are stored and reported. */
  readonly storeIntermediateErrors: boolean;
  /** Whether immediate mode uses a private MemoryStorage. */
  readonly immediateUseMemory: boolean;
  /** Whether cron schedules are read in UTC. */
  readonly utc: boolean;
  /** Whether delivery is Huey's at-most-once. */
  readonly atMostOnce: boolean;
  /** Lease expiries after which a message goes to dead letter. */
  readonly maxLeaseExpiries: number;
  /** Seconds a dequeued message stays leased without a heartbeat. */
  readonly visibilityTimeout: number;
  /** Whether consumers publish events by default (the `events` option). */
  readonly publishEvents: boolean;

  readonly #configuredStorage: Storage;
  #memoryStorage?: MemoryStorage;
  #immediate = false;
  readonly #codec: Codec;
  readonly #signer?: MessageSigner;
  readonly #logger: Logger;
  readonly #registry = new Map<string, Registration>();
  readonly #signals: SignalBus;
  readonly #preHooks: PreExecuteHook[] = [];
  readonly #postHooks: PostExecuteHook[] = [];
  readonly #startupHooks: LifecycleHook[] = [];
  readonly #shutdownHooks: LifecycleHook[] = [];
  readonly #inFlight = new Set<Task>();
  readonly #leases = new WeakMap<Task, { storage: Storage; lease: string }>();
  /** Revocation key values read with a dequeued task's lease, until its check uses them. */
  readonly #watched = new WeakMap<Task, Map<string, string | undefined>>();
  readonly #ackingListeners = new Set<(task: Task) => void>();
  readonly #lockNames = new Set<string>();
  readonly #executor: Executor;
  readonly #resultBackend: ResultBackend;
  #shutdownSignal?: AbortSignal;

  /** Creates an instance; see {@linkcode DeweyOptions}. */
  constructor(options: DeweyOptions = {}) {
    if (options === null || typeof options !== "object") {
      throw new TypeError("Dewey options must be an object");
    }
    const name = options.name ?? "dewey";
    if (typeof name !== "string" || !/^[A-Za-z0-9_.:-]+$/.test(name)) {
      throw new TypeError(
        `Invalid instance name "${String(name)}": use letters, digits, "_", ".", ":" or "-"`,
      );
    }
    const visibility = options.visibilityTimeout ?? 30;
    if (!(typeof visibility === "number" && visibility > 0 && Number.isFinite(visibility))) {
      throw new RangeError(`Invalid "visibilityTimeout": expected a positive number of seconds`);
    }
    const maxLeaseExpiries = options.maxLeaseExpiries ?? 5;
    if (!(Number.isInteger(maxLeaseExpiries) && maxLeaseExpiries >= 0)) {
      throw new RangeError(`Invalid "maxLeaseExpiries": expected an integer >= 0`);
    }
    this.name = name;
    this.maxLeaseExpiries = maxLeaseExpiries;
    this.results = options.results ?? true;
    this.storeNone = options.storeNone ?? false;
    this.storeIntermediateErrors = options.storeIntermediateErrors ?? true;
    this.immediateUseMemory = options.immediateUseMemory ?? true;
    this.utc = options.utc ?? true;
    this.atMostOnce = options.atMostOnce ?? false;
    this.visibilityTimeout = visibility;
    this.publishEvents = options.events ?? false;
    this.#codec = options.codec ?? defaultCodec;
    this.#logger = options.logger ?? console;
    if (options.signingKeys !== undefined) this.#signer = new MessageSigner(options.signingKeys);
    this.#configuredStorage = options.storage ?? new MemoryStorage();
    this.#configuredStorage.bind(name);
    this.#signals = new SignalBus((error, signal) =>
      this.#logger.error(`signal handler for "${signal}" failed:`, error)
    );
    this.#executor = new Executor(this.#host());
    this.#resultBackend = this.#makeResultBackend();
    this.immediate = options.immediate ?? false;
  }

  /** The storage in use: the configured one, or immediate mode's private memory storage. */
  get storage(): Storage {
    return this.#memoryStorage ?? this.#configuredStorage;
  }

  /** Whether tasks run in the caller at call time. Settable at any time. */
  get immediate(): boolean {
    return this.#immediate;
  }

  set immediate(value: boolean) {
    this.#immediate = Boolean(value);
    if (this.#immediate && this.immediateUseMemory) {
      // A fresh store each time, so immediate mode never touches the configured storage.
      this.#memoryStorage = new MemoryStorage();
      this.#memoryStorage.bind(this.name);
    } else {
      this.#memoryStorage = undefined;
    }
  }

  // --- registration ----------------------------------------------------------------------

  /**
   * Registers `fn` under `name` and returns its wrapper. With `context: true` the last
   * parameter of `fn` receives a `TaskContext`.
   */
  task<A extends unknown[], R>(
    name: string,
    fn: (...args: [...A, TaskContext]) => R,
    options: TaskOptions & { context: true },
  ): TaskWrapper<A, Awaited<R>>;
  /** Registers `fn` under `name` and returns its wrapper. */
  task<A extends unknown[], R>(
    name: string,
    fn: (...args: A) => R,
    options?: TaskOptions,
  ): TaskWrapper<A, Awaited<R>>;
  task<A extends unknown[], R>(
    name: string,
    fn: (...args: A) => R,
    options: TaskOptions = {},
  ): TaskWrapper<A, Awaited<R>> {
    const registration = this.#register(name, fn, options, undefined);
    const wrapper = ((...args: A) => this.enqueue(wrapper.s(...args))) as TaskWrapper<
      A,
      Awaited<R>
    >;
    Object.defineProperty(wrapper, "name", { value: name });
    Object.assign(wrapper, {
      options: Object.freeze({ ...options }),
      s: (...args: A) => this.#signature(registration, args),
      schedule: (args: A, callOptions: TaskCallOptions = {}) => {
        if (!Array.isArray(args)) throw new TypeError("schedule() takes the arguments as an array");
        validateCallOptions(callOptions);
        return this.enqueue(this.#signature(registration, args).with(callOptions));
      },
      map: (argLists: A[]) => {
        if (!Array.isArray(argLists) || !argLists.every(Array.isArray)) {
          throw new TypeError("map() takes an array of argument arrays");
        }
        return this.#enqueueGroup(argLists.map((args) => this.#signature(registration, args)));
      },
      callLocal: (...args: A) => this.#callLocal(registration, args),
      ...this.#revocationMethods(name),
    });
    return wrapper;
  }

  /**
   * Registers a periodic task: the consumer enqueues it whenever `schedule` matches (a
   * `crontab(...)`, a cron string, or a predicate on a `Date`).
   */
  periodicTask<R>(
    name: string,
    schedule: ScheduleLike,
    fn: () => R,
    options: TaskOptions = {},
  ): PeriodicTaskWrapper<Awaited<R>> {
    const cron = toSchedule(schedule);
    const registration = this.#register(name, fn, options, cron);
    const wrapper =
      (() => this.enqueue(this.#signature(registration, []))) as unknown as PeriodicTaskWrapper<
        Awaited<R>
      >;
    Object.defineProperty(wrapper, "name", { value: name });
    Object.assign(wrapper, {
      options: Object.freeze({ ...options }),
      cron,
      s: () => this.#signature(registration, []),
      callLocal: () => this.#callLocal(registration, []),
      ...this.#revocationMethods(name),
    });
    return wrapper;
  }

  #register(
    name: string,
    fn: (...args: never[]) => unknown,
    options: TaskOptions,
    cron: CronSchedule | undefined,
  ): Registration {
    if (typeof name !== "string" || name === "") {
      throw new TypeError("A task needs a non-empty string name");
    }
    if (typeof fn !== "function") throw new TypeError(`Task "${name}" needs a function`);
    if (this.#registry.has(name)) {
      throw new ConfigurationError(`Task "${name}" is already registered`);
    }
    const { context, ...defaults } = options ?? {};
    if ("delay" in defaults || "eta" in defaults) {
      throw new TypeError(`Task "${name}": "delay" and "eta" are per call (use schedule())`);
    }
    validateCallOptions(defaults);
    const registration: Registration = {
      name,
      fn,
      context: context ?? false,
      periodic: cron !== undefined,
      defaults,
      cron,
    };
    this.#registry.set(name, registration);
    return registration;
  }

  #signature(registration: Registration, args: unknown[]): Task<never> {
    return new Task(registration.name, args, registration.defaults) as Task<never>;
  }

  #callLocal(registration: Registration, args: unknown[]): never {
    const fn = registration.fn as (...args: unknown[]) => never;
    if (!registration.context) return fn(...args);
    const task = this.#signature(registration, args);
    const context: TaskContext = {
      id: task.id,
      name: task.name,
      retries: task.retries,
      retryDelay: task.retryDelay,
      signal: new AbortController().signal,
      timeRemaining: Infinity,
      checkTimeout() {},
    };
    return fn(...args, context);
  }

  #revocationMethods(name: string) {
    return {
      revoke: (options: RevokeOptions = {}) => this.revokeAll(name, options),
      restore: () => this.restoreAll(name),
      isRevoked: (at: Date = new Date()) =>
        checkRevoked(this.storage, revokeTaskKey(name), at.getTime(), true),
    };
  }

  /** The names of every registered task. */
  get taskNames(): string[] {
    return [...this.#registry.keys()];
  }

  // --- enqueueing --------------------------------------------------------------------------

  /** Enqueues a task and returns its `Result`. */
  enqueue<R>(task: Task<R, false>): Promise<Result<R>>;
  /** Enqueues a pipeline and returns a `ResultGroup` with one `Result` per stage. */
  enqueue<R>(task: Task<R, true>): Promise<ResultGroup<unknown>>;
  /** Enqueues a task that may or may not be a pipeline. */
  enqueue<R>(task: Task<R, boolean>): Promise<Result<R> | ResultGroup<unknown>>;
  // The chord overload comes first: a Chord is structurally assignable to Group.
  /** Enqueues a chord's members; the callback follows once they are done. */
  enqueue(chord: Chord): Promise<ChordResult<unknown>>;
  /** Enqueues every member of a group and returns their results in order. */
  enqueue(group: Group): Promise<ResultGroup<unknown>>;
  async enqueue(
    item: Task<unknown, boolean> | Group | Chord,
  ): Promise<Result<unknown> | ResultGroup<unknown> | ChordResult<unknown>> {
    if (item instanceof Task) {
      await this.#submit(item as Task, Date.now());
      return this.#handleFor(item as Task);
    }
    if (item instanceof Group) {
      const tasks: Task[] = [];
      // Per member, in member order: a chord's handle, or the index of a task in `tasks`.
      const slots: (Result | number)[] = [];
      for (const member of item.members) {
        if (member instanceof Chord) {
          const chordResult = await this.#enqueueChord(member);
          slots.push(lastHandle(chordResult.pipelineResults));
        } else {
          slots.push(tasks.length);
          tasks.push(member as Task);
        }
      }
      const group = await this.#enqueueGroup(tasks);
      return new ResultGroup(
        slots.map((slot) => typeof slot === "number" ? group.results[slot] : slot),
      );
    }
    if (item instanceof Chord) return await this.#enqueueChord(item);
    throw new TypeError("enqueue() takes a task (wrapper.s(...)), a group or a chord");
  }

  #handleFor(task: Task): Result<unknown> | ResultGroup<unknown> {
    if (!task.onComplete) return new Result(this.#resultBackend, task.id, task);
    return new ResultGroup(stages(task).map((t) => new Result(this.#resultBackend, t.id, t)));
  }

  /** Future eta: straight to the schedule; otherwise onto the queue (or run, immediate). */
  async #submit(task: Task, now: number): Promise<void> {
    if (task.eta !== undefined && task.eta.getTime() > now + FUTURE_SLACK_MS) {
      await this.#scheduleTask(task);
    } else {
      await this.#enqueueTask(task, now);
    }
  }

  async #enqueueTask(task: Task, now: number): Promise<void> {
    resolveDeadline(task, now);
    await this.#signals.emit(Signal.ENQUEUED, task);
    if (this.#immediate) {
      await this.#executor.execute(task, new Date(now));
    } else {
      await this.storage.enqueue(
        await this.serialize(task),
        task.priority,
        revocationKeys(task.id, task.name),
      );
    }
  }

  async #scheduleTask(task: Task): Promise<void> {
    const eta = task.eta?.getTime() ?? 0;
    await this.storage.addToSchedule(await this.serialize(task), eta);
    await this.#signals.emit(Signal.SCHEDULED, task);
  }

  /** Enqueues tasks in one storage round trip (members due later go to the schedule). */
  async #enqueueGroup(tasks: Task[]): Promise<ResultGroup<never>> {
    const now = Date.now();
    const handles = tasks.map((t) => new Result<never>(this.#resultBackend, lastStage(t).id, t));
    if (this.#immediate) {
      for (const task of tasks) await this.#submit(task, now);
      return new ResultGroup(handles);
    }
    const due: Task[] = [];
    for (const task of tasks) {
      if (task.eta !== undefined && task.eta.getTime() > now) await this.#scheduleTask(task);
      else due.push(task);
    }
    const items = [];
    for (const task of due) {
      resolveDeadline(task, now);
      await this.#signals.emit(Signal.ENQUEUED, task);
      items.push({
        data: await this.serialize(task),
        priority: task.priority,
        watch: revocationKeys(task.id, task.name),
      });
    }
    if (items.length) await this.storage.enqueueMany(items);
    return new ResultGroup(handles);
  }

  async #enqueueChord(chord: Chord): Promise<ChordResult<unknown>> {
    const id = crypto.randomUUID();
    const size = chord.members.length;
    const memberHandles: Result[] = [];
    const tasks: Task[] = [];
    for (const [index, member] of chord.members.entries()) {
      const config = { id, size, index, callback: chord.callback as Task };
      if (member instanceof Chord) {
        // The inner chord's callback pipeline feeds this chord: mark its tail first, since
        // the callback is copied into each inner member when the inner chord is enqueued.
        const tail = lastStage(member.callback as Task);
        tail.chord = config;
        await this.#enqueueChord(member);
        memberHandles.push(new Result(this.#resultBackend, tail.id, tail));
      } else {
        const tail = lastStage(member as Task);
        tail.chord = config;
        tasks.push(member as Task);
        memberHandles.push(new Result(this.#resultBackend, tail.id, tail));
      }
    }
    await this.#enqueueGroup(tasks);
    const callback = chord.callback as Task;
    const callbackHandle = new Result(this.#resultBackend, callback.id, callback);
    const later = stages(callback).slice(1).map((t) => new Result(this.#resultBackend, t.id, t));
    return new ChordResult(
      new ResultGroup(memberHandles),
      callbackHandle,
      new ResultGroup([callbackHandle, ...later]),
    );
  }

  // --- results and key/value ---------------------------------------------------------------

  /**
   * The result of task `id`: its value, `undefined` when not ready (and not blocking);
   * throws `TaskException` for a failed task.
   */
  result(id: string, options: GetOptions = {}): Promise<unknown> {
    return new Result(this.#resultBackend, id).get(options);
  }

  /** Reads `key` from the result store, removing it unless `peek`. */
  async get(key: string, options: { peek?: boolean } = {}): Promise<unknown> {
    const raw = options.peek ? await this.storage.peekData(key) : await this.storage.popData(key);
    if (raw === undefined) return undefined;
    const outcome = readOutcome(this.#codec.decode(raw));
    if (outcome?.kind === "error") return new TaskException(outcome.metadata);
    return outcome?.value;
  }

  /** Writes `value` under `key` in the result store. */
  async put(key: string, value: unknown): Promise<void> {
    await this.storage.putData(key, this.#codec.encode(valueOutcome(value)));
  }

  /** Deletes `key`; whether something was there. */
  delete(key: string): Promise<boolean> {
    return this.storage.deleteData(key);
  }

  #makeResultBackend(): ResultBackend {
    const readOutcomeAt = async (id: string, preserve: boolean) => {
      const raw = preserve ? await this.storage.peekData(id) : await this.storage.popData(id);
      if (raw === undefined) return undefined;
      return readOutcome(this.#codec.decode(raw));
    };
    return {
      readOutcome: readOutcomeAt,
      hasOutcome: (id) => this.storage.hasData(id),
      waitForOutcome: (id, options) => this.#waitForData(id, options),
      revokeById: (id, options) => this.revokeById(id, options),
      restoreById: (id) => this.restoreById(id),
      isRevoked: (target) => this.isRevoked(target),
      reschedule: (task, options) => this.#reschedule(task, options),
    };
  }

  async #waitForData(key: string, options: GetOptions): Promise<boolean> {
    const storage = this.storage;
    if (storage.waitForData) return await storage.waitForData(key, options.timeout);
    const backoff = options.backoff ?? 1.15;
    const maxDelay = options.maxDelay ?? 1;
    const deadline = options.timeout === undefined
      ? Infinity
      : performance.now() + options.timeout * 1000;
    let delay = 0.05;
    while (!await storage.hasData(key)) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await new Promise((r) => setTimeout(r, Math.min(delay * 1000, maxDelay * 1000, left)));
      delay *= backoff;
    }
    return true;
  }

  async #reschedule(task: Task, options: RescheduleOptions): Promise<Result<unknown>> {
    validateCallOptions(options);
    await this.revokeById(task.id, { once: true });
    const copy = cloneTask(task);
    copy.id = crypto.randomUUID();
    copy.eta = undefined;
    copy.deadline = undefined;
    copy.with(options);
    await this.#submit(copy, Date.now());
    return new Result(this.#resultBackend, copy.id, copy);
  }

  // --- inspection --------------------------------------------------------------------------

  /** Tasks waiting in the queue, in run order (undecodable messages are skipped). */
  async pending(limit?: number): Promise<Task[]> {
    return await this.#decodeAll(await this.storage.enqueuedItems(limit));
  }

  /** Tasks in the schedule, soonest first. */
  async scheduled(limit?: number): Promise<Task[]> {
    return await this.#decodeAll(await this.storage.scheduledItems(limit));
  }

  async #decodeAll(items: string[]): Promise<Task[]> {
    const tasks: Task[] = [];
    for (const data of items) {
      try {
        tasks.push(...await this.deserialize(data));
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
      }
    }
    return tasks;
  }

  /**
   * Every stored result and `put` value by key (a failure as its `TaskException`);
   * Dewey's own records (revocations, locks, chord parts) are left out.
   */
  async allResults(): Promise<Map<string, unknown>> {
    const all = new Map<string, unknown>();
    for (const [key, raw] of await this.storage.resultItems()) {
      if (key.startsWith("~")) continue;
      try {
        const outcome = readOutcome(this.#codec.decode(raw));
        if (outcome) {
          all.set(
            key,
            outcome.kind === "error" ? new TaskException(outcome.metadata) : outcome.value,
          );
        }
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
      }
    }
    return all;
  }

  /** Messages waiting in the queue (leased ones excluded). */
  pendingCount(): Promise<number> {
    return this.storage.queueSize();
  }

  /** Messages in the schedule. */
  scheduledCount(): Promise<number> {
    return this.storage.scheduleSize();
  }

  /** Keys in the result store (Dewey's own records included, as Huey counts them). */
  resultCount(): Promise<number> {
    return this.storage.resultCount();
  }

  /** Messages being executed (leased). */
  leasedCount(): Promise<number> {
    return this.storage.leasedCount();
  }

  /**
   * The events consumers publish (with `events: true`), from any process: an
   * `AsyncIterable` that follows the event log until the loop breaks or `abort` aborts.
   *
   * @example
   * ```ts
   * import { Dewey } from "@dewey/dewey";
   * import { Consumer } from "@dewey/dewey/consumer";
   *
   * const dewey = new Dewey({ events: true });
   * const add = dewey.task("add", (a: number, b: number) => a + b);
   * const consumer = new Consumer(dewey, { periodic: false, log: { write() {} } });
   * const running = consumer.run();
   * await add(1, 2);
   * for await (const event of dewey.events({ signal: "complete", from: 0 })) {
   *   if (event.signal === "complete") console.log(event.task); // "add"
   *   break;
   * }
   * consumer.stop();
   * await running;
   * ```
   */
  events(options: EventsOptions = {}): AsyncIterable<DeweyEvent> {
    return readEvents(this.storage, options);
  }

  /** Removes everything stored under this instance's name. */
  flush(): Promise<void> {
    return this.storage.flushAll();
  }

  // --- locks and rate limits ----------------------------------------------------------------

  /** A named lock (see {@linkcode TaskLock}). */
  lock(name: string, options: LockOptions = {}): TaskLock {
    const lock = new TaskLock(() => this.storage, name, options);
    this.#lockNames.add(name);
    return lock;
  }

  /** Wraps `fn` so each call holds the lock `name` (or throws `TaskLockedException`). */
  lockTask<A extends unknown[], R>(
    name: string,
    fn: (...args: A) => R,
    options: LockOptions = {},
  ): (...args: A) => Promise<Awaited<R>> {
    const lock = this.lock(name, options);
    return (...args: A) => lock.run(() => fn(...args));
  }

  /** Clears every lock this instance made plus `names`; returns the names that were held. */
  async flushLocks(...names: string[]): Promise<string[]> {
    const cleared: string[] = [];
    for (const name of new Set([...this.#lockNames, ...names.map((n) => n.trim())])) {
      if (name && await this.storage.deleteData(lockKey(name))) cleared.push(name);
    }
    return cleared;
  }

  /** A named rate limit (see {@linkcode RateLimiter}). */
  rateLimit(name: string, options: RateLimitOptions): RateLimiter {
    return new RateLimiter(() => this.storage, name, options);
  }

  // --- signals and hooks --------------------------------------------------------------------

  /** Calls `handler` for the given signals (all when none are given); returns an unsubscribe. */
  signal(handler: SignalHandler, ...signals: SignalName[]): () => void {
    return this.#signals.subscribe(handler, signals);
  }

  /** Runs `hook` before each task; it may throw `CancelExecution`. Returns an unsubscribe. */
  preExecute(hook: PreExecuteHook): () => void {
    this.#preHooks.push(hook);
    return remove(this.#preHooks, hook);
  }

  /** Runs `hook` after each task with its value and error. Returns an unsubscribe. */
  postExecute(hook: PostExecuteHook): () => void {
    this.#postHooks.push(hook);
    return remove(this.#postHooks, hook);
  }

  /** Runs `hook` when each consumer worker starts. Returns an unsubscribe. */
  onStartup(hook: LifecycleHook): () => void {
    this.#startupHooks.push(hook);
    return remove(this.#startupHooks, hook);
  }

  /** Runs `hook` when each consumer worker stops. Returns an unsubscribe. */
  onShutdown(hook: LifecycleHook): () => void {
    this.#shutdownHooks.push(hook);
    return remove(this.#shutdownHooks, hook);
  }

  /** Runs the startup (or shutdown) hooks in order; a failing hook is reported, not thrown. */
  async runLifecycleHooks(which: "startup" | "shutdown"): Promise<void> {
    for (const hook of which === "startup" ? this.#startupHooks : this.#shutdownHooks) {
      try {
        await hook();
      } catch (error) {
        this.#logger.error(`${which} hook failed:`, error);
      }
    }
  }

  // --- revocation ---------------------------------------------------------------------------

  /** Revokes every invocation of task `name`. */
  revokeAll(name: string, options: RevokeOptions = {}): Promise<void> {
    return revoke(this.storage, revokeTaskKey(name), { once: false, ...options });
  }

  /** Undoes `revokeAll`; whether a revocation was there. */
  restoreAll(name: string): Promise<boolean> {
    return this.storage.deleteData(revokeTaskKey(name));
  }

  /** Revokes one invocation by task id. */
  revokeById(id: string, options: RevokeOptions = {}): Promise<void> {
    return revoke(this.storage, revokeKey(id), { once: false, ...options });
  }

  /** Undoes `revokeById`; whether a revocation was there. */
  restoreById(id: string): Promise<boolean> {
    return this.storage.deleteData(revokeKey(id));
  }

  /**
   * Whether a task is revoked at `at`: a bare id sees only that invocation's revocation;
   * a `Task` or `Result` also sees its task's; a wrapper sees the task's.
   */
  async isRevoked(
    target: string | Task<unknown, boolean> | Result<unknown> | { readonly name: string },
    at: Date = new Date(),
  ): Promise<boolean> {
    const when = at.getTime();
    const storage = this.storage;
    if (typeof target === "string") {
      return await checkRevoked(storage, revokeKey(target), when, true);
    }
    if (target instanceof Result) {
      if (!target.task) return await checkRevoked(storage, revokeKey(target.id), when, true);
      target = target.task;
    }
    if (target instanceof Task) {
      return await checkRevoked(storage, revokeKey(target.id), when, true) ||
        await checkRevoked(storage, revokeTaskKey(target.name), when, true);
    }
    if (typeof target === "function" && typeof target.name === "string") {
      return await checkRevoked(storage, revokeTaskKey(target.name), when, true);
    }
    throw new TypeError("isRevoked() takes a task id, a Task, a Result or a task wrapper");
  }

  /** Emits `interrupted` for every task still executing (the consumer calls it on a hard stop). */
  async notifyInterruptedTasks(): Promise<void> {
    for (const task of [...this.#inFlight]) await this.#signals.emit(Signal.INTERRUPTED, task);
  }

  // --- dead letter --------------------------------------------------------------------------

  /** Messages set aside because they could not be delivered. */
  async deadLetters(): Promise<DeadLetter[]> {
    return (await this.storage.deadLetters()).map((entry) => ({
      ...entry,
      at: new Date(entry.at),
    }));
  }

  /** Moves a dead letter back to the queue; whether it existed. */
  requeueDeadLetter(id: string): Promise<boolean> {
    return this.storage.requeueDeadLetter(id);
  }

  /** Removes every dead letter; the count removed. */
  purgeDeadLetters(): Promise<number> {
    return this.storage.purgeDeadLetters();
  }

  /**
   * Sets a message aside with `reason`. When it is still readable as a chord member, the
   * chord is told (the member contributes a `TaskError` named `DeadLetter`), so it does
   * not wait forever.
   */
  async deadLetter(data: string, reason: string): Promise<void> {
    await this.storage.deadLetter(data, reason);
    if (this.onDeadLetter) this.onDeadLetter(reason);
    else this.#logger.warn(`message moved to dead letter: ${reason}`);
    let task: Task;
    try {
      // Only a message that verifies is trusted for its chord details.
      const verified = this.#signer ? await this.#signer.verify(data) : data;
      task = fromMessage(this.#codec.decode(verified));
    } catch {
      return;
    }
    await this.#executor.abortChordMember(task, new TaskError("DeadLetter", reason), Date.now());
  }

  // --- low level: what a consumer drives ----------------------------------------------------

  /** Encodes (and signs, with `signingKeys`) a task as a message. */
  async serialize(task: Task<unknown, boolean>): Promise<string> {
    const data = this.#codec.encode(toMessage(task as Task));
    return this.#signer ? await this.#signer.sign(data) : data;
  }

  /**
   * Decodes a message into a task, as a one-element tuple (`const [task] = await
   * dewey.deserialize(data)`): a `Task` has a `then` method, so it cannot be a promise's
   * value itself. Throws `DecodeError` for anything malformed, forged, or naming a task
   * this instance does not know.
   */
  async deserialize(data: string): Promise<[Task]> {
    const verified = this.#signer ? await this.#signer.verify(data) : data;
    const task = fromMessage(this.#codec.decode(verified));
    for (const name of taskNames(task)) {
      if (!this.#registry.has(name)) throw new DecodeError(`Unknown task "${name}"`);
    }
    return [task];
  }

  /**
   * Leases the next message and decodes it: `[task]`, or `[]` when the queue is empty
   * (a tuple, because a `Task` has a `then` method and cannot be a promise's value). A
   * message that cannot be decoded goes to dead letter and the next one is tried.
   *
   * @example Drive a task by hand, as tests do
   * ```ts
   * import { Dewey } from "@dewey/dewey";
   * const dewey = new Dewey();
   * const add = dewey.task("add", (a: number, b: number) => a + b);
   * const result = await add(1, 2);
   * const [task] = await dewey.dequeue();
   * if (task) await dewey.execute(task);
   * console.log(await result.get()); // 3
   * ```
   */
  async dequeue(): Promise<[Task] | []> {
    const [task] = await this.dequeueMany(1);
    return task ? [task] : [];
  }

  /**
   * @internal Leases up to `count` messages in one storage call and decodes them (the
   * consumer fills its free worker slots with it). Messages that cannot be decoded, or
   * whose lease expired more than `maxLeaseExpiries` times, go to dead letter. With
   * `runNow` (the caller executes each task at once), the revocation check uses the values
   * the storage read with the lease instead of reading them again.
   */
  async dequeueMany(count: number, options: { runNow?: boolean } = {}): Promise<Task[]> {
    const storage = this.storage;
    const tasks: Task[] = [];
    while (tasks.length < count) {
      const wanted = count - tasks.length;
      const batch = await storage.dequeueMany(wanted, this.visibilityTimeout);
      for (const [index, leased] of batch.entries()) {
        try {
          const [task] = await this.#take(storage, leased, options.runNow === true);
          if (task) tasks.push(task);
        } catch (error) {
          // The storage or the signer failed: give back what is not decoded yet.
          if (!this.atMostOnce) {
            for (const rest of batch.slice(index)) await storage.release(rest.lease);
          }
          if (tasks.length > 0) return tasks;
          throw error;
        }
      }
      // A short batch means the queue is empty: asking again would cost a round trip for
      // nothing. A full one may have lost messages to dead letter; take their places.
      if (batch.length < wanted) break;
    }
    return tasks;
  }

  /** One leased message as `[task]`, or `[]` when it went to dead letter. */
  async #take(
    storage: Storage,
    leased: LeasedMessage,
    runNow: boolean,
  ): Promise<[Task] | []> {
    if (this.atMostOnce) await storage.ack(leased.lease);
    let reason: string | undefined;
    let task: Task | undefined;
    if (leased.expiredLeases > this.maxLeaseExpiries) {
      reason = `lease expired ${leased.expiredLeases} times: the consumers running it ` +
        `died or stalled (maxLeaseExpiries is ${this.maxLeaseExpiries})`;
    } else {
      try {
        [task] = await this.deserialize(leased.data);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        reason = `cannot decode message: ${error.message}`;
      }
    }
    if (reason !== undefined) {
      await this.deadLetter(leased.data, reason);
      if (!this.atMostOnce) await storage.ack(leased.lease);
      return [];
    }
    if (!this.atMostOnce) this.#leases.set(task!, { storage, lease: leased.lease });
    // Values read with the lease stand for a read at execution only when it starts now.
    if (runNow && leased.watched) this.#watched.set(task!, leased.watched);
    // In a tuple: a task is a thenable (`then` builds pipelines), and resolving a promise
    // with it would call that `then` once per task.
    return [task!];
  }

  /**
   * Executes a task at `now` (default: the current time) with every check and follow-up;
   * acknowledges its lease when it finishes, whatever the outcome, and gives the message
   * back to the queue when the execution itself throws (the storage failed before the task
   * could run or settle). Returns the task's
   * value, or `undefined` when it was scheduled, revoked, expired, canceled or failed.
   */
  async execute(task: Task<unknown, boolean>, options: { now?: Date } = {}): Promise<unknown> {
    const lease = this.#leases.get(task as Task);
    let settled = false;
    try {
      const value = await this.#executor.execute(task as Task, options.now ?? new Date());
      settled = true;
      return value;
    } finally {
      // Unless the executor acked it already, together with the result. An execution
      // that threw (the storage failed before the task could run or settle) gives the
      // message back instead: acking it would lose a task that never ran.
      if (lease && this.#leases.delete(task as Task)) {
        if (settled) await this.#durably(() => lease.storage.ack(lease.lease));
        else await this.#durably(() => lease.storage.release(lease.lease));
      }
    }
  }

  /** @internal The lease of a dequeued task (for the consumer's heartbeat). */
  leaseOf(task: Task): string | undefined {
    return this.#leases.get(task)?.lease;
  }

  /**
   * @internal How writes that record a finished task survive a storage outage: set by a
   * running consumer (retry until stored, or until `signal` aborts on a hard stop; report
   * the outage and the recovery), unset elsewhere (the write runs once).
   */
  writeRetry?: WriteRetry;

  /** @internal Reports a message moved to dead letter (a running consumer logs it). */
  onDeadLetter?: (reason: string) => void;

  /** Runs `write`, retrying it through an outage when {@linkcode Dewey.writeRetry} says so. */
  async #durably<T>(write: () => Promise<T>): Promise<T> {
    const policy = this.writeRetry;
    if (!policy) return await write();
    let delay = 50;
    for (let failures = 0;; failures++) {
      try {
        const value = await write();
        if (failures > 0) policy.recovered();
        return value;
      } catch (error) {
        if (policy.signal.aborted) throw error;
        if (failures === 0) policy.failed(error);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, delay);
          policy.signal.addEventListener("abort", done, { once: true });
          function done() {
            clearTimeout(timer);
            policy!.signal.removeEventListener("abort", done);
            resolve();
          }
        });
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /**
   * @internal Calls `listener` when a dequeued task's function has finished and its
   * result and ack are about to be stored in one step (the consumer frees the task's
   * worker slot then, so the next dequeue can share that commit). Returns the unsubscribe.
   */
  onAcking(listener: (task: Task) => void): () => void {
    this.#ackingListeners.add(listener);
    return () => this.#ackingListeners.delete(listener);
  }

  /**
   * @internal Takes a dequeued task's lease away from it: its execution then neither acks
   * nor extends it (the consumer releases it after interrupting the task).
   */
  detachLease(task: Task): string | undefined {
    const lease = this.#leases.get(task)?.lease;
    this.#leases.delete(task);
    return lease;
  }

  /** @internal Acknowledges a dequeued task's lease (when another process executed it). */
  async acknowledge(task: Task): Promise<void> {
    const lease = this.#leases.get(task);
    if (!lease) return;
    this.#leases.delete(task);
    await lease.storage.ack(lease.lease);
  }

  /**
   * @internal Settles a dequeued task as failed with `error` without running it (a worker
   * killed at its hard timeout): signals, stored error, error handler, chord, retry.
   */
  async failTask(task: Task, error: unknown, now: Date = new Date()): Promise<void> {
    await this.#executor.fail(task, error, now);
  }

  /**
   * Removes and returns every scheduled task due at `now`. Undecodable ones go to dead
   * letter; one whose decoding failed for another reason (a signer that threw) goes back
   * to the schedule, due at `now`, instead of being lost with the read.
   */
  async readSchedule(now: Date = new Date()): Promise<Task[]> {
    const tasks: Task[] = [];
    for (const data of await this.storage.readSchedule(now.getTime())) {
      try {
        tasks.push(...await this.deserialize(data));
      } catch (error) {
        if (error instanceof DecodeError) {
          await this.deadLetter(data, `cannot decode scheduled message: ${error.message}`);
        } else {
          this.#logger.error("cannot decode a scheduled message; it stays scheduled", error);
          await this.#durably(() => this.storage.addToSchedule(data, now.getTime()));
        }
      }
    }
    return tasks;
  }

  /**
   * @internal Enqueues `task` (a due scheduled task: the schedule no longer holds it),
   * retrying through a storage outage under a consumer, so it is not lost.
   */
  async enqueueDurably(task: Task): Promise<void> {
    await this.#durably(() => this.enqueue(task));
  }

  /** Whether the task's eta has come at `now`. */
  readyToRun(task: Task<unknown, boolean>, now: Date = new Date()): boolean {
    return task.eta === undefined || task.eta.getTime() <= now.getTime();
  }

  /** Puts a task in the schedule at its eta (signal `scheduled`). */
  addSchedule(task: Task<unknown, boolean>): Promise<void> {
    return this.#scheduleTask(task as Task);
  }

  /**
   * The periodic tasks due at `now` (minute granularity, or second granularity for
   * six-field schedules), as fresh tasks; `utc` overrides the instance's setting. Pure:
   * enqueueing each tick once is the consumer's job.
   */
  readPeriodic(now: Date = new Date(), options: { utc?: boolean } = {}): Task[] {
    const utc = options.utc ?? this.utc;
    const due: Task[] = [];
    for (const registration of this.#registry.values()) {
      if (!registration.cron) continue;
      const cron = utc ? registration.cron : registration.cron.local();
      const secondAligned = now.getUTCSeconds() === 0 || cron.hasSeconds;
      if (secondAligned && cron.matches(now)) due.push(this.#signature(registration, []));
    }
    return due;
  }

  /** Whether any periodic task has a seconds field (the consumer then ticks every second). */
  get hasSubMinutePeriodic(): boolean {
    for (const registration of this.#registry.values()) {
      if (registration.cron?.hasSeconds) return true;
    }
    return false;
  }

  /** @internal Set by the consumer: aborts every running task's signal on shutdown. */
  set shutdownSignal(signal: AbortSignal | undefined) {
    this.#shutdownSignal = signal;
  }

  /**
   * A consumer for this instance (see `Consumer`). The `async` worker type works
   * anywhere; `worker` and `process` need `@dewey/dewey/consumer` imported (the CLI does).
   *
   * @example
   * ```ts
   * import { Dewey } from "@dewey/dewey";
   * const dewey = new Dewey();
   * const consumer = dewey.consumer({ workers: 2, periodic: false });
   * console.log(consumer.options.workerType); // "async"
   * ```
   */
  consumer(options: ConsumerOptions = {}): Consumer {
    return new Consumer(this, options);
  }

  /** Releases the storage's connections. */
  async close(): Promise<void> {
    await this.#configuredStorage.close();
  }

  #host(): ExecutionHost {
    // A view of this instance for the executor, so its internals stay private.
    // deno-lint-ignore no-this-alias
    const dewey = this;
    return {
      get storage() {
        return dewey.storage;
      },
      codec: dewey.#codec,
      results: dewey.results,
      storeNone: dewey.storeNone,
      storeIntermediateErrors: dewey.storeIntermediateErrors,
      signals: dewey.#signals,
      preExecuteHooks: dewey.#preHooks,
      postExecuteHooks: dewey.#postHooks,
      inFlight: dewey.#inFlight,
      get shutdownSignal() {
        return dewey.#shutdownSignal;
      },
      definition: (name) => dewey.#registry.get(name),
      enqueueTask: (task, now) => dewey.#submit(task, now),
      scheduleTask: (task) => dewey.#scheduleTask(task),
      report: (message, error) => dewey.#logger.error(message, error),
      durably: (write) => dewey.#durably(write),
      takeWatched: (task) => {
        const watched = dewey.#watched.get(task);
        dewey.#watched.delete(task);
        return watched;
      },
      takeLease: (task) => {
        const lease = dewey.#leases.get(task);
        if (!lease) return undefined;
        dewey.#leases.delete(task);
        for (const listener of dewey.#ackingListeners) listener(task);
        return lease;
      },
    };
  }
}

function lastHandle(group: ResultGroup<unknown>): Result<unknown> {
  return group.results[group.results.length - 1];
}
