import { describe, it } from "node:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../consumer.ts"; // registers the file log and the worker types
import assert from "node:assert/strict";
import { ConfigurationError, Consumer, Dewey, MemoryStorage, type TaskContext } from "../mod.ts";
import { ConsumerLogger } from "../src/consumer/log.ts";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** A consumer whose log lines are kept for assertions. */
function consumerFor(dewey: Dewey, options: ConstructorParameters<typeof Consumer>[1] = {}) {
  const lines: string[] = [];
  const consumer = new Consumer(dewey, {
    periodic: false,
    delay: 0.01,
    maxDelay: 0.05,
    simple: true,
    log: { write: (line) => lines.push(line.replace(/^\d\d:\d\d:\d\d /, "")) },
    ...options,
  });
  return { consumer, lines };
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe("ConsumerLogger", () => {
  it("formats Huey's line, the full form and the simple one, and filters by level", () => {
    const lines: string[] = [];
    const out = { write: (line: string) => lines.push(line) };
    const full = new ConsumerLogger(out, { verbose: false, quiet: false, simple: false });
    full.info("worker", "Executing add 1");
    full.debug("worker", "not shown without verbose");
    full.error("consumer", "Storage unavailable");
    const simple = new ConsumerLogger(out, { verbose: false, quiet: true, simple: true });
    simple.info("worker", "not shown with quiet");
    simple.warn("scheduler", "Returned 1 task(s)");
    assert.equal(lines.length, 3);
    const stamp = /^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\] /;
    assert.match(lines[0], new RegExp(stamp.source + "INFO:dewey:worker:Executing add 1$"));
    assert.match(lines[1], new RegExp(stamp.source + "ERROR:dewey:consumer:Storage unavailable$"));
    assert.match(lines[2], /^\d\d:\d\d:\d\d Returned 1 task\(s\)$/);
    // The local time of the line, to the second.
    const [, when] = stamp.exec(lines[0])!;
    const now = new Date();
    const seconds = Math.abs(new Date(when.replace(" ", "T")).getTime() - now.getTime()) / 1000;
    assert.ok(seconds < 5, `${when} vs ${now.toString()}`);
  });
});

describe("Consumer", () => {
  it("runs enqueued tasks and stores their results", async () => {
    const dewey = new Dewey({ name: "c1", logger: quiet });
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const { consumer, lines } = consumerFor(dewey, { workers: 2 });
    const running = consumer.run();
    const results = await Promise.all([add(1, 2), add(3, 4), add(5, 6)]);
    const values = [];
    for (const r of results) values.push(await r.get({ blocking: true, timeout: 5 }));
    consumer.stop();
    await running;
    assert.deepEqual(values, [3, 7, 11]);
    assert.equal(consumer.tasksDone, 3);
    assert.equal(await dewey.leasedCount(), 0);
    const id = results[0].id;
    assert.ok(lines.includes(`Executing add ${id}`), lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith(`add ${id} executed in `)));
    assert.equal(lines.at(-1), "Dewey consumer stopped");
  });

  it("checks revocation with the values read with the lease, not with reads of its own", async () => {
    const reads: string[] = [];
    class CountingStorage extends MemoryStorage {
      override peekData(key: string): Promise<string | undefined> {
        reads.push(key);
        return super.peekData(key);
      }
    }
    const dewey = new Dewey({ name: "c-watch", storage: new CountingStorage(), logger: quiet });
    const echo = dewey.task("echo", (s: string) => s);
    const other = dewey.task("other", (s: string) => s);
    const revoked = await echo("revoked by id");
    await revoked.revoke();
    await other.revoke({ once: true });
    const skipped = await other("revoked by name");
    const runs = await echo("runs");
    const { consumer } = consumerFor(dewey);
    const running = consumer.run();
    assert.equal(await runs.get({ blocking: true, timeout: 5 }), "runs");
    consumer.stop();
    await running;
    assert.equal(consumer.tasksDone, 3);
    assert.equal(await revoked.get(), undefined);
    assert.equal(await skipped.get(), undefined);
    assert.equal(await dewey.isRevoked(revoked.id), false); // once: consumed by the check
    assert.equal(await other.isRevoked(), false);
    assert.deepEqual(reads.filter((key) => key.startsWith("~r")), [
      `~r:${revoked.id}`,
      "~rt:other",
    ]); // only the two isRevoked calls above
  });

  it("a due scheduled task survives an outage between the schedule read and its enqueue", async () => {
    let failures = 2;
    class FlakyEnqueue extends MemoryStorage {
      override enqueue(data: string, priority: number, watch?: string[]): Promise<void> {
        // The schedule read (which removed the entry) went through; the enqueue fails twice.
        if (failures-- > 0) return Promise.reject(new Error("connection reset"));
        return super.enqueue(data, priority, watch);
      }
    }
    const dewey = new Dewey({ name: "c-flaky", storage: new FlakyEnqueue(), logger: quiet });
    const echo = dewey.task("echo", (s: string) => s);
    const due = await echo.schedule(["due"], { delay: 0.05 });
    assert.equal(await dewey.scheduledCount(), 1);
    const { consumer, lines } = consumerFor(dewey);
    const running = consumer.run();
    assert.equal(await due.get({ blocking: true, timeout: 5 }), "due");
    consumer.stop();
    await running;
    assert.equal(failures, -1); // two failed attempts, then the enqueue
    assert.equal(await dewey.scheduledCount(), 0);
    assert.ok(lines.some((line) => line.includes("connection reset")), lines.join("\n"));
  });

  it("moves due scheduled tasks to the queue", async () => {
    const dewey = new Dewey({ name: "c2", logger: quiet });
    const echo = dewey.task("echo", (s: string) => s);
    const later = await echo.schedule(["later"], { eta: new Date(Date.now() - 1) });
    const scheduled = await echo.schedule(["scheduled"], { delay: 0.05 });
    assert.equal(await dewey.scheduledCount(), 1);
    const { consumer } = consumerFor(dewey);
    const running = consumer.run();
    assert.equal(await scheduled.get({ blocking: true, timeout: 5 }), "scheduled");
    assert.equal(await later.get({ blocking: true, timeout: 5 }), "later");
    consumer.stop();
    await running;
    assert.equal(await dewey.scheduledCount(), 0);
  });

  it("enqueues each periodic tick once across consumers sharing a storage", async () => {
    const storage = new MemoryStorage();
    const dewey = new Dewey({ name: "c3", storage, logger: quiet });
    dewey.periodicTask("five", "*/5 * * * *", () => {});
    dewey.periodicTask("seconds", "*/10 * * * * *", () => {});
    const a = consumerFor(dewey).consumer;
    const b = consumerFor(dewey).consumer;
    const tick = new Date("2026-11-22T10:05:00Z");
    assert.deepEqual(await a.enqueuePeriodic(tick), ["five", "seconds"]);
    assert.deepEqual(await b.enqueuePeriodic(tick), []);
    assert.deepEqual(await b.enqueuePeriodic(new Date("2026-11-22T10:05:10Z")), ["seconds"]);
    assert.deepEqual(await a.enqueuePeriodic(new Date("2026-11-22T10:05:10Z")), []);
    assert.deepEqual(await a.enqueuePeriodic(new Date("2026-11-22T10:05:11Z")), []);
    assert.equal(await dewey.pendingCount(), 3);
  });

  it("waits for running tasks on a graceful stop", async () => {
    const dewey = new Dewey({ name: "c4", logger: quiet });
    const started = deferred();
    const finish = deferred();
    const slow = dewey.task("slow", async () => {
      started.resolve();
      await finish.promise;
      return "finished";
    });
    const { consumer, lines } = consumerFor(dewey);
    const running = consumer.run();
    const result = await slow();
    await started.promise;
    consumer.stop();
    let stopped = false;
    running.then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(stopped, false, "the consumer must wait for the running task");
    finish.resolve();
    await running;
    assert.equal(await result.get(), "finished");
    assert.ok(lines.includes("Waiting for 1 running task(s)"));
    assert.equal(await dewey.leasedCount(), 0);
  });

  it("interrupts running tasks on a second stop and releases their leases", async () => {
    const dewey = new Dewey({ name: "c5", logger: quiet });
    const started = deferred();
    const seen: string[] = [];
    let sawAbort = false;
    const stuck = dewey.task("stuck", async (ctx: TaskContext) => {
      started.resolve();
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
      sawAbort = true;
    }, { context: true });
    dewey.signal((signal) => {
      seen.push(signal);
    }, "interrupted");
    const { consumer, lines } = consumerFor(dewey);
    const running = consumer.run();
    await stuck();
    await started.promise;
    consumer.stop();
    consumer.stop();
    await running;
    assert.deepEqual(seen, ["interrupted"]);
    assert.equal(sawAbort, true, "the task's signal aborts on a hard stop");
    assert.equal(await dewey.pendingCount(), 1, "the released task is back in the queue");
    assert.ok(lines.includes("Interrupted 1 running task(s); their leases were released"));
  });

  it("renews the lease of a task running longer than the visibility timeout", async () => {
    const dewey = new Dewey({ name: "c6", visibilityTimeout: 0.15, logger: quiet });
    let runs = 0;
    const long = dewey.task("long", async () => {
      runs += 1;
      await new Promise((r) => setTimeout(r, 400));
      return runs;
    });
    const { consumer } = consumerFor(dewey, { workers: 2 });
    const running = consumer.run();
    const result = await long();
    assert.equal(await result.get({ blocking: true, timeout: 5 }), 1);
    consumer.stop();
    await running;
    assert.equal(runs, 1, "a renewed lease is never handed to another worker");
  });

  it("logs a storage outage once and recovers", async () => {
    const storage = new MemoryStorage();
    const dewey = new Dewey({ name: "c7", storage, logger: quiet });
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const dequeueMany = storage.dequeueMany.bind(storage);
    let failures = 0;
    storage.dequeueMany = (count, visibility, now) => {
      if (failures < 5) {
        failures += 1;
        return Promise.reject(new Error("connection refused"));
      }
      return dequeueMany(count, visibility, now);
    };
    const { consumer, lines } = consumerFor(dewey);
    const running = consumer.run();
    const result = await add(2, 2);
    assert.equal(await result.get({ blocking: true, timeout: 5 }), 4);
    consumer.stop();
    await running;
    assert.equal(failures, 5);
    assert.deepEqual(lines.filter((l) => l.startsWith("Storage")), [
      "Storage unavailable, backing off: Error: connection refused",
      "Storage available again",
    ]);
  });

  it("keeps a finished task's result through a storage outage and stores it after", async () => {
    const storage = new MemoryStorage();
    const dewey = new Dewey({ name: "c7b", storage, logger: quiet });
    let runs = 0;
    const add = dewey.task("add", (a: number, b: number) => {
      runs += 1;
      return a + b;
    });
    const ack = storage.ack.bind(storage);
    let failures = 0;
    storage.ack = (lease, effects) => {
      if (failures < 4) {
        failures += 1;
        return Promise.reject(new Error("connection reset"));
      }
      return ack(lease, effects);
    };
    const { consumer, lines } = consumerFor(dewey);
    const running = consumer.run();
    const result = await add(20, 22);
    assert.equal(await result.get({ blocking: true, timeout: 5 }), 42);
    consumer.stop();
    await running;
    assert.equal(failures, 4);
    assert.equal(runs, 1, "the task ran once: its result was retried, not the task");
    assert.equal(await storage.leasedCount(), 0);
    assert.equal(await storage.queueSize(), 0);
    assert.deepEqual(lines.filter((l) => l.startsWith("Storage")), [
      "Storage unavailable, backing off: Error: connection reset",
      "Storage available again",
    ]);
  });

  it("logs a message moved to dead letter in its own log, not the instance's logger", async () => {
    const storage = new MemoryStorage();
    const warnings: unknown[] = [];
    const logger = { ...quiet, warn: (...args: unknown[]) => warnings.push(args) };
    const dewey = new Dewey({ name: "c7c", storage, logger });
    const add = dewey.task("add", (a: number, b: number) => a + b);
    await storage.enqueue("not a message", 0);
    const { consumer, lines } = consumerFor(dewey);
    const running = consumer.run();
    const result = await add(1, 1);
    assert.equal(await result.get({ blocking: true, timeout: 5 }), 2);
    consumer.stop();
    await running;
    assert.deepEqual(lines.filter((l) => l.includes("dead letter")), [
      'Message moved to dead letter: cannot decode message: unknown envelope "no"',
    ]);
    assert.deepEqual(warnings, []);
  });

  it("runs startup and shutdown hooks once per worker", async () => {
    const dewey = new Dewey({ name: "c8", logger: quiet });
    const calls: string[] = [];
    dewey.onStartup(() => {
      calls.push("startup");
    });
    dewey.onShutdown(() => {
      calls.push("shutdown");
    });
    const { consumer } = consumerFor(dewey, { workers: 2 });
    const running = consumer.run();
    consumer.stop();
    await running;
    assert.deepEqual(calls, ["startup", "startup", "shutdown", "shutdown"]);
  });

  it("flushes stale locks at start when asked", async () => {
    const dewey = new Dewey({ name: "c9", logger: quiet });
    await dewey.lock("reports").acquire();
    const { consumer, lines } = consumerFor(dewey, { extraLocks: ["other"] });
    const running = consumer.run();
    consumer.stop();
    await running;
    assert.equal(await dewey.lock("reports").isLocked(), false);
    assert.ok(lines.includes("Found stale locks: reports"));
  });

  it("writes its log to the logfile option's file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dewey-log-"));
    try {
      const file = join(dir, "consumer.log");
      const dewey = new Dewey({ name: "c12", logger: quiet });
      const consumer = new Consumer(dewey, { periodic: false, simple: true, logfile: file });
      const running = consumer.run();
      consumer.stop();
      await running;
      const lines = readFileSync(file, "utf8").trim().split("\n")
        .map((line) => line.replace(/^\d\d:\d\d:\d\d /, ""));
      assert.equal(
        lines[0],
        'Dewey consumer started: instance "c12", 1 async worker(s), periodic off',
      );
      assert.equal(lines.at(-1), "Dewey consumer stopped");
      assert.throws(
        () => new Consumer(dewey, { logfile: join(dir, "missing", "x.log") }),
        {
          name: "TypeError",
          message: `cannot write the log file ${
            join(dir, "missing", "x.log")
          }: its directory does not exist`,
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("validates its options as Huey's consumer does", () => {
    const dewey = new Dewey({ name: "c10", logger: quiet });
    assert.throws(() => new Consumer(dewey, { backoff: 0.5 }), {
      name: "RangeError",
      message: 'Invalid "backoff": must be at least 1, got 0.5',
    });
    for (const schedulerInterval of [90, 7, 45, 0]) {
      assert.throws(() => new Consumer(dewey, { schedulerInterval }), RangeError);
    }
    assert.equal(new Consumer(dewey, { schedulerInterval: 30 }).options.schedulerInterval, 30);
    assert.throws(() => new Consumer(dewey, { workers: 0 }), RangeError);
    assert.throws(() => new Consumer(dewey, { workerType: "thread" as "async" }), RangeError);
    assert.throws(() => new Consumer(dewey, { workerType: "process" }), TypeError);
    assert.throws(() => new Consumer(dewey, { verbose: true, quiet: true }), TypeError);
    assert.deepEqual(
      { ...new Consumer(dewey).options, log: undefined },
      {
        workers: 1,
        workerType: "async",
        periodic: true,
        delay: 0.1,
        maxDelay: 10,
        backoff: 1.15,
        schedulerInterval: 1,
        healthCheckInterval: 10,
        checkWorkerHealth: true,
        maxTasks: undefined,
        flushLocks: false,
        extraLocks: [],
        logfile: undefined,
        verbose: false,
        quiet: false,
        simple: false,
        utc: undefined,
        module: undefined,
        instance: undefined,
        log: undefined,
      },
    );
  });

  it("refuses to run in immediate mode, and runs only once", async () => {
    const dewey = new Dewey({ name: "c11", immediate: true, logger: quiet });
    await assert.rejects(consumerFor(dewey).consumer.run(), ConfigurationError);
    dewey.immediate = false;
    const { consumer } = consumerFor(dewey);
    const running = consumer.run();
    consumer.stop();
    await running;
    await assert.rejects(consumer.run(), TypeError);
  });
});
