/**
 * The dashboard's view of the event log: follows it from the oldest record kept, and
 * keeps what the page shows — recent events, live consumers, task metrics, and per-minute
 * throughput and errors of each task over the last 15 minutes — and hands new events to
 * the live streams.
 *
 * @module
 */

import type { Dewey } from "../dewey.ts";
import { TaskMetrics } from "../consumer/metrics.ts";
import { ConsumerTracker, type LiveConsumer } from "../events/consumers.ts";
import { EVENT_COUNTER } from "../events/log.ts";
import { readEvents } from "../events/reader.ts";
import { LogSpan } from "../events/span.ts";
import type { DeweyEvent } from "../events/types.ts";

/** Minutes the chart covers. */
export const STATS_MINUTES = 15;
const MINUTE = 60_000;

/** Throughput and errors of each task, one slot per minute, oldest first. */
export interface Stats {
  /** Start of each minute, epoch milliseconds. */
  minutes: number[];
  /** By task name: completed runs and errors per minute. */
  tasks: Record<string, { done: number[]; errors: number[] }>;
}

/** Follows the event log of one instance for the dashboard. */
export class EventFeed {
  readonly metrics: TaskMetrics = new TaskMetrics();
  readonly #dewey: Dewey;
  readonly #clock: () => number;
  readonly #consumers = new ConsumerTracker();
  readonly #recent: DeweyEvent[] = [];
  readonly #recentSize: number;
  /** minute start → task → [done, errors]. */
  readonly #minutes = new Map<number, Map<string, [number, number]>>();
  readonly #listeners = new Set<(event: DeweyEvent) => void>();
  readonly #progressWaiters = new Set<() => void>();
  readonly #abort = new AbortController();
  #next = 0;
  readonly #span: LogSpan;
  #running?: Promise<void>;
  #dropped = 0;

  constructor(dewey: Dewey, options: { clock?: () => number; recent?: number } = {}) {
    this.#dewey = dewey;
    this.#clock = options.clock ?? Date.now;
    this.#recentSize = options.recent ?? 200;
    this.#span = new LogSpan(() => dewey.storage);
  }

  /** Starts following the log (from the oldest record kept). */
  start(): void {
    this.#running ??= this.#follow();
  }

  /** Stops following. */
  async stop(): Promise<void> {
    this.#abort.abort();
    for (const wake of this.#progressWaiters) wake();
    await this.#running;
  }

  async #follow(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      try {
        const events = readEvents(
          this.#dewey.storage,
          { from: this.#next || 0, abort: this.#abort.signal, pollInterval: 0.5 },
          (next) => this.#progress(next),
        );
        for await (const event of events) this.#take(event);
      } catch {
        // The storage failed: try again shortly, from where the feed was.
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  #progress(next: number): void {
    this.#next = next;
    for (const wake of this.#progressWaiters) wake();
  }

  /**
   * Resolves once every record numbered when it was called has been read (or
   * `timeoutMs` passed): what an answer built from events waits for.
   */
  async sync(timeoutMs = 3000): Promise<void> {
    if (!this.#running) return;
    const target = await this.#dewey.storage.incr(EVENT_COUNTER, 0);
    if (this.#next > target) return;
    await new Promise<void>((resolve) => {
      const check = () => {
        if (this.#next <= target && !this.#abort.signal.aborted) return;
        clearTimeout(timer);
        this.#progressWaiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#progressWaiters.delete(check);
        resolve();
      }, timeoutMs);
      this.#progressWaiters.add(check);
      check();
    });
  }

  #take(event: DeweyEvent): void {
    this.#consumers.update(event);
    if (event.signal === "heartbeat") return;
    if (event.signal === "dropped") {
      this.#dropped += event.count;
    } else {
      this.metrics.record(event.signal, event.task, event.duration);
      if (event.signal === "complete" || event.signal === "error") {
        const minute = Math.floor(event.at / MINUTE) * MINUTE;
        let byTask = this.#minutes.get(minute);
        if (!byTask) this.#minutes.set(minute, byTask = new Map());
        const slot = byTask.get(event.task) ?? [0, 0];
        slot[event.signal === "complete" ? 0 : 1]++;
        byTask.set(event.task, slot);
      }
    }
    this.#recent.push(event);
    if (this.#recent.length > this.#recentSize) this.#recent.shift();
    for (const listener of this.#listeners) listener(event);
  }

  /** Events dropped by consumers, as their notes tell. */
  get dropped(): number {
    return this.#dropped;
  }

  /** The latest events (heartbeats left out), oldest first. */
  recent(limit = this.#recentSize): DeweyEvent[] {
    return this.#recent.slice(-limit);
  }

  /** Calls `listener` with each new event (heartbeats left out); returns the unsubscribe. */
  subscribe(listener: (event: DeweyEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The consumers live now. */
  consumers(): LiveConsumer[] {
    return this.#consumers.live(this.#clock());
  }

  /** Per-minute throughput and errors of each task over the last 15 minutes. */
  stats(): Stats {
    const current = Math.floor(this.#clock() / MINUTE) * MINUTE;
    const minutes = Array.from(
      { length: STATS_MINUTES },
      (_, i) => current - (STATS_MINUTES - 1 - i) * MINUTE,
    );
    for (const minute of this.#minutes.keys()) {
      if (minute < minutes[0]) this.#minutes.delete(minute);
    }
    const tasks: Stats["tasks"] = {};
    minutes.forEach((minute, i) => {
      for (const [task, [done, errors]] of this.#minutes.get(minute) ?? []) {
        tasks[task] ??= {
          done: minutes.map(() => 0),
          errors: minutes.map(() => 0),
        };
        tasks[task].done[i] = done;
        tasks[task].errors[i] = errors;
      }
    });
    return { minutes, tasks };
  }

  /** Records of the event log still kept (they count as keys of the result store). */
  records(): Promise<number> {
    return this.#span.records();
  }
}
