/**
 * The consumer's options, their defaults (Huey's) and their validation.
 *
 * @module
 */

/**
 * How the consumer runs tasks.
 *
 * @example
 * ```ts
 * import type { WorkerType } from "@dewey/dewey/consumer";
 * const workerType: WorkerType = "async";
 * console.log(workerType); // "async"
 * ```
 */
export type WorkerType = "async" | "worker" | "process";

/**
 * Where the consumer writes its log lines.
 *
 * @example Collect the log lines in an array
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 * import { Consumer, type ConsumerLog } from "@dewey/dewey/consumer";
 * const lines: string[] = [];
 * const log: ConsumerLog = { write: (line) => lines.push(line) };
 * const consumer = new Consumer(new Dewey(), { periodic: false, log });
 * const running = consumer.run();
 * consumer.stop();
 * await running;
 * console.log(lines.at(-1)?.endsWith("Dewey consumer stopped")); // true
 * ```
 */
export interface ConsumerLog {
  /** Writes one formatted line. */
  write(line: string): void;
}

/**
 * Options of `dewey.consumer()` / `new Consumer()`; they mirror the command line.
 *
 * @example
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 * import { Consumer } from "@dewey/dewey/consumer";
 * const dewey = new Dewey();
 * const consumer = new Consumer(dewey, { workers: 4, periodic: false });
 * console.log(consumer.options.workers); // 4
 * ```
 */
export interface ConsumerOptions {
  /** Concurrent executions (async) or worker count. @default 1 */
  workers?: number;
  /** `async`: on the event loop; `worker`: Web Workers; `process`: child processes. @default "async" */
  workerType?: WorkerType;
  /** Enqueue periodic tasks when they are due. @default true */
  periodic?: boolean;
  /** First polling delay when the queue is empty, seconds. @default 0.1 */
  delay?: number;
  /** Longest polling delay, seconds. @default 10 */
  maxDelay?: number;
  /** Growth factor of the polling delay (≥ 1). @default 1.15 */
  backoff?: number;
  /** Seconds between schedule reads; in (0, 60] and dividing 60. @default 1 */
  schedulerInterval?: number;
  /**
   * Huey's seconds between worker health checks. Accepted for compatibility and unused:
   * a `worker`/`process` worker that exits is replaced at once, with no periodic check.
   * @default 10
   */
  healthCheckInterval?: number;
  /** Huey's switch for the health check. Accepted for compatibility; no effect (see `healthCheckInterval`). @default true */
  checkWorkerHealth?: boolean;
  /** Recycle a worker/process worker after this many tasks. */
  maxTasks?: number;
  /** Clear the instance's locks at start. @default false */
  flushLocks?: boolean;
  /** More lock names to clear at start (implies `flushLocks`). */
  extraLocks?: string[];
  /** Append log lines to this file instead of stderr. */
  logfile?: string;
  /** Log debug lines too. */
  verbose?: boolean;
  /** Log only warnings and errors. */
  quiet?: boolean;
  /** Short log lines: `HH:MM:SS message`. */
  simple?: boolean;
  /** Read cron schedules in UTC (default: the instance's `utc`). */
  utc?: boolean;
  /** URL of the module defining the instance (what worker/process workers import). */
  module?: string;
  /** Name of the exported instance in `module`, when it exports several. */
  instance?: string;
  /** Where log lines go (overrides `logfile`; tests use it). */
  log?: ConsumerLog;
  /**
   * Publish task events and heartbeats to the event log (`dewey.events()`, the dashboard,
   * `cli.ts top`). @default the instance's `events` option
   */
  events?: boolean;
  /**
   * `cli.ts consume` serves Prometheus metrics on `127.0.0.1:<port>/metrics` (from code,
   * serve `consumer.metrics` yourself; see `metricsHandler`).
   */
  metricsPort?: number;
}

/**
 * Options with every default filled in.
 *
 * @example
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 * import { Consumer, type ResolvedConsumerOptions } from "@dewey/dewey/consumer";
 * const options: ResolvedConsumerOptions = new Consumer(new Dewey()).options;
 * console.log(options.backoff); // 1.15
 * ```
 */
export type ResolvedConsumerOptions =
  & Required<
    Omit<
      ConsumerOptions,
      "maxTasks" | "logfile" | "module" | "instance" | "log" | "utc" | "events" | "metricsPort"
    >
  >
  & Pick<
    ConsumerOptions,
    "maxTasks" | "logfile" | "module" | "instance" | "log" | "utc" | "events" | "metricsPort"
  >;

function positive(name: string, value: number, integer = false): void {
  if (
    typeof value !== "number" || !Number.isFinite(value) || value <= 0 ||
    (integer && !Number.isInteger(value))
  ) {
    throw new RangeError(
      `Invalid "${name}": expected a positive ${integer ? "integer" : "number"}, got ${
        String(value)
      }`,
    );
  }
}

/** Fills in defaults and checks every value, as Huey's consumer does. */
export function resolveConsumerOptions(options: ConsumerOptions = {}): ResolvedConsumerOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Consumer options must be an object");
  }
  const resolved: ResolvedConsumerOptions = {
    workers: options.workers ?? 1,
    workerType: options.workerType ?? "async",
    periodic: options.periodic ?? true,
    delay: options.delay ?? 0.1,
    maxDelay: options.maxDelay ?? 10,
    backoff: options.backoff ?? 1.15,
    schedulerInterval: options.schedulerInterval ?? 1,
    healthCheckInterval: options.healthCheckInterval ?? 10,
    checkWorkerHealth: options.checkWorkerHealth ?? true,
    maxTasks: options.maxTasks,
    flushLocks: (options.flushLocks ?? false) || (options.extraLocks?.length ?? 0) > 0,
    extraLocks: options.extraLocks ?? [],
    logfile: options.logfile,
    verbose: options.verbose ?? false,
    quiet: options.quiet ?? false,
    simple: options.simple ?? false,
    utc: options.utc,
    module: options.module,
    instance: options.instance,
    log: options.log,
    // Present only when set (the resolved options of older callers keep their shape).
    ...(options.events === undefined ? {} : { events: options.events }),
    ...(options.metricsPort === undefined ? {} : { metricsPort: options.metricsPort }),
  };
  positive("workers", resolved.workers, true);
  if (!["async", "worker", "process"].includes(resolved.workerType)) {
    throw new RangeError(
      `Invalid "workerType": expected "async", "worker" or "process", got "${resolved.workerType}"`,
    );
  }
  positive("delay", resolved.delay);
  positive("maxDelay", resolved.maxDelay);
  if (!(resolved.backoff >= 1 && Number.isFinite(resolved.backoff))) {
    throw new RangeError(`Invalid "backoff": must be at least 1, got ${String(resolved.backoff)}`);
  }
  const interval = resolved.schedulerInterval;
  if (!(interval > 0 && interval <= 60 && Number.isInteger(60 / interval))) {
    throw new RangeError(
      `Invalid "schedulerInterval": must be in (0, 60] and divide 60, got ${String(interval)}`,
    );
  }
  positive("healthCheckInterval", resolved.healthCheckInterval);
  if (resolved.maxTasks !== undefined) positive("maxTasks", resolved.maxTasks, true);
  const port = resolved.metricsPort;
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new RangeError(`Invalid "metricsPort": expected a port number, got ${String(port)}`);
  }
  if (resolved.verbose && resolved.quiet) {
    throw new TypeError('"verbose" and "quiet" cannot both be set');
  }
  if (resolved.workerType !== "async" && !resolved.module) {
    throw new TypeError(
      `The "${resolved.workerType}" worker type needs "module": the URL of the module defining the instance`,
    );
  }
  return resolved;
}
