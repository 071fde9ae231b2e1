/**
 * The consumer: takes tasks off the queue and runs them, moves due tasks from the
 * schedule to the queue, enqueues periodic tasks once per tick across consumers, keeps
 * the leases of running tasks alive, returns expired leases, and stops gracefully.
 *
 * @module
 */

import type { Dewey } from "../dewey.ts";
import { ConfigurationError } from "../errors.ts";
import { Signal, type SignalName } from "../signals.ts";
import type { Task } from "../task.ts";
import { EventPublisher } from "../events/publisher.ts";
import { ConsumerLogger, describeError } from "./log.ts";
import { TaskMetrics } from "./metrics.ts";
import {
  type ConsumerLog,
  type ConsumerOptions,
  resolveConsumerOptions,
  type ResolvedConsumerOptions,
} from "./options.ts";
import { AsyncRunner, type TaskRunner } from "./runner.ts";

/** What a runner gets from its consumer. */
export interface RunnerContext {
  readonly dewey: Dewey;
  readonly options: ResolvedConsumerOptions;
  readonly logger: ConsumerLogger;
  /** Logs a signal reported by a worker (which runs the executor elsewhere). */
  readonly logSignal: (signal: string, task: TaskLabel, error?: unknown) => void;
}

/** What a log line needs of a task. */
export interface TaskLabel {
  readonly name: string;
  readonly id: string;
}

/** Builds the runner for a worker type other than `async` (registered by its module). */
export type RunnerFactory = (context: RunnerContext) => TaskRunner;

const runnerFactories = new Map<string, RunnerFactory>();

/** @internal Registers how a worker type is run (kept out of the core, which runs on edge). */
export function registerRunner(workerType: string, factory: RunnerFactory): void {
  runnerFactories.set(workerType, factory);
}

let logFileOpener: ((file: string) => ConsumerLog) | undefined;

/** @internal Registers how the `logfile` option opens a file (file APIs stay out of the core). */
export function registerLogFile(open: (file: string) => ConsumerLog): void {
  logFileOpener = open;
}

/** Where log lines go: `log`, else `logfile` (through the registered opener), else stderr. */
function logTarget(options: ResolvedConsumerOptions): ConsumerLog {
  if (options.log) return options.log;
  if (options.logfile === undefined) return stderrLog;
  if (!logFileOpener) {
    throw new TypeError(
      'The "logfile" option needs "@dewey/dewey/consumer" imported (it writes the file)',
    );
  }
  return logFileOpener(options.logfile);
}

const stderrLog: ConsumerLog = { write: (line) => console.error(line) };

/** Sleeps `seconds`, or less when `signal` aborts. Never rejects. */
function sleep(seconds: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || seconds <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, seconds * 1000);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** How long a periodic tick's claim is kept: long enough that no consumer re-claims it. */
const PERIODIC_CLAIM_TTL = 3600;

/**
 * Runs the tasks of one `Dewey` instance. `run()` resolves when the consumer has stopped;
 * `stop()` asks it to (gracefully by default: running tasks finish first; a second,
 * non-graceful stop interrupts them and releases their leases).
 *
 * @example
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 * import { Consumer } from "@dewey/dewey/consumer";
 *
 * const dewey = new Dewey();
 * const add = dewey.task("add", (a: number, b: number) => a + b);
 * const consumer = new Consumer(dewey, { periodic: false, log: { write() {} } });
 * const running = consumer.run();
 * const result = await add(1, 2);
 * console.log(await result.get({ blocking: true, timeout: 5 })); // 3
 * consumer.stop();
 * await running;
 * ```
 */
export class Consumer {
  /** The instance whose tasks this consumer runs. */
  readonly dewey: Dewey;
  /** The options, defaults filled in. */
  readonly options: ResolvedConsumerOptions;
  readonly #logger: ConsumerLogger;
  /** Tasks not finished yet: their leases are renewed, a stop waits for them. */
  readonly #running = new Map<Task, Promise<void>>();
  /**
   * Tasks holding a worker slot: running tasks minus those whose result and ack are being
   * stored. Freeing the slot then lets the next dequeue share that commit.
   */
  readonly #busy = new Set<Task>();
  readonly #startedAt = new Map<string, number>();
  /** Aborts when a stop is requested: wakes every loop's sleep. */
  readonly #stopRequested = new AbortController();
  /** Aborts on a hard stop: the signal every running task sees. */
  readonly #interrupt = new AbortController();
  #state: "new" | "running" | "stopped" = "new";
  #graceful = true;
  #wakeFetcher?: () => void;
  #storageDown = false;
  /** Writes of finished tasks failing right now (each retried until stored). */
  #failingWrites = 0;
  /** Leases of the tasks a hard stop interrupted, released once they settle or not. */
  readonly #interruptedLeases: string[] = [];
  #tasksDone = 0;
  /** Task counts and durations by name, for Prometheus (`metricsHandler`). */
  readonly metrics: TaskMetrics = new TaskMetrics();
  #events?: EventPublisher;

  /** Creates a consumer; nothing runs until `run()`. */
  constructor(dewey: Dewey, options: ConsumerOptions = {}) {
    this.dewey = dewey;
    this.options = resolveConsumerOptions(options);
    this.#logger = new ConsumerLogger(logTarget(this.options), this.options);
  }

  /** Tasks finished since `run()` started. */
  get tasksDone(): number {
    return this.#tasksDone;
  }

  /** Runs until stopped. */
  async run(): Promise<void> {
    if (this.#state !== "new") throw new TypeError("A consumer can run only once");
    if (this.dewey.immediate) {
      throw new ConfigurationError("Cannot run a consumer while the instance is in immediate mode");
    }
    // Before any state changes: an unavailable worker type leaves nothing to undo.
    const runner = this.#makeRunner();
    this.#state = "running";
    const options = this.options;
    const log = this.#logger;
    if (options.events ?? this.dewey.publishEvents) this.#events = this.#publisher();
    const unsubscribe = this.dewey.signal((signal, task, error) =>
      this.#logSignal(signal, task, error)
    );
    this.dewey.shutdownSignal = this.#interrupt.signal;
    // A finished task's result, ack and follow-ups are retried through a storage outage
    // (the lease stays held meanwhile), not dropped with a log line.
    this.dewey.writeRetry = {
      signal: this.#interrupt.signal,
      failed: (error) => {
        this.#failingWrites += 1;
        this.#storageState(error);
      },
      recovered: () => {
        this.#failingWrites -= 1;
        this.#storageState(undefined);
      },
    };
    this.dewey.onDeadLetter = (reason) =>
      this.#logger.warn("consumer", `Message moved to dead letter: ${reason}`);
    const stopListening = this.dewey.onAcking((task) => {
      if (this.#busy.delete(task)) this.#freeSlot();
    });
    try {
      log.info(
        "consumer",
        `Dewey consumer started: instance "${this.dewey.name}", ${options.workers} ${options.workerType} worker(s), periodic ${
          options.periodic ? "on" : "off"
        }`,
      );
      log.info("consumer", `Tasks: ${this.dewey.taskNames.join(", ") || "(none)"}`);
      if (options.flushLocks) {
        const cleared = await this.dewey.flushLocks(...options.extraLocks);
        if (cleared.length) log.warn("consumer", `Found stale locks: ${cleared.join(", ")}`);
      }
      await runner.start();
      this.#events?.start();
      // The heartbeat outlives the other loops: it keeps leases alive while tasks drain.
      const heartbeatStop = new AbortController();
      const heartbeat = this.#heartbeatLoop(heartbeatStop.signal);
      const loops = [this.#fetchLoop(runner), this.#schedulerLoop()];
      if (options.periodic) loops.push(this.#periodicLoop());
      await Promise.all(loops);
      await this.#drain();
      heartbeatStop.abort();
      await heartbeat;
      await runner.stop(this.#graceful);
    } finally {
      await this.#events?.stop();
      unsubscribe();
      stopListening();
      this.dewey.writeRetry = undefined;
      this.dewey.onDeadLetter = undefined;
      this.dewey.shutdownSignal = undefined;
      this.#state = "stopped";
      log.info("consumer", "Dewey consumer stopped");
    }
  }

  /**
   * Asks the consumer to stop. Graceful (the default): take no new work, let running
   * tasks finish. Not graceful, or a second call: interrupt running tasks (signal
   * `interrupted`) and release their leases so another consumer takes them at once.
   */
  stop(options: { graceful?: boolean } = {}): void {
    const graceful = (options.graceful ?? true) && !this.#stopRequested.signal.aborted;
    if (!graceful && !this.#interrupt.signal.aborted) {
      this.#graceful = false;
      // Taken before the abort: a task that settles once aborted then neither acks nor
      // keeps its message, which `#drain` returns to the queue.
      for (const task of this.#running.keys()) {
        const lease = this.dewey.detachLease(task);
        if (lease) this.#interruptedLeases.push(lease);
      }
      this.#interrupt.abort();
      this.#logger.info("consumer", "Stopping now: interrupting running tasks");
    } else if (graceful) {
      this.#logger.info(
        "consumer",
        "Stopping: finishing running tasks (stop again to interrupt them)",
      );
    }
    this.#stopRequested.abort();
    this.#wakeFetcher?.();
  }

  get #stopping(): boolean {
    return this.#stopRequested.signal.aborted;
  }

  #makeRunner(): TaskRunner {
    if (this.options.workerType === "async") {
      return new AsyncRunner(this.dewey, this.options);
    }
    const factory = runnerFactories.get(this.options.workerType);
    if (!factory) {
      throw new ConfigurationError(
        `The "${this.options.workerType}" worker type is not available in this runtime`,
      );
    }
    return factory({
      dewey: this.dewey,
      options: this.options,
      logger: this.#logger,
      logSignal: (signal, task, error) => this.#logSignal(signal as SignalName, task, error),
    });
  }

  /**
   * Takes tasks while a slot is free; waits (or polls with backoff) when the queue is empty.
   * Slots that free up while a dequeue is in flight get a dequeue of their own at once
   * instead of waiting for it: with a remote storage, several round trips then overlap, and
   * the consumer works while the storage answers. Together the dequeues never lease more
   * messages than there are free slots.
   */
  async #fetchLoop(runner: TaskRunner): Promise<void> {
    const { delay: initialDelay, maxDelay, backoff, workers } = this.options;
    let delay = initialDelay;
    const claims = new Set<Promise<unknown>>();
    while (!this.#stopping) {
      const free = workers - this.#busy.size - this.#claiming;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.#wakeFetcher = resolve));
        continue;
      }
      const claim = this.#claim(runner, free);
      claims.add(claim);
      claim.finally(() => claims.delete(claim));
      // Whichever comes first: this dequeue's outcome, or a slot freed meanwhile.
      const slotFreed = new Promise<"slot freed">((resolve) => {
        this.#wakeFetcher = () => resolve("slot freed");
      });
      const outcome = await Promise.race([claim, slotFreed]);
      if (outcome === "slot freed") continue;
      if (outcome === "took") {
        this.#storageState(undefined);
        delay = initialDelay;
        continue;
      }
      if (outcome === "empty") {
        this.#storageState(undefined);
        const wait = Math.min(delay, maxDelay);
        const storage = this.dewey.storage;
        if (storage.waitForMessage) await storage.waitForMessage(wait, this.#stopRequested.signal);
        else await sleep(wait, this.#stopRequested.signal);
      } else {
        this.#storageState(outcome.error);
        await sleep(delay, this.#stopRequested.signal);
      }
      delay = Math.min(delay * backoff, maxDelay);
    }
    // Tasks leased by a dequeue still in flight run before the consumer drains.
    await Promise.all(claims);
  }

  /** Slots a dequeue in flight is filling. */
  #claiming = 0;

  /** Leases up to `count` tasks in one storage call and launches them. */
  async #claim(
    runner: TaskRunner,
    count: number,
  ): Promise<"took" | "empty" | { error: unknown }> {
    this.#claiming += count;
    try {
      const tasks = await this.dewey.dequeueMany(count, { runNow: true });
      this.#claiming -= count;
      for (const task of tasks) this.#launch(runner, task);
      return tasks.length > 0 ? "took" : "empty";
    } catch (error) {
      this.#claiming -= count;
      return { error };
    }
  }

  /** A worker slot became free: the fetcher may lease another task. */
  #freeSlot(): void {
    const wake = this.#wakeFetcher;
    this.#wakeFetcher = undefined;
    wake?.();
  }

  #launch(runner: TaskRunner, task: Task): void {
    const done = runner.run(task).catch((error) => {
      this.#logger.error(
        "worker",
        `Failed to run ${task.name} ${task.id}: ${describeError(error)}`,
      );
    }).finally(() => {
      this.#running.delete(task);
      this.#tasksDone += 1;
      if (this.#busy.delete(task)) this.#freeSlot();
    });
    this.#busy.add(task);
    this.#running.set(task, done);
  }

  /** One log line per change between "storage works" and "storage fails", not per poll. */
  #storageState(error: unknown): void {
    // The storage is not back while a finished task's write still fails.
    if (error === undefined && this.#failingWrites > 0) return;
    if (error !== undefined && !this.#storageDown) {
      this.#storageDown = true;
      this.#logger.error("consumer", `Storage unavailable, backing off: ${describeError(error)}`);
    } else if (error === undefined && this.#storageDown) {
      this.#storageDown = false;
      this.#logger.info("consumer", "Storage available again");
    }
  }

  /** Every `schedulerInterval`: due scheduled tasks onto the queue, expired leases back. */
  async #schedulerLoop(): Promise<void> {
    const storage = this.dewey.storage;
    while (!this.#stopping) {
      try {
        const now = new Date();
        for (const task of await this.dewey.readSchedule(now)) {
          this.#logger.debug("scheduler", `Enqueueing scheduled task ${task.name} ${task.id}`);
          await this.dewey.enqueueDurably(task);
        }
        const returned = await storage.requeueExpired(now.getTime());
        if (returned) {
          this.#logger.warn(
            "scheduler",
            `Returned ${returned} task(s) with expired leases to the queue`,
          );
        }
      } catch (error) {
        this.#storageState(error);
      }
      await sleep(this.options.schedulerInterval, this.#stopRequested.signal);
    }
  }

  /**
   * At the start of every minute (every second when a six-field schedule exists), the
   * periodic tasks due at that tick are enqueued; a claim key per task and tick makes
   * consumers sharing a storage enqueue each tick once. Ticks missed during a stall are
   * not replayed.
   */
  async #periodicLoop(): Promise<void> {
    let lastTick = 0;
    while (!this.#stopping) {
      const unit = this.dewey.hasSubMinutePeriodic ? 1000 : 60_000;
      const tick = Math.max(Math.floor(Date.now() / unit) * unit + unit, lastTick + unit);
      await sleep((tick - Date.now()) / 1000, this.#stopRequested.signal);
      if (this.#stopping) break;
      lastTick = tick;
      try {
        await this.enqueuePeriodic(new Date(tick));
      } catch (error) {
        this.#storageState(error);
      }
    }
  }

  /** Enqueues the periodic tasks due at `tick` that no other consumer claimed; their names. */
  async enqueuePeriodic(tick: Date): Promise<string[]> {
    const enqueued: string[] = [];
    const utc = this.options.utc ?? this.dewey.utc;
    for (const task of this.dewey.readPeriodic(tick, { utc })) {
      const claim = `~periodic:${task.name}:${tick.getTime()}`;
      if (!await this.dewey.storage.putIfEmpty(claim, "1", PERIODIC_CLAIM_TTL)) continue;
      this.#logger.info("scheduler", `Enqueueing periodic task ${task.name} ${task.id}`);
      await this.dewey.enqueue(task);
      enqueued.push(task.name);
    }
    return enqueued;
  }

  /** Renews the leases of running tasks every third of the visibility timeout. */
  async #heartbeatLoop(stopped: AbortSignal): Promise<void> {
    const visibility = this.dewey.visibilityTimeout;
    const interval = visibility / 3;
    while (!stopped.aborted) {
      await sleep(interval, stopped);
      if (stopped.aborted) break; // the leases were acknowledged or released by now
      const leases = [...this.#running.keys()]
        .map((task) => this.dewey.leaseOf(task))
        .filter((lease): lease is string => lease !== undefined);
      if (!leases.length) continue;
      try {
        const held = await this.dewey.storage.extend(leases, visibility);
        if (held.length < leases.length) {
          this.#logger.warn(
            "heartbeat",
            `${
              leases.length - held.length
            } lease(s) expired before renewal; those tasks may run twice`,
          );
        }
      } catch (error) {
        this.#storageState(error);
      }
    }
  }

  /** Waits for running tasks (graceful), or interrupts them and releases their leases. */
  async #drain(): Promise<void> {
    if (this.#running.size && this.#graceful) {
      this.#logger.info("consumer", `Waiting for ${this.#running.size} running task(s)`);
      const interrupted = new Promise<void>((resolve) =>
        this.#interrupt.signal.addEventListener("abort", () => resolve(), { once: true })
      );
      await Promise.race([Promise.allSettled([...this.#running.values()]), interrupted]);
    }
    if (this.#running.size) {
      await this.dewey.notifyInterruptedTasks();
      for (const lease of this.#interruptedLeases.splice(0)) {
        await this.dewey.storage.release(lease).catch(() => {});
      }
      this.#logger.warn(
        "consumer",
        `Interrupted ${this.#running.size} running task(s); their leases were released`,
      );
    }
  }

  /** Events (when published) and metrics: one event per signal, with a run's duration. */
  #publisher(): EventPublisher {
    return new EventPublisher({
      storage: () => this.dewey.storage,
      consumer: () => ({
        workerType: this.options.workerType,
        workers: this.options.workers,
        tasksDone: this.#tasksDone,
        running: () => this.#running.keys(),
      }),
      report: (error) =>
        error === undefined
          ? this.#logger.info("events", "Publishing events again")
          : this.#logger.warn("events", `Cannot publish events: ${describeError(error)}`),
    });
  }

  #observe(signal: SignalName, task: TaskLabel, error?: unknown): void {
    const start = signal === Signal.EXECUTING ? undefined : this.#startedAt.get(task.id);
    const seconds = start === undefined ? undefined : (performance.now() - start) / 1000;
    this.metrics.record(signal, task.name, seconds);
    this.#events?.record(signal, task, error, seconds);
  }

  #logSignal(signal: SignalName, task: TaskLabel, error?: unknown): void {
    this.#observe(signal, task, error);
    const log = this.#logger;
    const label = `${task.name} ${task.id}`;
    switch (signal) {
      case Signal.EXECUTING:
        this.#startedAt.set(task.id, performance.now());
        log.info("worker", `Executing ${label}`);
        break;
      case Signal.COMPLETE:
        log.info("worker", `${label} executed in ${this.#elapsed(task)}s`);
        this.#startedAt.delete(task.id);
        break;
      case Signal.ERROR:
        log.error(
          "worker",
          `Unhandled exception in ${label} after ${this.#elapsed(task)}s: ${describeError(error)}`,
        );
        this.#startedAt.delete(task.id);
        break;
      case Signal.RETRYING:
        log.info("worker", `Retrying ${label}`);
        break;
      case Signal.TIMEOUT:
        log.error("worker", `${label} timed out after ${this.#elapsed(task)}s`);
        break;
      case Signal.REVOKED:
      case Signal.EXPIRED:
      case Signal.CANCELED:
      case Signal.LOCKED:
      case Signal.RATE_LIMITED:
        log.warn("worker", `${label} ${signal}`);
        break;
      case Signal.INTERRUPTED:
        log.warn("worker", `${label} interrupted`);
        break;
      default:
        log.debug("worker", `${label} ${signal}`);
    }
  }

  #elapsed(task: TaskLabel): string {
    const start = this.#startedAt.get(task.id);
    return start === undefined ? "?" : ((performance.now() - start) / 1000).toFixed(3);
  }
}
