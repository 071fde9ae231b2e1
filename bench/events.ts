/**
 * What publishing events costs (`deno run -A bench/events.ts`, or `bun bench/events.ts`):
 * an in-process consumer drains the same number of tasks from an SQLite file with events
 * off and with events on, alternately (off, on, off, on, …) so drift of a noisy machine
 * hits both; the median rate of each, and on/off as a ratio. The goal is a cost of a few
 * percent at most. Rates on a shared machine swing with other load, so the CPU time the
 * process used per task (user + system, SQLite included: it runs in process) is compared
 * too; it moves less with load than wall-clock rates.
 *
 * Also counts what the event log wrote during one drain with events on: records (each is
 * one counter increment and one key write) against tasks.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Dewey } from "../mod.ts";
import { Consumer } from "../consumer.ts";
import { SqliteStorage } from "../sqlite.ts";

/** Tasks per drain. */
const TASKS = 10_000;
/** Drains per setting. */
const ROUNDS = 7;
/** The goal: events on keeps at least this share of the rate with events off. */
const GOAL = 0.95;

const silentLog = { write() {} };
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Drains `TASKS` tasks with `workers` async workers; tasks per second, and log records. */
async function drain(
  path: string,
  name: string,
  events: boolean,
  workers: number,
): Promise<{ rate: number; cpu: number; records: number }> {
  const dewey = new Dewey({ name, storage: new SqliteStorage({ path }), logger: quiet, events });
  const work = dewey.task("work", (n: number) => n);
  await dewey.flush();
  await work.map(Array.from({ length: TASKS }, (_, n) => [n] as [number]));
  const consumer = new Consumer(dewey, { workers, periodic: false, log: silentLog });
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const running = consumer.run();
  while (consumer.tasksDone < TASKS) await sleep(1);
  const elapsed = performance.now() - start;
  const cpuUsed = process.cpuUsage(cpuStart);
  consumer.stop();
  await running;
  const left = await dewey.pendingCount() + await dewey.leasedCount();
  if (left !== 0) throw new Error(`drain left ${left} message(s)`);
  const records = await dewey.storage.incr("~ev", 0);
  await dewey.flush();
  await dewey.close();
  const cpu = (cpuUsed.user + cpuUsed.system) / TASKS; // µs per task
  return { rate: TASKS / (elapsed / 1000), cpu, records };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
const rate = (value: number) => `${Math.round(value).toLocaleString("en-US")}/s`;

const dir = mkdtempSync(join(tmpdir(), "dewey-bench-events-"));
try {
  const path = join(dir, "events.db");
  const runtime = "Bun" in globalThis
    ? `Bun ${process.versions.bun}`
    : `Deno ${(globalThis as { Deno?: { version: { deno: string } } }).Deno?.version.deno}`;
  console.log(
    `## Event publishing overhead (${runtime}, ${cpus().length} cores, SQLite, ` +
      `${TASKS.toLocaleString("en-US")} tasks × ${ROUNDS} drains per setting)\n`,
  );
  console.log(
    "| workers | events off | events on | on / off | CPU/task off | CPU/task on | CPU on / off " +
      "| goal (CPU) | log records (tasks) |",
  );
  console.log("|---:|---:|---:|---:|---:|---:|---:|---|---:|");
  for (const workers of [1, 4]) {
    await drain(path, "warmup", false, workers); // JIT and file warm-up, not counted
    const off: number[] = [];
    const on: number[] = [];
    const cpuOff: number[] = [];
    const cpuOn: number[] = [];
    let records = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const without = await drain(path, "bench_off", false, workers);
      off.push(without.rate);
      cpuOff.push(without.cpu);
      const withEvents = await drain(path, "bench_on", true, workers);
      on.push(withEvents.rate);
      cpuOn.push(withEvents.cpu);
      records = withEvents.records;
    }
    const ratio = median(on) / median(off);
    const cpuRatio = median(cpuOn) / median(cpuOff);
    const goal = `≤ ${((1 / GOAL) * 100).toFixed(0)} % ${cpuRatio <= 1 / GOAL ? "✓" : "✗"}`;
    console.log(
      `| ${workers} | ${rate(median(off))} | ${rate(median(on))} | ${(ratio * 100).toFixed(1)} % ` +
        `| ${median(cpuOff).toFixed(1)} µs | ${median(cpuOn).toFixed(1)} µs ` +
        `| ${(cpuRatio * 100).toFixed(1)} % | ${goal} | ${records} (${
          TASKS.toLocaleString("en-US")
        }) |`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
