/**
 * The README's example tasks, on the embedded SQLite storage: a plain task, a flaky task
 * that succeeds on a retry, a chord callback, and a periodic task. Run a consumer with
 * `deno run -A cli.ts consume examples/tasks.ts` (or `bun cli.ts consume examples/tasks.ts`).
 *
 * @module
 */

import process from "node:process";
import { crontab, Dewey } from "../mod.ts";
import { SqliteStorage } from "../sqlite.ts";

/** The instance: the consumer finds it as this module's only exported `Dewey`. */
export const dewey = new Dewey({
  name: "demo",
  storage: new SqliteStorage({ path: process.env.DEWEY_DEMO_DB ?? "demo.db" }),
});

/** Adds two numbers. */
export const add = dewey.task("add", (a: number, b: number) => a + b);

let attempts = 0;
/** Fails twice, then succeeds: retried up to three times, one second apart. */
export const flaky = dewey.task("flaky", () => {
  attempts += 1;
  if (attempts < 3) throw new Error(`attempt ${attempts} failed`);
  return `succeeded on attempt ${attempts}`;
}, { retries: 3, retryDelay: 1 });

/** A chord callback: the sum of its members' results. */
export const total = dewey.task("total", (values: number[]) => values.reduce((a, b) => a + b, 0));

/** Runs every five minutes while a consumer is running. */
export const heartbeat = dewey.periodicTask("heartbeat", crontab({ minute: "*/5" }), () => {
  console.log("heartbeat", new Date().toISOString());
});
