/**
 * The task module `bench/sql.ts` runs `cli.ts consume` on, in another process: one
 * instance on the SQLite file named by `DEWEY_BENCH_DB`, at the durability named by
 * `DEWEY_BENCH_SYNC` (`normal` or `full`), with one task that reports when it started.
 *
 * @module
 */

import process from "node:process";
import { Dewey } from "../mod.ts";
import { SqliteStorage } from "../sqlite.ts";

/** The instance name the benchmark enqueues to. */
export const LATENCY_INSTANCE = "bench_latency";

/** What `stamp` returns: the enqueue time it was given and its own start, epoch ms. */
export interface Stamp {
  enqueuedAt: number;
  startedAt: number;
}

/** Registers the `stamp` task on `dewey` (the benchmark registers it too, to enqueue it). */
export function defineStamp(dewey: Dewey) {
  return dewey.task("stamp", (enqueuedAt: number): Stamp => ({
    enqueuedAt,
    startedAt: Date.now(),
  }));
}

const path = process.env.DEWEY_BENCH_DB;

/** The consumer's instance; only made when the benchmark set `DEWEY_BENCH_DB`. */
export const dewey: Dewey | undefined = path === undefined ? undefined : new Dewey({
  name: LATENCY_INSTANCE,
  storage: new SqliteStorage({
    path,
    synchronous: process.env.DEWEY_BENCH_SYNC === "full" ? "full" : "normal",
  }),
});
if (dewey) defineStamp(dewey);
