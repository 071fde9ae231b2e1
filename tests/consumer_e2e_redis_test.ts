/**
 * The consumer end to end on Redis: real `cli.ts consume` processes (run by the runtime
 * running the tests) on a private redis-server over TCP, fed and read by this process
 * through the same task module (`tests/fixtures/e2e_redis_tasks.ts`). Exactly-once
 * execution of 5,000 tasks across three consumers, a consumer riding out a Redis restart
 * with one log line each way, and bad credentials reported once, without the secret.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { createApp, PIDS_KEY, type RedisApp, RUNS_KEY } from "./fixtures/e2e_redis_tasks.ts";
import { type CliProcess, lines, runCli, startCli } from "./support/cli.ts";
import { sleep, stopConsumer, tail, waitFor } from "./support/e2e.ts";
import { type RedisServer, startRedisServer } from "./support/redis_server.ts";
import { startUpstashProxy } from "./support/upstash_proxy.ts";

const FIXTURE = "tests/fixtures/e2e_redis_tasks.ts";
/** Per-test limit: generous, so a slow machine fails with a message rather than a kill. */
const TIMEOUT = { timeout: 60_000 };
const UNAVAILABLE = /Storage unavailable, backing off: /;
const AVAILABLE_AGAIN = /Storage available again/;

/**
 * Runs `body` with a private redis-server (started with `options`), consumers started on it
 * through `spawn`, and the test's own app on it; kills, closes and stops everything after.
 */
async function withRedis(
  options: Parameters<typeof startRedisServer>[0],
  body: (context: {
    redis: RedisServer;
    app: RedisApp;
    spawn: (args: string[], env?: Record<string, string>) => Promise<CliProcess>;
  }) => Promise<void>,
): Promise<void> {
  const redis = await startRedisServer(options);
  const app = createApp({ url: redis.url });
  const consumers: CliProcess[] = [];
  const spawn = async (args: string[], env: Record<string, string> = {}) => {
    const consumer = startCli(["consume", FIXTURE, ...args], {
      DEWEY_E2E_REDIS: redis.url,
      ...env,
    });
    consumers.push(consumer);
    await consumer.waitForStderr(/Dewey consumer started/, 30_000);
    return consumer;
  };
  try {
    await body({ redis, app, spawn });
  } finally {
    for (const consumer of consumers) consumer.kill();
    await Promise.all(consumers.map((consumer) => consumer.exited(10_000).catch(() => null)));
    await app.close();
    await redis.stop();
  }
}

/** `result.get` blocking up to `timeout` s; a failure carries the consumer's log tail. */
async function getFrom<T>(
  consumer: CliProcess,
  result: { get(options: { blocking: true; timeout: number }): Promise<T | undefined> },
  timeout = 10,
): Promise<T | undefined> {
  try {
    return await result.get({ blocking: true, timeout });
  } catch (error) {
    throw new Error(`${error}; the consumer's log:\n${tail(consumer.stderr(), 20)}`, {
      cause: error,
    });
  }
}

/** Occurrences of `pattern` (a non-global RegExp) in `text`. */
function count(text: string, pattern: RegExp): number {
  return [...text.matchAll(new RegExp(pattern.source, "g"))].length;
}

describe("consumer end to end on Redis", () => {
  it("three consumers on one Redis run 5,000 tasks exactly once", TIMEOUT, async () => {
    const TASKS = 5000;
    await withRedis({}, async ({ redis, app, spawn }) => {
      const raw = new Redis(redis.url);
      try {
        const consumers = await Promise.all(
          [0, 1, 2].map(() => spawn(["-w", "4", "-n", "-S"])),
        );
        const runs = async () => Object.entries(await raw.hgetall(RUNS_KEY));
        const started = Date.now();
        for (let first = 0; first < TASKS; first += 1000) {
          await app.record.map(Array.from({ length: 1000 }, (_, i) => [first + i] as [number]));
        }
        await waitFor(
          `${TASKS} ids recorded and nothing queued or leased`,
          async () =>
            (await runs()).length >= TASKS && await app.dewey.pendingCount() === 0 &&
            await app.dewey.leasedCount() === 0,
          {
            timeoutMs: 45_000,
            intervalMs: 200,
            describe: () => consumers.map((c) => tail(c.stderr(), 5)).join("\n"),
          },
        );
        const elapsed = Date.now() - started;
        await Promise.all(consumers.map((consumer) => stopConsumer(consumer)));

        const recorded = await runs();
        assert.equal(recorded.length, TASKS, "distinct ids run");
        const duplicates = recorded.filter(([, n]) => n !== "1");
        assert.deepEqual(duplicates, [], "ids run more than once");
        assert.deepEqual(
          recorded.map(([id]) => Number(id)).sort((a, b) => a - b),
          Array.from({ length: TASKS }, (_, i) => i),
        );
        const perProcess = await raw.hgetall(PIDS_KEY);
        assert.deepEqual(
          Object.keys(perProcess).sort(),
          consumers.map((consumer) => String(consumer.child.pid)).sort(),
          `every consumer did some of the work: ${JSON.stringify(perProcess)}`,
        );
        assert.equal(Object.values(perProcess).reduce((sum, n) => sum + Number(n), 0), TASKS);
        assert.equal(await app.dewey.pendingCount(), 0);
        assert.equal(await app.dewey.leasedCount(), 0);
        assert.deepEqual(await app.dewey.deadLetters(), []);
        for (const consumer of consumers) {
          assert.equal(count(consumer.stderr(), UNAVAILABLE), 0, consumer.stderr());
        }
        console.log(`5,000 tasks on 3 consumers: ${elapsed} ms (${JSON.stringify(perProcess)})`);
      } finally {
        raw.disconnect();
      }
    });
  });

  it(
    "a consumer rides out a Redis restart: one line down, one line back, no task lost",
    TIMEOUT,
    async () => {
      await withRedis({ appendonly: true }, async ({ redis, app, spawn }) => {
        // A short max delay: the idle consumer looks at Redis several times while it is down.
        const consumer = await spawn(["-n", "-S", "-m", "0.2"]);
        assert.equal(await getFrom(consumer, await app.add(1, 2)), 3);
        // Due while Redis is down: the schedule must survive the restart (append-only file).
        const scheduled = await app.add.schedule([4, 4], { delay: 1 });

        await redis.stop({ keepDir: true });
        await consumer.waitForStderr(UNAVAILABLE, 15_000);
        // Several more failed polls and scheduler runs; none may log again.
        await sleep(1500);
        assert.equal(consumer.child.exitCode, null, "the consumer keeps running");
        await redis.restart();
        await consumer.waitForStderr(AVAILABLE_AGAIN, 15_000);

        const after = await app.add(2, 3);
        assert.equal(await getFrom(consumer, after), 5);
        assert.equal(await getFrom(consumer, scheduled), 8);
        await stopConsumer(consumer);

        const log = consumer.stderr();
        assert.equal(count(log, UNAVAILABLE), 1, log);
        assert.equal(count(log, AVAILABLE_AGAIN), 1, log);
        const down = lines(log).find((line) => UNAVAILABLE.test(line))!;
        assert.match(
          down,
          new RegExp(`Redis at redis://127\\.0\\.0\\.1:${redis.port} is unreachable: `),
        );
        assert.ok(
          lines(log).indexOf(down) < lines(log).findIndex((line) => /available again/.test(line)),
        );
      });
    },
  );

  describe("bad credentials: one error line naming the URL without the secret", () => {
    it("info over TCP with a wrong password exits 1", TIMEOUT, async () => {
      const redis = await startRedisServer({ password: "right-password" });
      try {
        const url = `redis://:wrong-secret-9@127.0.0.1:${redis.port}/0`;
        const result = await runCli(["info", FIXTURE], { DEWEY_E2E_REDIS: url });
        assert.equal(result.code, 1);
        assert.equal(result.stdout, "");
        assert.deepEqual(lines(result.stderr), [
          `error: Error: Redis at redis://:***@127.0.0.1:${redis.port}/0 refused the ` +
          "credentials: WRONGPASS invalid username-password pair or user is disabled.",
        ]);
      } finally {
        await redis.stop();
      }
    });

    it("info over Upstash REST with a wrong token exits 1", TIMEOUT, async () => {
      const redis = await startRedisServer();
      const proxy = await startUpstashProxy({ redisPort: redis.port, token: "right-token" });
      try {
        const result = await runCli(["info", FIXTURE], {
          DEWEY_E2E_REDIS: proxy.url,
          DEWEY_E2E_REDIS_TOKEN: "wrong-secret-token-9",
        });
        assert.equal(result.code, 1);
        assert.equal(result.stdout, "");
        assert.deepEqual(lines(result.stderr), [
          `error: Error: Upstash Redis at ${proxy.url} refused the token: Unauthorized`,
        ]);
      } finally {
        await proxy.close();
        await redis.stop();
      }
    });

    it("consume with a wrong password logs it once and keeps running", TIMEOUT, async () => {
      await withRedis({ password: "right-password" }, async ({ redis, spawn }) => {
        const url = `redis://:wrong-secret-9@127.0.0.1:${redis.port}`;
        const consumer = await spawn(["-n", "-S", "-m", "0.2"], { DEWEY_E2E_REDIS: url });
        await consumer.waitForStderr(UNAVAILABLE, 15_000);
        await sleep(1500); // several more failed polls, none logged
        await stopConsumer(consumer);
        const log = consumer.stderr();
        assert.equal(count(log, UNAVAILABLE), 1, log);
        assert.match(
          log,
          new RegExp(
            `Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port} refused the credentials`,
          ),
        );
        assert.ok(!log.includes("wrong-secret-9"), log);
      });
    });
  });
});
