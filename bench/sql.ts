/**
 * SQLite benchmark (`deno run -A bench/sql.ts`, or `bun bench/sql.ts`): on one SQLite
 * file, at the default durability (`synchronous: "normal"` in WAL) and at
 * `synchronous: "full"`, each against the raw limit at the same setting:
 *
 * - raw insert + delete per transaction, through the same Kysely and driver stack
 *   `SqliteStorage` uses (the limit);
 * - enqueue one by one, and `map()` bulk enqueue;
 * - draining 20k tasks with an in-process consumer of 1 and 4 async workers (after an
 *   unmeasured warm-up drain of 2k);
 * - with a consumer in another process (`cli.ts consume`, default flags): enqueue → start
 *   latency at idle, result round trip (enqueue + blocking get), and the consumer's CPU
 *   while idle.
 *
 * Prints one Markdown table per durability setting.
 *
 * @module
 */

// deno-lint-ignore-file no-explicit-any -- Kysely<any>: raw SQL on the storage's Kysely
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type Kysely, sql } from "kysely";
import { Dewey } from "../mod.ts";
import { measureDrains, measureEnqueue } from "./_drain.ts";
import { SqliteStorage } from "../sqlite.ts";
import { measureAsync } from "./_measure.ts";
import { defineStamp, LATENCY_INSTANCE, type Stamp } from "./_sql_fixture.ts";

type Synchronous = "normal" | "full";

/** Tasks per drain run. */
const DRAIN_TASKS = 20_000;
/** Idle-latency samples, and the gap between their enqueues. */
const LATENCY_TASKS = 200;
const LATENCY_GAP_MS = 20;
/** Result round trips. */
const ROUND_TRIPS = 50;
/** How long the other-process consumer is left alone before latency and CPU readings. */
const IDLE_MS = 1000;
const CPU_WINDOW_MS = 2000;

/** Huey's numbers as quoted in the issue. */
const HUEY = { drain: 4200, idleLatencyMs: 54 };

/** The goals of the issue. */
const GOALS = { drainShare: 0.35, drainRate: 8500, idleP50Ms: 5 };

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const root = fileURLToPath(new URL("..", import.meta.url));
const isBun = "Bun" in globalThis;

interface Line {
  name: string;
  value: string;
  vsRaw?: string;
  goal?: string;
}

interface SettingResult {
  synchronous: Synchronous;
  raw: number;
  lines: Line[];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const rate = (n: number) => `${Math.round(n).toLocaleString("en-US")}/s`;
const pct = (part: number, whole: number) => `${((part / whole) * 100).toFixed(1)} %`;
const ms = (n: number) => `${n.toFixed(1)} ms`;
const check = (ok: boolean) => (ok ? "✅" : "❌");

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

/** Runs every measurement at one durability setting on a fresh file in `dir`. */
async function benchSetting(dir: string, synchronous: Synchronous): Promise<SettingResult> {
  const path = join(dir, `bench-${synchronous}.db`);
  const storages: SqliteStorage[] = [];
  const open = (name: string) => {
    const storage = new SqliteStorage({ path, synchronous });
    storages.push(storage);
    return new Dewey({ name, storage, logger: quiet });
  };
  let child: ChildProcess | undefined;
  try {
    // --- the limit: raw insert + delete in one transaction, through the same stack ------
    const rawDewey = open("bench_raw");
    await rawDewey.pendingCount(); // creates the file with its pragmas and tables
    const db = storages[0].db as unknown as Kysely<any>;
    await sql`create table if not exists bench_raw (id integer primary key autoincrement,
      priority real not null, data text not null)`.execute(db);
    const payload = "x".repeat(120); // about the size of a small task message
    const raw = await measureAsync(async () => {
      await db.transaction().execute(async (tx) => {
        const { insertId } = await sql`insert into bench_raw (priority, data)
          values (0, ${payload})`.execute(tx);
        await sql`delete from bench_raw where id = ${Number(insertId)}`.execute(tx);
      });
      return 1;
    });
    const commit = await measureAsync(async () => {
      const { insertId } = await sql`insert into bench_raw (priority, data)
        values (0, ${payload})`.execute(db);
      await sql`delete from bench_raw where id = ${Number(insertId)}`.execute(db);
      return 2;
    }) * 2;

    // --- enqueueing ------------------------------------------------------------------------
    const oneByOne = await measureEnqueue(open("bench_enqueue"));

    // --- drain 20k with an in-process consumer ----------------------------------------------
    const { drain1, drain4, map: mapMean } = await measureDrains(open, DRAIN_TASKS);

    // --- a consumer in another process -------------------------------------------------------
    const producer = open(LATENCY_INSTANCE);
    const stamp = defineStamp(producer);
    child = await startConsumer(path, synchronous);
    const pid = child.pid!;
    await sleep(IDLE_MS);

    const handles = [];
    for (let n = 0; n < LATENCY_TASKS; n++) {
      handles.push(await stamp(Date.now()));
      await sleep(LATENCY_GAP_MS);
    }
    const latencies: number[] = [];
    for (const handle of handles) {
      const value = await handle.get({ blocking: true, timeout: 30 }) as Stamp;
      latencies.push(value.startedAt - value.enqueuedAt);
    }

    const roundTrips: number[] = [];
    for (let n = 0; n < ROUND_TRIPS; n++) {
      const begin = performance.now();
      const handle = await stamp(Date.now());
      await handle.get({ blocking: true, timeout: 30 });
      roundTrips.push(performance.now() - begin);
    }

    await sleep(IDLE_MS);
    const cpuBefore = cpuMs(pid);
    const cpuStart = performance.now();
    await sleep(CPU_WINDOW_MS);
    const idleCpu = (cpuMs(pid) - cpuBefore) / ((performance.now() - cpuStart) / 1000);

    // --- the table ---------------------------------------------------------------------------
    const isDefault = synchronous === "normal";
    const drainGoal = (rate: number) =>
      `≥ ${GOALS.drainShare * 100} % of raw ${check(rate >= GOALS.drainShare * raw)}` +
      (isDefault
        ? `, ≥ ${GOALS.drainRate.toLocaleString("en-US")}/s ${check(rate >= GOALS.drainRate)}`
        : "");
    const p50 = percentile(latencies, 50);
    const lines: Line[] = [
      { name: "raw kysely insert+delete per transaction (the limit)", value: rate(raw) },
      {
        name: "raw kysely insert, delete as 2 autocommit statements (commits/s; context)",
        value: rate(commit),
        vsRaw: pct(commit, raw),
      },
      { name: "enqueue one by one", value: rate(oneByOne), vsRaw: pct(oneByOne, raw) },
      {
        name: `map() bulk enqueue (${DRAIN_TASKS / 1000}k tasks, mean of 2)`,
        value: rate(mapMean),
        vsRaw: pct(mapMean, raw),
      },
      {
        name: `drain ${DRAIN_TASKS / 1000}k, 1 async worker`,
        value: rate(drain1),
        vsRaw: pct(drain1, raw),
        goal: drainGoal(drain1),
      },
      {
        name: `drain ${DRAIN_TASKS / 1000}k, 4 async workers`,
        value: rate(drain4),
        vsRaw: pct(drain4, raw),
        goal: drainGoal(drain4),
      },
      {
        name: "enqueue→start latency at idle, p50 (other process, default flags; " +
          "Date.now(), 1 ms steps)",
        value: ms(p50),
        goal: `≤ ${GOALS.idleP50Ms} ms ${check(p50 <= GOALS.idleP50Ms)}`,
      },
      {
        name:
          `enqueue→start latency at idle, p99 (${LATENCY_TASKS} tasks, ${LATENCY_GAP_MS} ms apart)`,
        value: ms(percentile(latencies, 99)),
      },
      {
        name: `result round trip p50 (enqueue + blocking get, ${ROUND_TRIPS} in a row)`,
        value: ms(percentile(roundTrips, 50)),
      },
      {
        name: `idle consumer CPU (other process, over ${CPU_WINDOW_MS / 1000} s)`,
        value: `${idleCpu.toFixed(1)} ms/s`,
      },
    ];
    return { synchronous, raw, lines };
  } finally {
    if (child) await stopChild(child);
    for (const storage of storages) await storage.close();
  }
}

/** Spawns `cli.ts consume` on the fixture with default flags; resolves once it has started. */
async function startConsumer(path: string, synchronous: Synchronous): Promise<ChildProcess> {
  const cli = join(root, "cli.ts");
  const fixture = join(root, "bench", "_sql_fixture.ts");
  const command = isBun ? process.execPath : (globalThis as any).Deno.execPath();
  const args = isBun ? [cli, "consume", fixture] : ["run", "-A", cli, "consume", fixture];
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, DEWEY_BENCH_DB: path, DEWEY_BENCH_SYNC: synchronous },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let tail = "";
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumer did not start:\n${tail}`)), 20_000);
    child.stderr!.setEncoding("utf8");
    // Keeps reading (and dropping) the per-task log lines, so the pipe never fills.
    child.stderr!.on("data", (chunk: string) => {
      tail = (tail + chunk).slice(-4000);
      if (tail.includes("Dewey consumer started")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`consumer exited with ${code}:\n${tail}`));
    });
  });
  try {
    await started;
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return child;
}

/** Stops a child gracefully, then for good. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * CPU time of process `pid` so far, in ms: the sum of its threads' on-CPU time from
 * `/proc/<pid>/task/<tid>/schedstat` (nanoseconds), else utime + stime from `/proc/<pid>/stat`
 * (10 ms ticks: too coarse for an idle process over two seconds).
 */
function cpuMs(pid: number): number {
  try {
    let ns = 0;
    for (const thread of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${thread}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // The thread ended meanwhile.
      }
    }
    return ns / 1e6;
  } catch {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime; USER_HZ is 100
  }
}

function table(result: SettingResult): string {
  const rows = [
    "| benchmark | result | vs raw limit | goal |",
    "|---|---:|---:|---|",
    ...result.lines.map((line) =>
      `| ${line.name} | ${line.value} | ${line.vsRaw ?? ""} | ${line.goal ?? ""} |`
    ),
  ];
  return rows.join("\n");
}

async function sqliteVersion(dir: string): Promise<string> {
  const storage = new SqliteStorage({ path: join(dir, "version.db") });
  try {
    const { rows } = await sql<{ v: string }>`select sqlite_version() as v`
      .execute(storage.db as unknown as Kysely<any>);
    return rows[0].v;
  } finally {
    await storage.close();
  }
}

if (import.meta.main) {
  const dir = mkdtempSync(join(tmpdir(), "dewey-bench-sql-"));
  try {
    const started = performance.now();
    console.log(
      `## Dewey SQLite benchmark (${navigator.userAgent}, SQLite ${await sqliteVersion(dir)}, ` +
        `${cpus().length} cores, load average ${loadavg()[0].toFixed(2)} at start)\n`,
    );
    const labels: Record<Synchronous, string> = {
      normal: '`synchronous: "normal"` in WAL (the default; survives a killed process)',
      full: '`synchronous: "full"` (survives power loss; SqliteHuey\'s default)',
    };
    for (const synchronous of ["normal", "full"] as const) {
      const result = await benchSetting(dir, synchronous);
      console.log(`### ${labels[synchronous]}\n`);
      console.log(table(result) + "\n");
    }
    console.log(
      `Huey for reference (SqliteHuey, as quoted in the issue): drain ` +
        `${HUEY.drain.toLocaleString("en-US")} tasks/s, enqueue→start latency at idle ` +
        `${HUEY.idleLatencyMs} ms.\n`,
    );
    console.log(`Total time: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
