/**
 * The shapes of the event log: what a consumer publishes for each signal and each
 * heartbeat, and what `dewey.events()` yields.
 *
 * @module
 */

import type { SignalName } from "../signals.ts";

/**
 * One signal of one task, as a consumer published it. Never carries the task's arguments
 * or result: only its name, id and timings, and for failures a short `Name: message`.
 *
 * @example
 * ```ts
 * import type { TaskEvent } from "@dewey/dewey";
 *
 * const event: TaskEvent = {
 *   signal: "complete",
 *   id: "6f1c2a9e-0000-4000-8000-000000000000",
 *   task: "add",
 *   at: Date.UTC(2026, 0, 1),
 *   duration: 0.004,
 *   seq: 1,
 *   source: "c1",
 * };
 * console.log(`${event.task} ${event.signal} in ${event.duration}s`); // "add complete in 0.004s"
 * ```
 */
export interface TaskEvent {
  /** The signal (`executing`, `complete`, `error`, …). */
  signal: SignalName;
  /** The task's id. */
  id: string;
  /** The task's name. */
  task: string;
  /** When the consumer saw the signal, epoch milliseconds. */
  at: number;
  /** Retries left, when known. */
  retries?: number;
  /** `retrying`: seconds before the retry; `scheduled`: seconds until the eta. */
  delay?: number;
  /** `complete`, `error`, `timeout`, `interrupted`: seconds the run took. */
  duration?: number;
  /** `error`: the error as `Name: message`, shortened to 200 characters. */
  error?: string;
  /** The sequence number of the log record that carried the event. */
  seq: number;
  /** The id of the consumer that published it. */
  source: string;
}

/**
 * What a consumer tells about itself in each heartbeat.
 *
 * @example
 * ```ts
 * import type { ConsumerInfo } from "@dewey/dewey";
 *
 * const info: ConsumerInfo = {
 *   id: "c1",
 *   host: "worker-1",
 *   pid: 4242,
 *   workerType: "async",
 *   workers: 4,
 *   started: Date.UTC(2026, 0, 1),
 *   tasksDone: 10,
 *   current: [{ id: "t1", task: "resize", since: Date.UTC(2026, 0, 1, 0, 5) }],
 *   interval: 5,
 *   state: "running",
 * };
 * console.log(`${info.host}:${info.pid} runs ${info.current.length} task(s)`); // "worker-1:4242 runs 1 task(s)"
 * ```
 */
export interface ConsumerInfo {
  /** A random id, new for each consumer run. */
  id: string;
  /** The host name, when the runtime tells it (`""` otherwise). */
  host: string;
  /** The process id, when the runtime tells it. */
  pid?: number;
  /** `async`, `worker` or `process`. */
  workerType: string;
  /** Worker slots. */
  workers: number;
  /** When the consumer started, epoch milliseconds. */
  started: number;
  /** Tasks finished since it started. */
  tasksDone: number;
  /** The tasks running now (at most 50 are listed). */
  current: { id: string; task: string; since?: number }[];
  /** Seconds between heartbeats: a consumer silent for three of them counts as gone. */
  interval: number;
  /** `stopped` in the last heartbeat of a consumer that stopped. */
  state: "running" | "stopped";
}

/**
 * A consumer's heartbeat: published every few seconds while it runs, and once when it
 * stops.
 *
 * @example
 * ```ts
 * import type { DeweyEvent, HeartbeatEvent } from "@dewey/dewey";
 *
 * function isHeartbeat(event: DeweyEvent): event is HeartbeatEvent {
 *   return event.signal === "heartbeat";
 * }
 * console.log(isHeartbeat({ signal: "dropped", at: 0, count: 3, seq: 1, source: "c1" })); // false
 * ```
 */
export interface HeartbeatEvent {
  /** Always `heartbeat`. */
  signal: "heartbeat";
  /** When it was taken, epoch milliseconds. */
  at: number;
  /** The consumer. */
  consumer: ConsumerInfo;
  /** The sequence number of the log record that carried it. */
  seq: number;
  /** The consumer's id (as `consumer.id`). */
  source: string;
}

/**
 * A note that a consumer dropped `count` events: its buffer was full while the storage
 * could not be written.
 *
 * @example
 * ```ts
 * import type { DroppedEvent } from "@dewey/dewey";
 *
 * const note: DroppedEvent = { signal: "dropped", at: 0, count: 12, seq: 7, source: "c1" };
 * console.log(note.count); // 12
 * ```
 */
export interface DroppedEvent {
  /** Always `dropped`. */
  signal: "dropped";
  /** When the events were dropped (the last of them), epoch milliseconds. */
  at: number;
  /** How many. */
  count: number;
  /** The sequence number of the log record that carried it. */
  seq: number;
  /** The id of the consumer that dropped them. */
  source: string;
}

/**
 * Anything `dewey.events()` yields, told apart by `signal`.
 *
 * @example
 * ```ts
 * import type { DeweyEvent } from "@dewey/dewey";
 *
 * function describe(event: DeweyEvent): string {
 *   if (event.signal === "heartbeat") return `consumer ${event.consumer.id} alive`;
 *   if (event.signal === "dropped") return `${event.count} events lost`;
 *   return `${event.task} ${event.signal}`;
 * }
 * console.log(describe({ signal: "dropped", at: 0, count: 2, seq: 1, source: "c1" })); // "2 events lost"
 * ```
 */
export type DeweyEvent = TaskEvent | HeartbeatEvent | DroppedEvent;

/**
 * The `signal` of any event: a signal name, `heartbeat` or `dropped`.
 *
 * @example
 * ```ts
 * import type { EventSignal } from "@dewey/dewey";
 *
 * const wanted: EventSignal[] = ["error", "timeout", "heartbeat"];
 * console.log(wanted.length); // 3
 * ```
 */
export type EventSignal = DeweyEvent["signal"];

/**
 * Options of `dewey.events()`.
 *
 * @example
 * ```ts
 * import { Dewey, type EventsOptions } from "@dewey/dewey";
 *
 * const dewey = new Dewey();
 * const options: EventsOptions = { signal: ["error", "timeout"], from: 0, follow: false };
 * const errors = [];
 * for await (const event of dewey.events(options)) errors.push(event);
 * console.log(errors.length); // 0 (no consumer published anything)
 * ```
 */
export interface EventsOptions {
  /** Only events with this signal (or one of these). @default every event */
  signal?: EventSignal | EventSignal[];
  /**
   * Where to start: a record sequence number (an event's `seq`; `0` means the oldest
   * record still kept), or a negative number for that many records before the newest.
   * @default only events published from now on
   */
  from?: number;
  /** `false`: stop once the newest record is read instead of waiting for more. @default true */
  follow?: boolean;
  /** Ends the iteration when it aborts. */
  abort?: AbortSignal;
  /** Longest wait between two looks at the log when it has no wake-up, seconds. @default 1 */
  pollInterval?: number;
  /**
   * Seconds to wait for a record whose number was taken but that is not written yet (its
   * consumer is writing it, or died doing so) before going past it. @default 2
   */
  gapTimeout?: number;
}
