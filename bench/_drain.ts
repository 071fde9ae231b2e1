/**
 * The measurements the storage benchmarks share: enqueueing one task at a time, and
 * draining `tasks` no-op tasks (enqueued with `map()`) with an in-process consumer.
 *
 * @module
 */

import type { Dewey } from "../mod.ts";
import { Consumer } from "../consumer.ts";
import { measureAsync } from "./_measure.ts";

/** What one drain measured. */
export interface DrainFigures {
  /** Tasks per second from the consumer's start to the last task done. */
  drain: number;
  /** Tasks per second of the `map()` that enqueued them. */
  map: number;
}

const silentLog = { write() {} };
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Enqueues `tasks` tasks on `dewey` (a fresh instance) and drains them with `workers`
 * workers; checks that every task left a result and nothing is left queued or leased,
 * then flushes the instance.
 */
export async function measureDrain(
  dewey: Dewey,
  tasks: number,
  workers: number,
): Promise<DrainFigures> {
  let started = 0;
  let allStarted!: () => void;
  const everyStarted = new Promise<void>((resolve) => (allStarted = resolve));
  const work = dewey.task("work", (n: number) => {
    if (++started === tasks) allStarted();
    return n;
  });
  const args = Array.from({ length: tasks }, (_, n) => [n] as [number]);
  const mapStart = performance.now();
  await work.map(args);
  const map = tasks / ((performance.now() - mapStart) / 1000);

  const consumer = new Consumer(dewey, { workers, periodic: false, log: silentLog });
  const start = performance.now();
  const running = consumer.run();
  // The task function counts its starts: no storage reads while draining. The last few
  // tasks still store their result and acknowledge; wait for the consumer's count.
  await everyStarted;
  while (consumer.tasksDone < tasks) await sleep(1);
  const elapsed = performance.now() - start;
  consumer.stop();
  await running;
  const left = await dewey.pendingCount() + await dewey.leasedCount();
  const results = await dewey.resultCount();
  if (left !== 0 || results !== tasks) {
    throw new Error(`drain left ${left} message(s) and ${results}/${tasks} results`);
  }
  await dewey.flush();
  return { drain: tasks / (elapsed / 1000), map };
}

/** Tasks drained once, unmeasured, before {@linkcode measureDrains} measures. */
const WARMUP_TASKS = 2_000;

/** What {@linkcode measureDrains} measured. */
export interface DrainRows {
  /** Drain rate with 1 and with 4 async workers, tasks per second. */
  drain1: number;
  drain4: number;
  /** The mean `map()` rate of the two enqueues that filled the queue. */
  map: number;
}

/**
 * Drains `tasks` tasks with 1, then 4 workers, each on a fresh instance from `open`, after
 * an unmeasured warm-up drain: the first consumer run in a process is also the JIT's first
 * look at the executor and storage paths, which would count against the 1-worker row.
 */
export async function measureDrains(
  open: (name: string) => Dewey,
  tasks: number,
): Promise<DrainRows> {
  await measureDrain(open("bench_drain_warmup"), WARMUP_TASKS, 1);
  const one = await measureDrain(open("bench_drain_1"), tasks, 1);
  const four = await measureDrain(open("bench_drain_4"), tasks, 4);
  return { drain1: one.drain, drain4: four.drain, map: (one.map + four.map) / 2 };
}

/** Tasks per second enqueued one at a time on `dewey` (a fresh instance), then flushed. */
export async function measureEnqueue(dewey: Dewey): Promise<number> {
  const noop = dewey.task("noop", (i: number) => i);
  let i = 0;
  const rate = await measureAsync(async () => {
    await noop(i++);
    return 1;
  });
  await dewey.flush();
  return rate;
}
