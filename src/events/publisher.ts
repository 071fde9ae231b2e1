/**
 * The consumer's side of the event log: each signal becomes a compact event, buffered in
 * memory and written as one record per flush (every 250 ms and on stop), so publishing
 * costs two storage writes per flush, not per task. The buffer is capped: while the
 * storage cannot be written, the oldest events are dropped and counted, and a `dropped`
 * note says how many once writing works again.
 *
 * @module
 */

import type { Storage } from "../storage/storage.ts";
import { DEFAULT_EVENT_TTL, EVENT_COUNTER, eventKey } from "./log.ts";
import type { ConsumerInfo } from "./types.ts";

/** What an event needs of a task (a `Task`, or the label a worker reports). */
export interface EventTask {
  readonly name: string;
  readonly id: string;
  readonly retries?: number;
  readonly retryDelay?: number;
  readonly eta?: Date;
}

/** Where the host name and process id come from (runtime APIs stay out of the core). */
export type ProcessInfo = () => { host: string; pid?: number };

let processInfo: ProcessInfo = () => ({ host: "" });

/** @internal Registers how heartbeats learn the host name and process id. */
export function registerProcessInfo(info: ProcessInfo): void {
  processInfo = info;
}

/** What the publisher reads of its consumer for each heartbeat. */
export interface ConsumerState {
  workerType: string;
  workers: number;
  tasksDone: number;
  /** The running tasks. */
  running: () => Iterable<{ readonly id: string; readonly name: string }>;
}

/** Options of {@linkcode EventPublisher}. */
export interface PublisherOptions {
  /** The storage to write to (read at each flush). */
  storage: () => Storage;
  /** The consumer, for heartbeats. */
  consumer: () => ConsumerState;
  /** Seconds between flushes. @default 0.25 */
  flushInterval?: number;
  /** Seconds between heartbeats. @default 5 */
  heartbeatInterval?: number;
  /** Seconds each record is kept. @default 900 */
  ttl?: number;
  /** Events kept while the storage cannot be written. @default 10000 */
  maxBuffer?: number;
  /** Told once when writing starts failing, and once when it works again (`undefined`). */
  report?: (error: unknown) => void;
  /** Epoch milliseconds now. @default Date.now */
  clock?: () => number;
}

/** Signals whose event carries the run's duration. */
const TIMED = new Set(["complete", "error", "timeout", "interrupted"]);
/** Signals after which a task no longer runs in this consumer. */
const ENDED = new Set([...TIMED, "retrying", "canceled", "locked", "rate-limited", "revoked"]);
/** A record's JSON stays under this many bytes (Deno KV takes values up to 64 KiB). */
const MAX_RECORD_BYTES = 48 * 1024;
const MAX_CURRENT = 50;
const encoder = new TextEncoder();

/** `Name: message` of an error, at most 200 characters. */
function shortError(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

/** Publishes one consumer's events and heartbeats to the event log of its storage. */
export class EventPublisher {
  /** This consumer run's id. */
  readonly id: string = crypto.randomUUID();
  readonly #options: Required<Omit<PublisherOptions, "report">> & Pick<PublisherOptions, "report">;
  /** Each event's JSON. */
  #buffer: string[] = [];
  #dropped = 0;
  #droppedAt = 0;
  #failing = false;
  #flushing?: Promise<void>;
  #timers: ReturnType<typeof setInterval>[] = [];
  #started = 0;
  readonly #since = new Map<string, number>();
  readonly #names = new Map<string, string>();

  constructor(options: PublisherOptions) {
    this.#options = {
      flushInterval: 0.25,
      heartbeatInterval: 5,
      ttl: DEFAULT_EVENT_TTL,
      maxBuffer: 10_000,
      clock: Date.now,
      ...options,
    };
  }

  /** Events dropped so far because the buffer was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Events waiting for the next flush. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Records a signal. `seconds`: how long the run took, for the signals that end one. */
  record(signal: string, task: EventTask, error?: unknown, seconds?: number): void {
    const at = this.#options.clock();
    // Serialized here, once, field by field: the hot path of a busy consumer (a `TaskEvent`
    // without `seq` and `source`, which the reader adds).
    let json = `{"signal":"${signal}","id":${JSON.stringify(task.id)},"task":${
      this.#quoted(task.name)
    },"at":${at}`;
    if (typeof task.retries === "number") json += `,"retries":${task.retries}`;
    if (signal === "retrying" && typeof task.retryDelay === "number") {
      json += `,"delay":${task.retryDelay}`;
    }
    if (signal === "scheduled" && task.eta instanceof Date) {
      json += `,"delay":${Math.max(0, (task.eta.getTime() - at) / 1000)}`;
    }
    if (seconds !== undefined && TIMED.has(signal)) {
      json += `,"duration":${Math.round(seconds * 1e6) / 1e6}`;
    }
    if (signal === "error" && error !== undefined) {
      json += `,"error":${JSON.stringify(shortError(error))}`;
    }
    if (signal === "executing") this.#since.set(task.id, at);
    else if (ENDED.has(signal)) this.#since.delete(task.id);
    this.#push(`${json}}`);
  }

  /** Starts the flush and heartbeat timers, with a first heartbeat. */
  start(): void {
    if (this.#started) return;
    this.#started = this.#options.clock();
    this.heartbeat();
    this.#timers.push(
      setInterval(() => void this.flush(), this.#options.flushInterval * 1000),
      setInterval(() => this.heartbeat(), this.#options.heartbeatInterval * 1000),
    );
  }

  /** Stops the timers, records a last heartbeat (`stopped`) and flushes. */
  async stop(): Promise<void> {
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    if (this.#started) this.heartbeat("stopped");
    await this.flush();
  }

  /** Records a heartbeat now. */
  heartbeat(state: ConsumerInfo["state"] = "running"): void {
    const consumer = this.#options.consumer();
    const current: ConsumerInfo["current"] = [];
    for (const task of consumer.running()) {
      if (current.length >= MAX_CURRENT) break;
      const since = this.#since.get(task.id);
      current.push(
        since === undefined ? { id: task.id, task: task.name } : {
          id: task.id,
          task: task.name,
          since,
        },
      );
    }
    const { host, pid } = processInfo();
    const info: ConsumerInfo = {
      id: this.id,
      host,
      ...(pid === undefined ? {} : { pid }),
      workerType: consumer.workerType,
      workers: consumer.workers,
      started: this.#started || this.#options.clock(),
      tasksDone: consumer.tasksDone,
      current,
      interval: this.#options.heartbeatInterval,
      state,
    };
    this.#push(JSON.stringify({ signal: "heartbeat", at: this.#options.clock(), consumer: info }));
  }

  /** Writes the buffered events as records; one flush at a time. Never rejects. */
  flush(): Promise<void> {
    // A flush asked for while one runs waits for it, then writes what came meanwhile.
    const previous = this.#flushing ?? Promise.resolve();
    const next = previous.then(() => this.#write());
    this.#flushing = next;
    void next.finally(() => {
      if (this.#flushing === next) this.#flushing = undefined;
    });
    return next;
  }

  /** A task name as JSON (names repeat: each is serialized once). */
  #quoted(name: string): string {
    let json = this.#names.get(name);
    if (json === undefined) {
      json = JSON.stringify(name);
      if (this.#names.size < 10_000) this.#names.set(name, json);
    }
    return json;
  }

  #push(event: string): void {
    this.#buffer.push(event);
    this.#cap();
  }

  /**
   * Drops the oldest events beyond the cap, counting them: a tenth of the cap at a time at
   * least, so a full buffer does not shift the array at every new event.
   */
  #cap(): void {
    let over = this.#buffer.length - this.#options.maxBuffer;
    if (over <= 0) return;
    over = Math.min(this.#buffer.length, Math.max(over, Math.floor(this.#options.maxBuffer / 10)));
    this.#buffer.splice(0, over);
    this.#dropped += over;
    this.#droppedAt = this.#options.clock();
  }

  async #write(): Promise<void> {
    if (this.#buffer.length === 0 && this.#dropped === 0) return;
    const events = this.#buffer;
    this.#buffer = [];
    const dropped = this.#dropped;
    const note = `{"signal":"dropped","at":${this.#droppedAt},"count":${dropped}}`;
    if (dropped > 0) events.unshift(note);
    let written = 0;
    try {
      const storage = this.#options.storage();
      for (const [count, json] of chunks(events)) {
        // The record's JSON around the events' (`EventRecord`), serialized once.
        const head = JSON.stringify({ at: this.#options.clock(), consumer: this.id });
        const record = `${head.slice(0, -1)},"events":${json}}`;
        const seq = await storage.incr(EVENT_COUNTER);
        await storage.putData(eventKey(seq), record, this.#options.ttl);
        written += count;
      }
      this.#dropped -= dropped;
      if (this.#failing) {
        this.#failing = false;
        this.#options.report?.(undefined);
      }
    } catch (error) {
      // The note went out with the first record, or goes back to the count.
      if (written > 0) this.#dropped -= dropped;
      const rest = events.slice(written).filter((event) => event !== note);
      // Unwritten events go back in front of newer ones, within the cap.
      this.#buffer = [...rest, ...this.#buffer];
      this.#cap();
      if (!this.#failing) {
        this.#failing = true;
        this.#options.report?.(error);
      }
    }
  }
}

const NON_ASCII = /[\u0080-\uffff]/;

/** Joins the events' JSON into arrays whose record stays under {@linkcode MAX_RECORD_BYTES}. */
function* chunks(events: string[]): Generator<[number, string]> {
  const limit = MAX_RECORD_BYTES - 200;
  const all = `[${events.join(",")}]`;
  // One scan tells whether lengths are byte sizes (ASCII, the usual case).
  const ascii = !NON_ASCII.test(all);
  if (ascii && all.length <= limit) {
    yield [events.length, all];
    return;
  }
  let start = 0;
  let size = 0;
  for (let i = 0; i < events.length; i++) {
    const bytes = (ascii ? events[i].length : encoder.encode(events[i]).length) + 1;
    if (i > start && size + bytes > limit) {
      yield [i - start, `[${events.slice(start, i).join(",")}]`];
      start = i;
      size = 0;
    }
    size += bytes;
  }
  if (events.length > start) yield [events.length - start, `[${events.slice(start).join(",")}]`];
}
