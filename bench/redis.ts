/**
 * Redis benchmark (`deno run -A bench/redis.ts`, or `bun bench/redis.ts`): Dewey's
 * `RedisStorage` against BullMQ on one private redis-server started here, in one run, with
 * the same no-op task (it returns its argument, so both store a return value):
 *
 * - the raw limit with ioredis: sequential round trips (`LPUSH`, and `LPUSH`+`RPOP` pairs
 *   from 1 and 8 concurrent loops), and one `RPUSH` of 10k values;
 * - enqueue one by one: a task call vs `queue.add`;
 * - bulk enqueue of 10k: `map()` vs `queue.addBulk`;
 * - draining 50k with 1 and 8 async workers: Dewey's `Consumer` vs BullMQ's `Worker`
 *   (concurrency 1 and 8), each checked to have run every task;
 * - enqueue→start latency at idle (p50, p99) and the result round trip (enqueue, then wait
 *   for the result: a blocking `get` vs `job.waitUntilFinished`), consumer and producer in
 *   this process on connections of their own;
 * - informative: Dewey over Upstash REST (the test proxy in front of the same server).
 *
 * Throughput figures are the median of {@linkcode ROUNDS} rounds in which Dewey and BullMQ
 * take turns going first. Prints one Markdown table with each figure, the Dewey/BullMQ
 * ratio, the raw limit and the goals.
 *
 * @module
 */

import { cpus, loadavg } from "node:os";
import process from "node:process";
import { Redis } from "ioredis";
import { Queue, QueueEvents, Worker } from "bullmq";
import { Dewey } from "../mod.ts";
import { Consumer } from "../consumer.ts";
import { RedisStorage } from "../redis.ts";
import { startRedisServer } from "../tests/support/redis_server.ts";
import { startUpstashProxy, type UpstashProxy } from "../tests/support/upstash_proxy.ts";

/** Tasks per bulk enqueue. */
const TASKS = 10_000;
/** Tasks per drain run (the figure). */
const DRAIN_TASKS = 50_000;
/** Async workers (BullMQ: concurrency) of the concurrent drain. */
const DRAIN_WORKERS = 8;
/** Tasks per one-by-one enqueue run (and raw round trips per run). */
const ONE_BY_ONE = 3000;
/** Tasks per drain over REST (polling is slow; informative only). */
const REST_DRAIN_TASKS = 2000;
/**
 * Rounds of every throughput figure; the median (of two: the mean) is shown. Dewey and
 * BullMQ alternate which goes first, so a burst of load from elsewhere on the machine hits
 * both alike. Two rounds keep the whole run near two minutes; `ROUNDS=3` in the
 * environment asks for more.
 */
const ROUNDS = Math.max(1, Number(process.env.ROUNDS ?? 2) || 2);
/** Idle-latency samples, and the gap between their enqueues. */
const LATENCY_TASKS = 200;
const LATENCY_GAP_MS = 10;
/** Result round trips, one after another. */
const ROUND_TRIPS = 200;
/** How long consumers are left alone before the latency readings. */
const IDLE_MS = 1000;

/** The goals on this 2-core machine. */
const GOALS = { drain: 2, enqueue: 1.5, p50Ms: 1, p99Ms: 2, roundTripMs: 1.5 };

const isBun = "Bun" in globalThis;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const silentLog = { write() {} };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const check = (ok: boolean) => (ok ? "✅" : "❌");

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

/** The middle value; with an even count, the mean of the two middle ones. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** One row of the table: a rate (ops/s, higher is better) or a time (ms, lower is better). */
interface Row {
  name: string;
  unit: "ops/s" | "ms";
  dewey: number;
  bullmq?: number;
  limit?: number;
  goal?: string;
}

/** Opens a Dewey on the server, under its own instance name. */
type Open = (name: string, transport?: "tcp" | "rest") => Dewey;

// --- the raw limit ---------------------------------------------------------------------------

const PAYLOAD = "x".repeat(150); // about the size of a small task message

/** Sequential `LPUSH` round trips on one connection, per second. */
async function rawLpush(client: Redis): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < ONE_BY_ONE; i++) await client.lpush("raw:q", PAYLOAD);
  const rate = ONE_BY_ONE / ((performance.now() - start) / 1000);
  await client.del("raw:q");
  return rate;
}

/** `LPUSH`+`RPOP` pairs per second from `loops` concurrent sequential loops. */
async function rawPairs(client: Redis, loops: number): Promise<number> {
  const each = Math.ceil(ONE_BY_ONE / loops);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: loops }, async () => {
      for (let i = 0; i < each; i++) {
        await client.lpush("raw:pairs", PAYLOAD);
        await client.rpop("raw:pairs");
      }
    }),
  );
  return (each * loops) / ((performance.now() - start) / 1000);
}

/** `TASKS` payloads in one `RPUSH` (one command, one round trip), per second. */
async function rawBulk(client: Redis): Promise<number> {
  const values = Array.from({ length: TASKS }, () => PAYLOAD);
  const start = performance.now();
  await client.rpush("raw:bulk", ...values);
  const rate = TASKS / ((performance.now() - start) / 1000);
  await client.del("raw:bulk");
  return rate;
}

// --- Dewey -----------------------------------------------------------------------------------

/** `ONE_BY_ONE` task calls one after another, per second. */
async function deweyEnqueue(open: Open, transport: "tcp" | "rest"): Promise<number> {
  const dewey = open(`bench_enqueue_${transport}`, transport);
  const noop = dewey.task("noop", (n: number) => n);
  const start = performance.now();
  for (let i = 0; i < ONE_BY_ONE; i++) await noop(i);
  const rate = ONE_BY_ONE / ((performance.now() - start) / 1000);
  if (await dewey.pendingCount() !== ONE_BY_ONE) throw new Error("enqueue lost tasks");
  await dewey.flush();
  await dewey.close();
  return rate;
}

/** One `map()` of `TASKS`, per second. */
async function deweyBulk(open: Open, transport: "tcp" | "rest"): Promise<number> {
  const dewey = open(`bench_bulk_${transport}`, transport);
  const noop = dewey.task("noop", (n: number) => n);
  const args = Array.from({ length: TASKS }, (_, n) => [n] as [number]);
  const start = performance.now();
  await noop.map(args);
  const rate = TASKS / ((performance.now() - start) / 1000);
  if (await dewey.pendingCount() !== TASKS) throw new Error("map() lost tasks");
  await dewey.flush();
  await dewey.close();
  return rate;
}

/** Drains `tasks` no-op tasks with an in-process consumer; tasks per second. */
async function deweyDrain(
  open: Open,
  workers: number,
  transport: "tcp" | "rest" = "tcp",
  tasks = DRAIN_TASKS,
): Promise<number> {
  const name = `bench_drain_${transport}_${workers}`;
  const producer = open(name, transport);
  const noop = producer.task("noop", (n: number) => n);
  await noop.map(Array.from({ length: tasks }, (_, n) => [n] as [number]));
  const dewey = open(name, transport);
  dewey.task("noop", (n: number) => n);
  const consumer = new Consumer(dewey, { workers, periodic: false, log: silentLog });
  const start = performance.now();
  const running = consumer.run();
  while (consumer.tasksDone < tasks) await sleep(1);
  const elapsed = performance.now() - start;
  consumer.stop();
  await running;
  const left = await producer.pendingCount() + await producer.leasedCount();
  const results = await producer.resultCount();
  if (left !== 0 || results !== tasks) {
    throw new Error(`Dewey drain left ${left} message(s) and ${results}/${tasks} results`);
  }
  await producer.flush();
  await producer.close();
  await dewey.close();
  return tasks / (elapsed / 1000);
}

async function deweyLatency(open: Open): Promise<{ starts: number[]; roundTrips: number[] }> {
  const producer = open("bench_latency");
  const dewey = open("bench_latency");
  const starts: number[] = [];
  const define = (instance: Dewey, record: boolean) =>
    instance.task("stamp", (t0: number) => {
      if (record) starts.push(performance.now() - t0);
      return t0;
    });
  const stamp = define(producer, false);
  define(dewey, true);
  const consumer = new Consumer(dewey, { workers: 1, periodic: false, log: silentLog });
  const running = consumer.run();
  try {
    await sleep(IDLE_MS);
    for (let i = 0; i < LATENCY_TASKS; i++) {
      await stamp(performance.now());
      await sleep(LATENCY_GAP_MS);
    }
    while (starts.length < LATENCY_TASKS) await sleep(5);
    // The idle samples only: the round trips below run the same task (as BullMQ's stop
    // recording before theirs).
    const idle = starts.slice(0, LATENCY_TASKS);
    const roundTrips: number[] = [];
    for (let i = 0; i < ROUND_TRIPS; i++) {
      const begin = performance.now();
      const result = await stamp(begin);
      await result.get({ blocking: true, timeout: 10 });
      roundTrips.push(performance.now() - begin);
    }
    return { starts: idle, roundTrips };
  } finally {
    consumer.stop();
    await running;
    await producer.flush();
  }
}

// --- BullMQ ----------------------------------------------------------------------------------

/** A BullMQ queue on its own connection; `close` also removes its keys. */
function bullQueue(url: string, name: string) {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection });
  return {
    queue,
    connection,
    async close() {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    },
  };
}

/** `ONE_BY_ONE` `queue.add` calls one after another, per second. */
async function bullEnqueue(url: string): Promise<number> {
  const { queue, close } = bullQueue(url, "bench_enqueue");
  try {
    const start = performance.now();
    for (let i = 0; i < ONE_BY_ONE; i++) await queue.add("noop", { n: i });
    const rate = ONE_BY_ONE / ((performance.now() - start) / 1000);
    if (await queue.getWaitingCount() !== ONE_BY_ONE) throw new Error("add lost jobs");
    return rate;
  } finally {
    await close();
  }
}

/** One `addBulk` of `TASKS`, per second. */
async function bullBulk(url: string): Promise<number> {
  const { queue, close } = bullQueue(url, "bench_bulk");
  const jobs = Array.from({ length: TASKS }, (_, n) => ({ name: "noop", data: { n } }));
  try {
    const start = performance.now();
    await queue.addBulk(jobs);
    const rate = TASKS / ((performance.now() - start) / 1000);
    if (await queue.getWaitingCount() !== TASKS) throw new Error("addBulk lost jobs");
    return rate;
  } finally {
    await close();
  }
}

/** Drains `DRAIN_TASKS` no-op jobs with a Worker of `concurrency`; jobs per second. */
async function bullDrain(url: string, concurrency: number): Promise<number> {
  const name = `bench_drain_${concurrency}`;
  const { queue, close } = bullQueue(url, name);
  const tasks = DRAIN_TASKS;
  await queue.addBulk(Array.from({ length: tasks }, (_, n) => ({ name: "noop", data: { n } })));
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  let completed = 0;
  let allDone!: () => void;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const worker = new Worker(name, (job) => Promise.resolve(job.data.n), {
    connection,
    concurrency,
    autorun: false,
  });
  worker.on("completed", () => {
    if (++completed === tasks) allDone();
  });
  try {
    const start = performance.now();
    worker.run();
    await done;
    const elapsed = performance.now() - start;
    const counts = await queue.getJobCounts("completed", "waiting", "active", "failed");
    if (counts.completed !== tasks || counts.waiting || counts.active || counts.failed) {
      throw new Error(`BullMQ drain ended with ${JSON.stringify(counts)}`);
    }
    return tasks / (elapsed / 1000);
  } finally {
    await worker.close();
    connection.disconnect();
    await close();
  }
}

async function bullLatency(url: string): Promise<{ starts: number[]; roundTrips: number[] }> {
  const name = "bench_latency";
  const { queue, close } = bullQueue(url, name);
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const eventsConnection = new Redis(url, { maxRetriesPerRequest: null });
  const events = new QueueEvents(name, { connection: eventsConnection });
  const starts: number[] = [];
  let record = true;
  const worker = new Worker(name, (job) => {
    if (record) starts.push(performance.now() - job.data.t0);
    return Promise.resolve(job.data.t0);
  }, { connection, concurrency: 1 });
  try {
    await worker.waitUntilReady();
    await events.waitUntilReady();
    await sleep(IDLE_MS);
    for (let i = 0; i < LATENCY_TASKS; i++) {
      await queue.add("stamp", { t0: performance.now() });
      await sleep(LATENCY_GAP_MS);
    }
    while (starts.length < LATENCY_TASKS) await sleep(5);
    record = false;
    const roundTrips: number[] = [];
    for (let i = 0; i < ROUND_TRIPS; i++) {
      const begin = performance.now();
      const job = await queue.add("stamp", { t0: begin });
      await job.waitUntilFinished(events, 10_000);
      roundTrips.push(performance.now() - begin);
    }
    return { starts, roundTrips };
  } finally {
    await worker.close();
    await events.close();
    connection.disconnect();
    eventsConnection.disconnect();
    await close();
  }
}

// --- the table -------------------------------------------------------------------------------

function format(value: number | undefined, unit: Row["unit"]): string {
  if (value === undefined) return "";
  return unit === "ms"
    ? `${value.toFixed(2)} ms`
    : `${Math.round(value).toLocaleString("en-US")}/s`;
}

function table(rows: Row[]): string {
  const lines = [
    "| benchmark | Dewey | BullMQ | Dewey/BullMQ | raw limit | Dewey vs limit | goal |",
    "|---|---:|---:|---:|---:|---:|---|",
  ];
  for (const row of rows) {
    const ratio = row.bullmq === undefined ? "" : `${(row.dewey / row.bullmq).toFixed(2)}×`;
    const share = row.limit === undefined ? "" : `${((row.dewey / row.limit) * 100).toFixed(0)} %`;
    lines.push(
      `| ${row.name} | ${format(row.dewey, row.unit)} | ${format(row.bullmq, row.unit)} | ` +
        `${ratio} | ${format(row.limit, row.unit)} | ${share} | ${row.goal ?? ""} |`,
    );
  }
  return lines.join("\n");
}

/** Samples of a figure for Dewey and for BullMQ. */
interface Pair {
  dewey: number[];
  bullmq: number[];
}

const pair = (): Pair => ({ dewey: [], bullmq: [] });

/** One sample of each, in an order that alternates with the round. */
async function both(
  round: number,
  into: Pair,
  dewey: () => Promise<number>,
  bullmq: () => Promise<number>,
): Promise<void> {
  if (round % 2 === 0) {
    into.dewey.push(await dewey());
    into.bullmq.push(await bullmq());
  } else {
    into.bullmq.push(await bullmq());
    into.dewey.push(await dewey());
  }
}

const medians = (samples: Pair) => ({
  dewey: median(samples.dewey),
  bullmq: median(samples.bullmq),
});

async function bench(url: string, proxy: UpstashProxy): Promise<Row[]> {
  const instances: Dewey[] = [];
  const open: Open = (name, transport = "tcp") => {
    const storage = transport === "tcp"
      ? new RedisStorage({ url })
      : new RedisStorage({ url: proxy.url, token: proxy.token });
    const dewey = new Dewey({ name, storage, logger: quiet });
    instances.push(dewey);
    return dewey;
  };
  const client = new Redis(url);
  try {
    const raw = { lpush: [] as number[], pairs1: [] as number[], pairsN: [] as number[] };
    const rawBulks: number[] = [];
    const samples = { enqueue: pair(), bulk: pair(), drain1: pair(), drainN: pair() };
    for (let round = 0; round < ROUNDS; round++) {
      raw.lpush.push(await rawLpush(client));
      raw.pairs1.push(await rawPairs(client, 1));
      raw.pairsN.push(await rawPairs(client, DRAIN_WORKERS));
      rawBulks.push(await rawBulk(client));
      await both(round, samples.enqueue, () => deweyEnqueue(open, "tcp"), () => bullEnqueue(url));
      await both(round, samples.bulk, () => deweyBulk(open, "tcp"), () => bullBulk(url));
      await both(round, samples.drain1, () => deweyDrain(open, 1), () => bullDrain(url, 1));
      await both(
        round,
        samples.drainN,
        () => deweyDrain(open, DRAIN_WORKERS),
        () => bullDrain(url, DRAIN_WORKERS),
      );
    }
    const dLatency = await deweyLatency(open);
    const bLatency = await bullLatency(url);
    const rest = { enqueue: [] as number[], bulk: [] as number[], drain4: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      rest.enqueue.push(await deweyEnqueue(open, "rest"));
      rest.bulk.push(await deweyBulk(open, "rest"));
    }
    rest.drain4.push(await deweyDrain(open, 4, "rest", REST_DRAIN_TASKS));

    const enqueue = medians(samples.enqueue);
    const drain1 = medians(samples.drain1);
    const drainN = medians(samples.drainN);
    const ratioGoal = (value: { dewey: number; bullmq: number }, goal: number) =>
      `≥ ${goal}× BullMQ ${check(value.dewey >= goal * value.bullmq)}`;
    const p50 = percentile(dLatency.starts, 50);
    const p99 = percentile(dLatency.starts, 99);
    const roundTrip = percentile(dLatency.roundTrips, 50);
    const k = `${TASKS / 1000}k`;
    const lpush = median(raw.lpush);
    const drainK = `${DRAIN_TASKS / 1000}k`;
    return [
      {
        name: "raw: sequential `LPUSH` round trips, one ioredis connection",
        unit: "ops/s",
        dewey: lpush,
      },
      {
        name: `enqueue one by one, ${ONE_BY_ONE} (task call vs \`queue.add\`)`,
        unit: "ops/s",
        ...enqueue,
        limit: lpush,
        goal: ratioGoal(enqueue, GOALS.enqueue),
      },
      {
        name: `bulk enqueue ${k} (\`map()\` vs \`addBulk\`; limit: one \`RPUSH\` of ${k})`,
        unit: "ops/s",
        ...medians(samples.bulk),
        limit: median(rawBulks),
      },
      {
        name: `drain ${drainK}, 1 worker (limit: sequential \`LPUSH\`+\`RPOP\` pairs)`,
        unit: "ops/s",
        ...drain1,
        limit: median(raw.pairs1),
        goal: ratioGoal(drain1, GOALS.drain),
      },
      {
        name: `drain ${drainK}, ${DRAIN_WORKERS} async workers / concurrency ${DRAIN_WORKERS} ` +
          `(limit: ${DRAIN_WORKERS} concurrent pair loops)`,
        unit: "ops/s",
        ...drainN,
        limit: median(raw.pairsN),
        goal: ratioGoal(drainN, GOALS.drain),
      },
      {
        name:
          `enqueue→start latency at idle, p50 (${LATENCY_TASKS} tasks, ${LATENCY_GAP_MS} ms apart)`,
        unit: "ms",
        dewey: p50,
        bullmq: percentile(bLatency.starts, 50),
        goal: `≤ ${GOALS.p50Ms} ms ${check(p50 <= GOALS.p50Ms)}`,
      },
      {
        name: "enqueue→start latency at idle, p99",
        unit: "ms",
        dewey: p99,
        bullmq: percentile(bLatency.starts, 99),
        goal: `≤ ${GOALS.p99Ms} ms ${check(p99 <= GOALS.p99Ms)}`,
      },
      {
        name: "result round trip p50 (blocking `get` vs `waitUntilFinished`, " +
          `${ROUND_TRIPS} in a row)`,
        unit: "ms",
        dewey: roundTrip,
        bullmq: percentile(bLatency.roundTrips, 50),
        goal: `≤ ${GOALS.roundTripMs} ms ${check(roundTrip <= GOALS.roundTripMs)}`,
      },
      {
        name: `Upstash REST (proxy): enqueue one by one, ${ONE_BY_ONE} (BullMQ cannot)`,
        unit: "ops/s",
        dewey: median(rest.enqueue),
      },
      { name: `Upstash REST (proxy): \`map()\` of ${k}`, unit: "ops/s", dewey: median(rest.bulk) },
      {
        name: `Upstash REST (proxy): drain ${
          REST_DRAIN_TASKS / 1000
        }k, 4 async workers (polling, one run)`,
        unit: "ops/s",
        dewey: rest.drain4[0],
      },
    ];
  } finally {
    client.disconnect();
    for (const dewey of instances) await dewey.close();
  }
}

if (import.meta.main) {
  const started = performance.now();
  const redis = await startRedisServer();
  const proxy = await startUpstashProxy({ redisPort: redis.port });
  try {
    const runtime = isBun
      ? `Bun ${(globalThis as { Bun?: { version: string } }).Bun?.version}`
      : navigator.userAgent;
    console.log(
      `## Dewey vs BullMQ on Redis (${runtime}, ${cpus().length} cores, ` +
        `load average ${loadavg()[0].toFixed(2)} at start)\n`,
    );
    const rows = await bench(redis.url, proxy);
    console.log(table(rows) + "\n");
    console.log(
      "Dewey/BullMQ: above 1 is better for Dewey on rates, below 1 on times (ms). Both store " +
        "the no-op's return value (Dewey a result, BullMQ a completed job).\n",
    );
    console.log(
      `Total time: ${((performance.now() - started) / 1000).toFixed(1)} s; load average ` +
        `${loadavg()[0].toFixed(2)} at the end.`,
    );
  } finally {
    await proxy.close();
    await redis.stop();
  }
}
