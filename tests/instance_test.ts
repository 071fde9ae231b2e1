/**
 * The `Dewey` instance: registration and validation, immediate mode, the key/value and
 * inspection calls, `map`/`callLocal`, periodic tasks, message signing, `close`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ConfigurationError,
  crontab,
  DecodeError,
  Dewey,
  type DeweyOptions,
  type Logger,
  MemoryStorage,
  Result,
  ResultGroup,
  type SignalName,
  type Task,
  type TaskContext,
  TaskException,
} from "../mod.ts";

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

let instances = 0;

function setup(options: DeweyOptions = {}) {
  const dewey = new Dewey({ name: `inst-${++instances}`, logger: silent, ...options });
  const signals: SignalName[] = [];
  dewey.signal((signal) => {
    signals.push(signal);
  });
  const drain = (): SignalName[] => signals.splice(0, signals.length);
  return { dewey, drain };
}

async function next(dewey: Dewey): Promise<[Task]> {
  const [task] = await dewey.dequeue();
  assert.ok(task, "expected a task in the queue");
  return [task];
}

/** Every count of a storage, read directly (not through an instance). */
async function storageCounts(storage: MemoryStorage) {
  return {
    queue: await storage.queueSize(),
    leased: await storage.leasedCount(),
    schedule: await storage.scheduleSize(),
    results: await storage.resultCount(),
    deadLetters: (await storage.deadLetters()).length,
  };
}

async function counts(dewey: Dewey) {
  return {
    pending: await dewey.pendingCount(),
    scheduled: await dewey.scheduledCount(),
    results: await dewey.resultCount(),
    leased: await dewey.leasedCount(),
  };
}

describe("registration", () => {
  it("a duplicate task name throws ConfigurationError", () => {
    const { dewey } = setup();
    dewey.task("add", (a: number, b: number) => a + b);
    assert.throws(() => dewey.task("add", () => 0), ConfigurationError);
    assert.throws(() => dewey.periodicTask("add", "* * * * *", () => 0), ConfigurationError);
    assert.deepEqual(dewey.taskNames, ["add"]);
  });

  it("the same name in two instances is fine", () => {
    const one = setup().dewey;
    const two = setup().dewey;
    assert.equal(one.task("add", () => 1).name, "add");
    assert.equal(two.task("add", () => 2).name, "add");
  });

  it("a bad name or a non-function throws TypeError", () => {
    const { dewey } = setup();
    assert.throws(() => dewey.task("", () => 0), TypeError);
    assert.throws(() => dewey.task(42 as unknown as string, () => 0), TypeError);
    assert.throws(() => dewey.task("x", "not a function" as unknown as () => 0), TypeError);
    assert.throws(
      () => dewey.periodicTask("p", "* * * * *", null as unknown as () => 0),
      TypeError,
    );
    assert.deepEqual(dewey.taskNames, []);
  });

  it("bad option values throw RangeError; delay/eta in task options throw TypeError", () => {
    const { dewey } = setup();
    const fn = () => 0;
    assert.throws(() => dewey.task("a", fn, { retries: -1 }), RangeError);
    assert.throws(() => dewey.task("b", fn, { retries: 1.5 }), RangeError);
    assert.throws(() => dewey.task("c", fn, { timeout: NaN }), RangeError);
    assert.throws(() => dewey.task("d", fn, { retryDelay: -1 }), RangeError);
    assert.throws(() => dewey.task("e", fn, { expires: Infinity }), RangeError);
    assert.throws(() => dewey.task("f", fn, { priority: NaN }), RangeError);
    assert.throws(() => dewey.task("g", fn, { delay: 5 } as never), TypeError);
    assert.throws(() => dewey.task("h", fn, { eta: new Date() } as never), TypeError);
    // A failed registration does not take the name.
    assert.deepEqual(dewey.taskNames, []);
    assert.equal(dewey.task("a", fn, { retries: 1 }).name, "a");
  });

  it("bad per-invocation options are refused before anything is stored", async () => {
    const { dewey } = setup();
    const work = dewey.task("work", () => 0);
    await assert.rejects(async () => await work.schedule([], { retries: -1 }), RangeError);
    await assert.rejects(async () => await work.schedule([], { delay: -5 }), RangeError);
    await assert.rejects(
      async () => await work.schedule([], { eta: new Date("nope") }),
      TypeError,
    );
    await assert.rejects(async () => await work.schedule("x" as never), TypeError);
    assert.deepEqual(await counts(dewey), { pending: 0, scheduled: 0, results: 0, leased: 0 });
  });

  it("bad instance options throw", () => {
    assert.throws(() => new Dewey({ name: "has space" }), TypeError);
    assert.throws(() => new Dewey({ name: "" }), TypeError);
    assert.throws(() => new Dewey(null as unknown as DeweyOptions), TypeError);
    assert.throws(() => new Dewey({ visibilityTimeout: 0 }), RangeError);
    assert.throws(() => new Dewey({ visibilityTimeout: NaN }), RangeError);
    assert.throws(() => new Dewey({ signingKeys: [] }), TypeError);
  });

  it("defaults", () => {
    const dewey = new Dewey();
    assert.equal(dewey.name, "dewey");
    assert.equal(dewey.results, true);
    assert.equal(dewey.storeNone, false);
    assert.equal(dewey.storeIntermediateErrors, true);
    assert.equal(dewey.immediate, false);
    assert.equal(dewey.immediateUseMemory, true);
    assert.equal(dewey.utc, true);
    assert.equal(dewey.atMostOnce, false);
    assert.equal(dewey.visibilityTimeout, 30);
    assert.ok(dewey.storage instanceof MemoryStorage);
  });

  it("wrapper name and options; callLocal calls the plain function", async () => {
    const { dewey, drain } = setup();
    const add = dewey.task("add", (a: number, b: number) => a + b, { retries: 2, priority: 1 });
    assert.equal(add.name, "add");
    assert.deepEqual(add.options, { retries: 2, priority: 1 });
    assert.ok(Object.isFrozen(add.options));
    assert.equal(add.callLocal(2, 3), 5);
    const task = add.s(4, 5);
    assert.equal(task.name, "add");
    assert.deepEqual(task.args, [4, 5]);
    assert.equal(task.retries, 2);
    assert.equal(task.priority, 1);
    assert.deepEqual(drain(), []);
    assert.deepEqual(await counts(dewey), { pending: 0, scheduled: 0, results: 0, leased: 0 });
  });

  it("callLocal of a context task passes a context", () => {
    const { dewey } = setup();
    const inspect = dewey.task(
      "inspect",
      (n: number, context: TaskContext) => [n, context.name, context.timeRemaining],
      { context: true },
    );
    assert.deepEqual(inspect.callLocal(1), [1, "inspect", Infinity]);
  });
});

describe("immediate mode", () => {
  it("runs tasks at call time, with the same signals", async () => {
    const { dewey, drain } = setup({ immediate: true });
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const result = await add(1, 2);
    assert.deepEqual(drain(), ["enqueued", "executing", "complete"]);
    assert.equal(await result.get(), 3);
    assert.deepEqual(await counts(dewey), { pending: 0, scheduled: 0, results: 0, leased: 0 });
  });

  it("retries without a delay run again at once; the error is stored", async () => {
    const { dewey, drain } = setup({ immediate: true });
    let calls = 0;
    const boom = dewey.task("boom", () => {
      calls++;
      throw new Error("boom");
    }, { retries: 2 });
    const result = await boom();
    assert.equal(calls, 3);
    assert.deepEqual(drain(), [
      ...["enqueued", "executing", "error", "retrying"],
      ...["enqueued", "executing", "error", "retrying"],
      ...["enqueued", "executing", "error"],
    ]);
    await assert.rejects(result.get(), (e: unknown) => {
      assert.ok(e instanceof TaskException);
      assert.equal(e.metadata.retries, 0);
      return true;
    });
  });

  it("toggling never touches the configured storage", async () => {
    const storage = new MemoryStorage();
    const { dewey, drain } = setup({ storage });
    const add = dewey.task("add", (a: number, b: number) => a + b);
    assert.equal(dewey.storage, storage);

    // Queue mode: a message and a result in the configured storage.
    const queued = await add(5, 5);
    await dewey.put("kept", "value");
    const before = await storageCounts(storage);
    assert.deepEqual(before, { queue: 1, leased: 0, schedule: 0, results: 1, deadLetters: 0 });

    dewey.immediate = true;
    assert.equal(dewey.immediate, true);
    assert.notEqual(dewey.storage, storage);
    assert.ok(dewey.storage instanceof MemoryStorage);
    drain();
    const ran = await add(1, 2);
    assert.deepEqual(drain(), ["enqueued", "executing", "complete"]);
    assert.equal(await ran.get({ preserve: true }), 3);
    assert.equal(await dewey.resultCount(), 1); // in the private store
    assert.equal(await dewey.get("kept", { peek: true }), undefined);

    // A scheduled task goes to the private schedule and does not run.
    let delayedRuns = 0;
    const delayed = dewey.task("delayed", () => ++delayedRuns);
    const later = await delayed.schedule([], { delay: 60 });
    assert.deepEqual(drain(), ["scheduled"]);
    assert.equal(delayedRuns, 0);
    assert.equal(await dewey.scheduledCount(), 1);
    assert.equal(await later.get(), undefined);
    await delayed.schedule([], { eta: new Date(Date.now() + 60_000) });
    assert.equal(await dewey.scheduledCount(), 2);
    assert.equal(delayedRuns, 0);

    assert.deepEqual(await storageCounts(storage), before);

    dewey.immediate = false;
    assert.equal(dewey.immediate, false);
    assert.equal(dewey.storage, storage);
    assert.deepEqual(await storageCounts(storage), before);
    const [pending] = await dewey.pending();
    assert.equal(pending.id, queued.id);
    assert.deepEqual(pending.args, [5, 5]);
    assert.equal(await dewey.get("kept", { peek: true }), "value");
    assert.equal(await dewey.scheduledCount(), 0);

    // And back again: still nothing written to the configured storage.
    dewey.immediate = true;
    assert.equal(await (await add(2, 2)).get(), 4);
    dewey.immediate = false;
    assert.deepEqual(await storageCounts(storage), before);
    const [task] = await next(dewey);
    assert.equal(await dewey.execute(task), 10);
    assert.equal(await queued.get(), 10);
  });

  it("immediateUseMemory: false uses the configured storage", async () => {
    const storage = new MemoryStorage();
    const { dewey } = setup({ storage, immediate: true, immediateUseMemory: false });
    assert.equal(dewey.storage, storage);
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const result = await add(1, 2);
    assert.equal(await storage.resultCount(), 1);
    await add.schedule([1, 1], { delay: 60 });
    assert.equal(await storage.scheduleSize(), 1);
    assert.equal(await storage.queueSize(), 0);
    assert.equal(await result.get(), 3);
    assert.equal(await storage.resultCount(), 0);
    dewey.immediate = false;
    assert.equal(dewey.storage, storage);
    assert.equal(await dewey.scheduledCount(), 1);
  });
});

describe("key/value and inspection", () => {
  it("put / get (pops unless peek) / delete", async () => {
    const { dewey } = setup();
    await dewey.put("k", { a: 1, when: new Date("2026-01-01T00:00:00Z") });
    assert.deepEqual(await dewey.get("k", { peek: true }), {
      a: 1,
      when: new Date("2026-01-01T00:00:00Z"),
    });
    assert.equal(await dewey.resultCount(), 1);
    assert.deepEqual(await dewey.get("k"), { a: 1, when: new Date("2026-01-01T00:00:00Z") });
    assert.equal(await dewey.get("k"), undefined);
    assert.equal(await dewey.resultCount(), 0);

    await dewey.put("n", null);
    assert.equal(await dewey.get("n", { peek: true }), null);
    await dewey.put("n", 2); // overwrites
    assert.equal(await dewey.get("n", { peek: true }), 2);
    assert.equal(await dewey.delete("n"), true);
    assert.equal(await dewey.delete("n"), false);
    assert.equal(await dewey.get("n"), undefined);
    assert.equal(await dewey.delete("never"), false);
  });

  it("pending(), scheduled(), allResults() and the counts", async () => {
    const { dewey } = setup();
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const boom = dewey.task("boom", () => {
      throw new RangeError("nope");
    });
    const eta = new Date(Date.now() + 3_600_000);
    const first = await add(1, 2);
    const second = await add(3, 4);
    const failing = await boom();
    const later = await add.schedule([9, 9], { eta });
    const sooner = await add.schedule([8, 8], { eta: new Date(eta.getTime() - 1000) });
    assert.deepEqual(await counts(dewey), { pending: 3, scheduled: 2, results: 0, leased: 0 });
    assert.deepEqual((await dewey.pending()).map((t) => t.id), [first.id, second.id, failing.id]);
    assert.deepEqual((await dewey.pending(1)).map((t) => t.args), [[1, 2]]);
    const scheduled = await dewey.scheduled();
    assert.deepEqual(scheduled.map((t) => t.id), [sooner.id, later.id]); // soonest first
    assert.equal(scheduled[1].eta?.getTime(), eta.getTime());

    let [task] = await next(dewey);
    assert.deepEqual(await counts(dewey), { pending: 2, scheduled: 2, results: 0, leased: 1 });
    await dewey.execute(task);
    [task] = await next(dewey);
    await dewey.execute(task);
    [task] = await next(dewey);
    await dewey.execute(task);
    await dewey.put("kv", "x");
    await dewey.revokeById("some-id"); // Dewey's own record: counted, not listed
    assert.deepEqual(await counts(dewey), { pending: 0, scheduled: 2, results: 5, leased: 0 });

    const all = await dewey.allResults();
    assert.deepEqual([...all.keys()].sort(), [first.id, second.id, failing.id, "kv"].sort());
    assert.equal(all.get(first.id), 3);
    assert.equal(all.get(second.id), 7);
    assert.equal(all.get("kv"), "x");
    const failure = all.get(failing.id);
    assert.ok(failure instanceof TaskException);
    assert.equal(failure.metadata.error, "RangeError: nope");
    assert.equal(await dewey.resultCount(), 5); // allResults reads without removing
  });

  it("flush() empties only this instance's data", async () => {
    const fill = async (dewey: Dewey) => {
      const work = dewey.task("work", (n: number) => n);
      const done = await work(1);
      const [task] = await next(dewey);
      await dewey.execute(task);
      await work(2);
      await work.schedule([3], { delay: 60 });
      await dewey.put("key", "value");
      await dewey.lock("L").acquire();
      await dewey.rateLimit("rl", { limit: 5, per: 60 }).acquire();
      await dewey.storage.enqueue("garbage", 10);
      await work(4);
      const [leased] = await next(dewey); // dead-letters the garbage, leases work(2)
      assert.deepEqual(leased.args, [2]);
      assert.equal((await dewey.deadLetters()).length, 1);
      return done;
    };
    const a = setup().dewey;
    const b = setup().dewey;
    await fill(a);
    const bDone = await fill(b);
    const expected = { pending: 1, scheduled: 1, results: 3, leased: 1 };
    assert.deepEqual(await counts(a), expected);
    assert.deepEqual(await counts(b), expected);

    await a.flush();
    assert.deepEqual(await counts(a), { pending: 0, scheduled: 0, results: 0, leased: 0 });
    assert.equal(await a.lock("L").isLocked(), false);
    assert.equal(await a.rateLimit("rl", { limit: 5, per: 60 }).currentUsage(), 0);
    assert.deepEqual(await a.deadLetters(), []);
    assert.deepEqual(await a.dequeue(), []);

    assert.deepEqual(await counts(b), expected);
    assert.equal(await b.lock("L").isLocked(), true);
    assert.equal(await b.rateLimit("rl", { limit: 5, per: 60 }).currentUsage(), 1);
    assert.equal(await b.get("key", { peek: true }), "value");
    assert.equal((await b.deadLetters()).length, 1);
    assert.equal(await bDone.get(), 1);
  });
});

describe("map()", () => {
  it("enqueues one task per argument list, in order, and returns a ResultGroup", async () => {
    const { dewey, drain } = setup();
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const group = await add.map([[1, 2], [3, 4], [5, 6]]);
    assert.ok(group instanceof ResultGroup);
    assert.equal(group.length, 3);
    assert.ok([...group].every((r) => r instanceof Result));
    assert.deepEqual(drain(), ["enqueued", "enqueued", "enqueued"]);
    const pending = await dewey.pending();
    assert.deepEqual(pending.map((t) => t.args), [[1, 2], [3, 4], [5, 6]]);
    assert.deepEqual(pending.map((t) => t.id), [...group].map((r) => r.id));
    assert.equal(new Set(pending.map((t) => t.id)).size, 3);

    assert.deepEqual(await group.get(), [undefined, undefined, undefined]);
    for (;;) {
      const [task] = await dewey.dequeue();
      if (!task) break;
      await dewey.execute(task);
    }
    assert.deepEqual(await group.get(), [3, 7, 11]);
  });

  it("map([]) enqueues nothing; bad input throws TypeError", async () => {
    const { dewey } = setup();
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const group = await add.map([]);
    assert.equal(group.length, 0);
    assert.equal(await dewey.pendingCount(), 0);
    assert.throws(() => add.map([1, 2] as never), TypeError);
  });
});

describe("periodic tasks", () => {
  it("a crontab schedule is due at minute granularity", () => {
    const { dewey } = setup();
    const every5 = dewey.periodicTask("every5", crontab({ minute: "*/5" }), () => "tick");
    assert.equal(every5.name, "every5");
    const due = dewey.readPeriodic(new Date("2026-11-22T10:05:00Z"));
    assert.equal(due.length, 1);
    assert.equal(due[0].name, "every5");
    assert.deepEqual(due[0].args, []);
    assert.deepEqual(dewey.readPeriodic(new Date("2026-11-22T10:06:00Z")), []);
    assert.deepEqual(dewey.readPeriodic(new Date("2026-11-22T10:05:30Z")), []);
    assert.equal(dewey.readPeriodic(new Date("2026-11-22T10:10:00Z")).length, 1);
    // Each call gives fresh tasks.
    const again = dewey.readPeriodic(new Date("2026-11-22T10:05:00Z"));
    assert.notEqual(again[0].id, due[0].id);
    assert.equal(dewey.hasSubMinutePeriodic, false);
  });

  it("a cron string and a predicate are schedules too; plain tasks never come due", () => {
    const { dewey } = setup();
    dewey.task("plain", () => 0);
    dewey.periodicTask("hourly", "0 * * * *", () => 0);
    dewey.periodicTask("even", (date) => date.getUTCMinutes() % 2 === 0, () => 0);
    const names = (iso: string) => dewey.readPeriodic(new Date(iso)).map((t) => t.name);
    assert.deepEqual(names("2026-11-22T10:00:00Z"), ["hourly", "even"]);
    assert.deepEqual(names("2026-11-22T10:02:00Z"), ["even"]);
    assert.deepEqual(names("2026-11-22T10:03:00Z"), []);
  });

  it("a six-field cron string has second granularity", () => {
    const { dewey } = setup();
    dewey.periodicTask("tenSeconds", "*/10 * * * * *", () => "tick");
    assert.equal(dewey.hasSubMinutePeriodic, true);
    const due = dewey.readPeriodic(new Date("2026-11-22T10:06:10Z"));
    assert.deepEqual(due.map((t) => t.name), ["tenSeconds"]);
    assert.deepEqual(dewey.readPeriodic(new Date("2026-11-22T10:06:11Z")), []);
    assert.equal(dewey.readPeriodic(new Date("2026-11-22T10:06:00Z")).length, 1);
  });

  it("periodic results are never stored", async () => {
    const { dewey, drain } = setup();
    let runs = 0;
    const tick = dewey.periodicTask("tick", "* * * * *", () => ++runs);
    const boom = dewey.periodicTask("boom", "* * * * *", () => {
      throw new Error("boom");
    });
    const called = await tick(); // calling the wrapper enqueues a run now
    for (const task of dewey.readPeriodic(new Date("2026-11-22T10:00:00Z"))) {
      await dewey.enqueue(task);
    }
    assert.equal(await dewey.pendingCount(), 3);
    drain();
    for (;;) {
      const [task] = await dewey.dequeue();
      if (!task) break;
      await dewey.execute(task);
    }
    assert.equal(runs, 2);
    assert.deepEqual(drain(), [
      ...["executing", "complete"],
      ...["executing", "complete"],
      ...["executing", "error"],
    ]);
    assert.equal(await dewey.resultCount(), 0);
    assert.equal(await called.get(), undefined);
    assert.equal(boom.name, "boom");
  });

  it("a revoked periodic task is discarded at execution and stays revoked", async () => {
    const { dewey, drain } = setup();
    let runs = 0;
    const tick = dewey.periodicTask("tick", crontab(), () => ++runs);
    await tick.revoke();
    assert.equal(await tick.isRevoked(), true);
    const now = new Date("2026-11-22T10:00:00Z");
    for (let i = 0; i < 2; i++) {
      const [task] = dewey.readPeriodic(now);
      assert.equal(await dewey.execute(task, { now }), undefined);
    }
    assert.deepEqual(drain(), ["revoked", "revoked"]);
    assert.equal(runs, 0);
    assert.equal(await tick.isRevoked(), true);
    assert.equal(await tick.restore(), true);
    const [task] = dewey.readPeriodic(now);
    assert.equal(await dewey.execute(task, { now }), 1);

    await tick.revoke({ once: true });
    const [once] = dewey.readPeriodic(now);
    assert.equal(await dewey.execute(once, { now }), undefined);
    const [after] = dewey.readPeriodic(now);
    assert.equal(await dewey.execute(after, { now }), 2);
  });

  it("utc: false reads the schedule in local time", () => {
    const local = new Date(2026, 10, 22, 10, 5, 0); // 10:05 local time
    const schedule = crontab({ minute: "5", hour: "10" });
    const inLocal = setup({ utc: false }).dewey;
    inLocal.periodicTask("report", schedule, () => 0);
    assert.deepEqual(inLocal.readPeriodic(local).map((t) => t.name), ["report"]);
    assert.deepEqual(inLocal.readPeriodic(new Date(2026, 10, 22, 11, 5, 0)), []);

    const inUtc = setup().dewey;
    inUtc.periodicTask("report", schedule, () => 0);
    assert.equal(inUtc.readPeriodic(local).length, local.getUTCHours() === 10 ? 1 : 0);
    assert.equal(inUtc.readPeriodic(new Date("2026-11-22T10:05:00Z")).length, 1);
  });
});

describe("serialize / deserialize", () => {
  it("round-trips a task with rich arguments and its options", async () => {
    const { dewey } = setup();
    const work = dewey.task("work", (..._args: unknown[]) => 0);
    const then = dewey.task("then", (..._args: unknown[]) => 0);
    const args = [
      new Date("2026-11-22T10:05:00.123Z"),
      new Map<string, unknown>([["a", 1n], ["b", new Set([1, 2])]]),
      2n ** 70n,
      { nested: [1, null, "x"], big: -5n },
      undefined,
    ];
    const eta = new Date("2030-01-01T00:00:00Z");
    const task = work.s(...args).with({
      eta,
      priority: 3,
      retries: 2,
      retryDelay: 1.5,
      retryBackoff: 2,
      expires: 30,
      timeout: 4,
    }).then(then, "extra");
    const data = await dewey.serialize(task);
    assert.equal(typeof data, "string");
    const [copy] = await dewey.deserialize(data);
    assert.notEqual(copy, task);
    assert.equal(copy.id, task.id);
    assert.equal(copy.name, "work");
    assert.deepEqual(copy.args, args);
    assert.ok(copy.args[0] instanceof Date);
    assert.ok(copy.args[1] instanceof Map);
    assert.equal(copy.args[2], 2n ** 70n);
    assert.equal(copy.eta?.toISOString(), eta.toISOString());
    assert.equal(copy.priority, 3);
    assert.equal(copy.retries, 2);
    assert.equal(copy.retryDelay, 1.5);
    assert.equal(copy.retryBackoff, 2);
    assert.equal(copy.expires, 30);
    assert.equal(copy.timeout, 4);
    assert.equal(copy.onComplete?.name, "then");
    assert.deepEqual(copy.onComplete?.args, ["extra"]);
    assert.equal(copy.onComplete?.id, task.onComplete?.id);
  });

  it("refuses garbage and unknown task names with DecodeError", async () => {
    const { dewey } = setup();
    await assert.rejects(dewey.deserialize("garbage"), DecodeError);
    const other = setup().dewey;
    const foreign = other.task("foreign", () => 0);
    await assert.rejects(dewey.deserialize(await other.serialize(foreign.s())), (e: unknown) => {
      assert.ok(e instanceof DecodeError);
      assert.match(e.message, /foreign/);
      return true;
    });
  });

  it("signingKeys: other keys and unsigned readers refuse; rotation accepts", async () => {
    const make = (signingKeys?: string | string[]) => {
      const { dewey } = setup(signingKeys === undefined ? {} : { signingKeys });
      const work = dewey.task("work", (n: number) => n);
      return { dewey, work };
    };
    const a = make("key-a");
    const b = make("key-b");
    const none = make();
    const rotated = make(["key-b", "key-a"]);

    const signedA = await a.dewey.serialize(a.work.s(1));
    assert.notEqual(signedA, await none.dewey.serialize(none.work.s(1)));
    const [fromA] = await a.dewey.deserialize(signedA);
    assert.deepEqual(fromA.args, [1]);
    await assert.rejects(b.dewey.deserialize(signedA), DecodeError);
    await assert.rejects(none.dewey.deserialize(signedA), DecodeError);
    const [rotatedRead] = await rotated.dewey.deserialize(signedA);
    assert.deepEqual(rotatedRead.args, [1]);

    // The rotated instance signs with its first key: B reads it, A does not.
    const signedB = await rotated.dewey.serialize(rotated.work.s(2));
    assert.deepEqual((await b.dewey.deserialize(signedB))[0].args, [2]);
    await assert.rejects(a.dewey.deserialize(signedB), DecodeError);

    // An unsigned message is refused by a signing instance.
    const unsigned = await none.dewey.serialize(none.work.s(3));
    await assert.rejects(a.dewey.deserialize(unsigned), DecodeError);

    // A tampered message is refused.
    const tampered = signedA.slice(0, -2) + (signedA.endsWith("1") ? "2" : "1") + signedA.slice(-1);
    await assert.rejects(a.dewey.deserialize(tampered), DecodeError);

    // Through the queue: a message with the wrong signature goes to dead letter.
    await b.dewey.storage.enqueue(signedA, 0);
    assert.deepEqual(await b.dewey.dequeue(), []);
    const [letter] = await b.dewey.deadLetters();
    assert.equal(letter.data, signedA);
    assert.match(letter.reason, /signature/);
  });

  it("a signing instance runs its own tasks end to end", async () => {
    const { dewey } = setup({ signingKeys: "secret" });
    const add = dewey.task("add", (x: number, y: number) => x + y);
    const result = await add(20, 22);
    const [task] = await next(dewey);
    assert.equal(await dewey.execute(task), 42);
    assert.equal(await result.get(), 42);
  });
});

describe("close()", () => {
  it("resolves", async () => {
    const storage = new MemoryStorage();
    const dewey = new Dewey({ name: "closing", storage, logger: silent });
    dewey.task("work", () => 0);
    assert.equal(await dewey.close(), undefined);
    assert.equal(await new Dewey().close(), undefined);
  });
});
