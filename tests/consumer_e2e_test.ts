/**
 * The consumer end to end: real `cli.ts consume` processes (run by the runtime running the
 * tests) on a shared SQLite file or PostgreSQL database, fed and read by this process
 * through the same task module (`tests/fixtures/e2e_tasks.ts`). Results, delays and etas,
 * six-field periodic tasks, exactly-once execution across three consumers, SIGTERM, the
 * hard timeouts of the `process` and `worker` worker types, and dead letters.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TaskException } from "../mod.ts";
import { SqliteStorage } from "../sqlite.ts";
import { type App, type AppConfig, createApp } from "./fixtures/e2e_tasks.ts";
import { isBun, lines, runCli } from "./support/cli.ts";
import {
  createPgDatabase,
  dropPgDatabase,
  FIXTURE,
  type Sandbox,
  sleep,
  stopConsumer,
  tail,
  waitFor,
  withSandbox,
} from "./support/e2e.ts";

/** Per-test limit: generous, so a slow machine fails with a message rather than a kill. */
const TIMEOUT = { timeout: 60_000 };
/** Result polling: blocking, at most 0.1 s between reads. */
const BLOCKING = { blocking: true, maxDelay: 0.1 } as const;

/** The environment that points a consumer at `config`. */
function envOf(config: AppConfig): Record<string, string> {
  const env: Record<string, string> = {};
  if (config.db) env.DEWEY_E2E_DB = config.db;
  if (config.pg) env.DEWEY_E2E_PG = config.pg;
  if (config.out) env.DEWEY_E2E_OUT = config.out;
  if (config.ticks) env.DEWEY_E2E_TICKS = config.ticks;
  return env;
}

/**
 * Runs `body` in a sandbox with an SQLite file there, the test's own app on it (closed
 * afterwards), and the consumer environment for it.
 */
function onSqlite(
  body: (
    context: Sandbox & { app: App; config: AppConfig; env: Record<string, string> },
  ) => Promise<void>,
  extra: (dir: string) => Partial<AppConfig> = () => ({}),
): Promise<void> {
  return withSandbox(async (sandbox) => {
    const config: AppConfig = { db: join(sandbox.dir, "queue.db"), ...extra(sandbox.dir) };
    const app = createApp(config);
    try {
      await body({ ...sandbox, app, config, env: envOf(config) });
    } finally {
      await app.close();
    }
  });
}

/** Asserts that `result.get` rejects with a stored `TaskTimeout`. */
function isTaskTimeout(error: unknown): boolean {
  assert.ok(error instanceof TaskException, `expected a TaskException, got ${error}`);
  assert.equal(error.metadata.name, "TaskTimeout");
  assert.equal(error.metadata.error, "TaskTimeout: timeout (1s)");
  return true;
}

describe("consumer end to end", () => {
  it("returns results to another process; info shows nothing left", TIMEOUT, async () => {
    await onSqlite(async ({ app, env, spawn }) => {
      const consumer = await spawn(["-w", "2", "-n", "-S"], env);
      const sum = await app.add(1, 2);
      const negative = await app.add(2.5, -4);
      const described = await app.describe("mixed", [3, 4, 3]);
      const mapped = await app.add.map([[10, 20], [30, 40], [0, 0]]);
      assert.equal(await sum.get({ ...BLOCKING, timeout: 15 }), 3);
      assert.equal(await negative.get({ ...BLOCKING, timeout: 15 }), -1.5);
      assert.deepEqual(await described.get({ ...BLOCKING, timeout: 15 }), {
        label: "MIXED",
        total: 10,
        at: new Date("2024-01-02T03:04:05.000Z"),
        seen: new Set([3, 4]),
      });
      assert.deepEqual(await mapped.get({ ...BLOCKING, timeout: 15 }), [30, 70, 0]);
      // Log lines reach this process through a pipe, possibly after the results.
      await waitFor(
        "the consumer's log line",
        () => /^\d\d:\d\d:\d\d Executing add /m.test(consumer.stderr()),
      );
      // The ack follows the stored result by design: wait for it.
      await waitFor("the leases acknowledged", async () => await app.dewey.leasedCount() === 0);

      const info = await runCli(["info", FIXTURE], env);
      assert.equal(info.code, 0, info.stderr);
      assert.deepEqual(lines(info.stdout), [
        "instance: e2e",
        "storage: SqliteStorage",
        "pending: 0",
        "leased: 0",
        "scheduled: 0",
        "results: 0",
        "dead letters: 0",
        "tasks: add, describe, stamp, record, slow, spin",
      ]);
      await stopConsumer(consumer);
    });
  });

  it("runs a task with delay or eta no earlier than asked", TIMEOUT, async () => {
    await onSqlite(async ({ app, env, spawn }) => {
      const consumer = await spawn(["-n", "-S"], env);
      const nowAt = Date.now();
      const now = await app.stamp();
      const delayedAt = Date.now();
      const delayed = await app.stamp.schedule([], { delay: 1.5 });
      const eta = new Date(Date.now() + 1500);
      const byEta = await app.stamp.schedule([], { eta });
      assert.equal(await app.dewey.scheduledCount(), 2);

      const ranNow = Number(await now.get({ ...BLOCKING, timeout: 10 }));
      assert.ok(
        ranNow >= nowAt && ranNow < nowAt + 1500,
        `immediate task ran at +${ranNow - nowAt}`,
      );
      const ranDelayed = Number(await delayed.get({ ...BLOCKING, timeout: 10 }));
      const ranEta = Number(await byEta.get({ ...BLOCKING, timeout: 10 }));
      const late = ranDelayed - delayedAt;
      assert.ok(late >= 1500 && late <= 6000, `delay 1.5 s: ran at +${late} ms`);
      const lateEta = ranEta - eta.getTime();
      assert.ok(lateEta >= 0 && lateEta <= 4500, `eta: ran ${lateEta} ms after it`);
      assert.equal(await app.dewey.scheduledCount(), 0);
      assert.equal(await app.dewey.pendingCount(), 0);
      await stopConsumer(consumer);
    });
  });

  it(
    'runs a "*/2 * * * * *" periodic task once per even second across two consumers',
    TIMEOUT,
    async () => {
      await onSqlite(async ({ config, env, spawn }) => {
        const consumers = await Promise.all([spawn(["-S"], env), spawn(["-S"], env)]);
        await sleep(5000);
        await Promise.all(consumers.map((consumer) => stopConsumer(consumer)));
        const runs = lines(readFileSync(config.ticks!, "utf8")).map((line) => {
          const [second, ms, epoch] = line.split(" ").map(Number);
          return { second, ms, epoch };
        });
        const report = JSON.stringify(runs);
        assert.ok(runs.length >= 2, `at least 2 runs in ~5 s: ${report}`);
        for (const run of runs) {
          assert.equal(run.second % 2, 0, `ran at an odd second: ${report}`);
          assert.ok(run.ms <= 900, `ran ${run.ms} ms after the second: ${report}`);
          assert.equal(new Date(run.epoch).getUTCSeconds(), run.second);
        }
        const seconds = runs.map((run) => Math.floor(run.epoch / 1000));
        assert.equal(new Set(seconds).size, seconds.length, `a tick ran twice: ${report}`);
      }, (dir) => ({ ticks: join(dir, "ticks.txt") }));
    },
  );

  describe("exactly once: three consumers, 3,000 tasks", () => {
    const TASKS = 3000;
    const CHUNK = 500;

    async function exactlyOnce(config: AppConfig, { spawn }: Sandbox): Promise<void> {
      const out = config.out!;
      mkdirSync(out);
      const env = envOf(config);
      const app = createApp(config);
      try {
        const consumers = await Promise.all(
          [0, 1, 2].map(() => spawn(["-w", "4", "-n", "-S"], env)),
        );
        const recorded = () =>
          readdirSync(out).map((file) => ({
            file,
            ids: lines(readFileSync(join(out, file), "utf8")).map(Number),
          }));
        const started = Date.now();
        for (let first = 0; first < TASKS; first += CHUNK) {
          await app.record.map(
            Array.from({ length: CHUNK }, (_, i) => [first + i] as [number]),
          );
        }
        await waitFor(
          `${TASKS} ids recorded and an empty queue`,
          async () =>
            recorded().reduce((n, { ids }) => n + ids.length, 0) >= TASKS &&
            await app.dewey.pendingCount() === 0 && await app.dewey.leasedCount() === 0,
          {
            timeoutMs: 60_000,
            intervalMs: 200,
            describe: () =>
              `recorded per file: ${
                JSON.stringify(recorded().map(({ file, ids }) => [file, ids.length]))
              }\n${consumers.map((c) => tail(c.stderr(), 5)).join("\n")}`,
          },
        );
        const elapsed = Date.now() - started;
        await Promise.all(consumers.map((consumer) => stopConsumer(consumer)));

        const files = recorded();
        const all = files.flatMap(({ ids }) => ids);
        const counts = files.map(({ file, ids }) => `${file}: ${ids.length}`).join(", ");
        assert.equal(all.length, TASKS, `ids recorded (${counts})`);
        assert.equal(new Set(all).size, TASKS, `distinct ids (${counts})`);
        assert.deepEqual(all.sort((a, b) => a - b), Array.from({ length: TASKS }, (_, i) => i));
        assert.deepEqual(
          files.map(({ file }) => file).sort(),
          consumers.map((consumer) => `${consumer.child.pid}.ids`).sort(),
          "one file per consumer process: every consumer did some of the work",
        );
        for (const { file, ids } of files) assert.ok(ids.length > 0, `${file} did no work`);
        assert.equal(await app.dewey.pendingCount(), 0);
        // The ack follows the stored result by design: wait for it.
        await waitFor("the lease acknowledged", async () => await app.dewey.leasedCount() === 0);
        assert.ok(elapsed < 60_000, `took ${elapsed} ms`);
      } finally {
        await app.close();
      }
    }

    it("on one SQLite file", TIMEOUT, async () => {
      await withSandbox((sandbox) =>
        exactlyOnce(
          { db: join(sandbox.dir, "queue.db"), out: join(sandbox.dir, "ids") },
          sandbox,
        )
      );
    });

    it("on a fresh PostgreSQL database", TIMEOUT, async () => {
      const database = await createPgDatabase();
      try {
        await withSandbox((sandbox) =>
          exactlyOnce({ pg: database, out: join(sandbox.dir, "ids") }, sandbox)
        );
      } finally {
        await dropPgDatabase(database);
      }
    });
  });

  it(
    "SIGTERM on SQLite: exit 0 after the running task; its result is readable here",
    TIMEOUT,
    async () => {
      await onSqlite(async ({ app, env, spawn }) => {
        const consumer = await spawn(["-n", "-S"], env);
        const result = await app.slow(1500);
        await consumer.waitForStderr(/Executing slow /);
        const signalledAt = Date.now();
        await stopConsumer(consumer);
        assert.match(consumer.stderr(), /Stopping: finishing running tasks/);
        assert.match(consumer.stderr(), /slow \S+ executed in/);
        assert.doesNotMatch(consumer.stderr(), /interrupted|ERROR/);
        assert.ok(Date.now() - signalledAt < 10_000);
        // Read without blocking: the result was stored before the process exited.
        assert.equal(await result.get(), "slept 1500");
        // The ack follows the stored result by design: wait for it.
        await waitFor("the lease acknowledged", async () => await app.dewey.leasedCount() === 0);
        assert.equal(await app.dewey.pendingCount(), 0);
      });
    },
  );

  /** spin (timeout 1 s) fails with TaskTimeout at its hard deadline; the pool carries on. */
  async function hardTimeout(workerType: "process" | "worker"): Promise<void> {
    await onSqlite(async ({ app, env, spawn }) => {
      const consumer = await spawn(["-k", workerType, "-w", "1", "-n", "-S"], env);
      // The first result also tells that the pool's worker is up.
      const warmUp = await app.add(20, 22);
      assert.equal(await warmUp.get({ ...BLOCKING, timeout: 30 }), 42);

      const enqueuedAt = Date.now();
      const spinning = await app.spin();
      await assert.rejects(spinning.get({ ...BLOCKING, timeout: 10 }), isTaskTimeout);
      const elapsed = Date.now() - enqueuedAt;
      assert.ok(elapsed >= 1000 && elapsed <= 4000, `stopped after ${elapsed} ms`);
      const killed = new RegExp(`spin ${spinning.id} passed its 1s timeout: stopping its worker`);
      await waitFor("the consumer's timeout log line", () => killed.test(consumer.stderr()));

      // The only worker was replaced: a task enqueued afterwards runs.
      const after = await app.add(2, 3);
      assert.equal(await after.get({ ...BLOCKING, timeout: 30 }), 5);
      // The ack follows the stored result by design: wait for it.
      await waitFor("the lease acknowledged", async () => await app.dewey.leasedCount() === 0);
      await stopConsumer(consumer);
    });
  }

  it("-k process: a never-yielding task is stopped at its timeout", TIMEOUT, async () => {
    await hardTimeout("process");
  });

  it("-k worker: a task runs in a Web Worker and returns its value", TIMEOUT, async () => {
    await onSqlite(async ({ app, env, spawn }) => {
      const consumer = await spawn(["-k", "worker", "-w", "2", "-n", "-S"], env);
      const sum = await app.add(4, 5);
      const described = await app.describe("worker", [1, 2]);
      assert.equal(await sum.get({ ...BLOCKING, timeout: 30 }), 9);
      assert.deepEqual(await described.get({ ...BLOCKING, timeout: 15 }), {
        label: "WORKER",
        total: 3,
        at: new Date("2024-01-02T03:04:05.000Z"),
        seen: new Set([1, 2]),
      });
      await stopConsumer(consumer);
    });
  });

  // Deno cannot stop a Web Worker stuck in code that never yields (a documented
  // limitation of the `worker` type there), so this case exists under Bun only.
  if (isBun) {
    it("-k worker (Bun): a never-yielding task is stopped at its timeout", TIMEOUT, async () => {
      await hardTimeout("worker");
    });
  }

  it("dead-letters an undecodable message and keeps consuming", TIMEOUT, async () => {
    await onSqlite(async ({ app, config, env, spawn }) => {
      const consumer = await spawn(["-n", "-S"], env);
      const raw = new SqliteStorage({ path: config.db! });
      try {
        raw.bind("e2e");
        await raw.enqueue("garbage", 0);
      } finally {
        await raw.close();
      }
      const letters = await waitFor(
        "a dead letter",
        async () => {
          const entries = await app.dewey.deadLetters();
          return entries.length > 0 && entries;
        },
        { timeoutMs: 15_000, describe: () => tail(consumer.stderr()) },
      );
      assert.equal(letters.length, 1);
      assert.ok(
        letters[0].reason.startsWith("cannot decode message"),
        `reason: ${letters[0].reason}`,
      );
      assert.equal(letters[0].data, "garbage");
      assert.equal(consumer.child.exitCode, null, "the consumer keeps running");

      const good = await app.add(1, 1);
      assert.equal(await good.get({ ...BLOCKING, timeout: 15 }), 2);
      assert.equal(await app.dewey.pendingCount(), 0);
      assert.equal((await app.dewey.deadLetters()).length, 1);
      await stopConsumer(consumer);
    });
  });
});
