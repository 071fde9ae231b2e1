/**
 * The executor's semantics (HUEY-SEMANTICS §4.2–4.5, §4.15), driven deterministically
 * through a queue-mode instance: `dequeue()` / `execute(task, { now })` /
 * `readSchedule(now)`, as Huey's own tests do.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  CancelExecution,
  Dewey,
  type DeweyOptions,
  type Logger,
  RetryTask,
  Signal,
  type SignalName,
  type Task,
  type TaskContext,
  TaskException,
} from "../mod.ts";

/** A logger that records errors and warnings and prints nothing. */
function recordingLogger(): Logger & { errors: unknown[][]; warnings: unknown[][] } {
  const errors: unknown[][] = [];
  const warnings: unknown[][] = [];
  return {
    errors,
    warnings,
    debug() {},
    info() {},
    warn(...data: unknown[]) {
      warnings.push(data);
    },
    error(...data: unknown[]) {
      errors.push(data);
    },
  };
}

let instances = 0;

/** A queue-mode instance on a fresh MemoryStorage, with every signal recorded. */
function setup(options: DeweyOptions = {}) {
  const logger = recordingLogger();
  const dewey = new Dewey({ name: `exec-${++instances}`, logger, ...options });
  const signals: SignalName[] = [];
  const errors: unknown[] = [];
  dewey.signal((signal, _task, error) => {
    signals.push(signal);
    if (signal === Signal.ERROR) errors.push(error);
  });
  /** Returns the signals recorded since the last call. */
  const drain = (): SignalName[] => signals.splice(0, signals.length);
  return { dewey, signals, drain, errors, logger };
}

/** Leases the next task; fails the test when the queue is empty. */
async function next(dewey: Dewey): Promise<[Task]> {
  const [task] = await dewey.dequeue();
  assert.ok(task, "expected a task in the queue");
  return [task];
}

/** The `TaskException` a stored error result throws (read without removing it). */
async function storedError(dewey: Dewey, id: string): Promise<TaskException> {
  try {
    const value = await dewey.result(id, { preserve: true });
    assert.fail(`expected an error result, got ${String(value)}`);
  } catch (error) {
    assert.ok(error instanceof TaskException, `expected TaskException, got ${String(error)}`);
    return error;
  }
}

const T0 = new Date("2030-01-01T00:00:00.000Z");
const at = (ms: number): Date => new Date(T0.getTime() + ms);

describe("success", () => {
  it("stores the value; get() pops it and the handle caches it", async () => {
    const { dewey, drain } = setup();
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const result = await add(1, 2);
    assert.deepEqual(drain(), ["enqueued"]);
    assert.equal(await result.get(), undefined);
    assert.equal(await result.isReady(), false);

    const [task] = await next(dewey);
    assert.equal(task.id, result.id);
    assert.equal(await dewey.execute(task), 3);
    assert.deepEqual(drain(), ["executing", "complete"]);
    assert.equal(await result.isReady(), true);
    assert.equal(await dewey.resultCount(), 1);

    assert.equal(await result.get(), 3);
    assert.equal(await dewey.resultCount(), 0);
    assert.equal(await dewey.result(result.id), undefined); // popped
    assert.equal(await result.get(), 3); // cached on the handle
    assert.equal(await result.isReady(), true);
  });

  it("preserve reads without removing", async () => {
    const { dewey } = setup();
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const result = await add(2, 3);
    const [task] = await next(dewey);
    await dewey.execute(task);
    assert.equal(await dewey.result(result.id, { preserve: true }), 5);
    assert.equal(await dewey.result(result.id, { preserve: true }), 5);
    assert.equal(await result.get({ preserve: true }), 5);
    assert.equal(await dewey.resultCount(), 1);
    assert.equal(await dewey.result(result.id), 5);
    assert.equal(await dewey.result(result.id), undefined);
  });

  it("reset() forgets the cached value so a new run is seen", async () => {
    const { dewey } = setup();
    let runs = 0;
    const count = dewey.task("count", () => ++runs);
    const result = await count();
    const [task] = await next(dewey);
    assert.equal(await dewey.execute(task), 1);
    assert.equal(await result.get(), 1);
    assert.equal(await dewey.execute(task), 2); // a second run stores a new value
    assert.equal(await result.get(), 1); // still the cached one
    result.reset();
    assert.equal(await result.get(), 2);
    result.reset();
    assert.equal(await result.get(), undefined); // popped by the previous get
  });

  it("an async task's value is awaited and stored", async () => {
    const { dewey } = setup();
    const later = dewey.task("later", async (n: number) => {
      await Promise.resolve();
      return { n, list: [n, n * 2] };
    });
    const result = await later(4);
    const [task] = await next(dewey);
    assert.deepEqual(await dewey.execute(task), { n: 4, list: [4, 8] });
    assert.deepEqual(await result.get(), { n: 4, list: [4, 8] });
  });
});

describe("retries", () => {
  it("a failing task with retries: 2 is retried under the same id, then fails for good", async () => {
    const { dewey, drain, errors } = setup();
    let calls = 0;
    const boom = dewey.task("boom", () => {
      calls++;
      throw new TypeError("boom");
    }, { retries: 2 });
    const result = await boom();
    assert.deepEqual(drain(), ["enqueued"]);

    const seenRetries: number[] = [];
    const storedRetries: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const [task] = await next(dewey);
      assert.equal(task.id, result.id);
      seenRetries.push(task.retries);
      assert.equal(await dewey.execute(task), undefined);
      assert.deepEqual(
        drain(),
        attempt < 2 ? ["executing", "error", "retrying", "enqueued"] : ["executing", "error"],
      );
      const exception = await storedError(dewey, result.id);
      storedRetries.push(exception.metadata.retries);
    }
    assert.equal(calls, 3);
    assert.deepEqual(seenRetries, [2, 1, 0]);
    assert.deepEqual(storedRetries, [2, 1, 0]);
    assert.equal(await dewey.pendingCount(), 0);
    assert.equal(await dewey.scheduledCount(), 0);
    assert.equal(errors.length, 3);
    assert.ok(errors.every((e) => e instanceof TypeError && e.message === "boom"));
  });

  it("the error metadata has exact fields", async () => {
    const { dewey } = setup();
    const boom = dewey.task("boom", () => {
      throw new TypeError("boom");
    }, { retries: 2 });
    const result = await boom();
    const [task] = await next(dewey);
    await dewey.execute(task);
    const exception = await storedError(dewey, result.id);
    const { stack, ...rest } = exception.metadata;
    assert.deepEqual(rest, {
      error: "TypeError: boom",
      name: "TypeError",
      message: "boom",
      taskId: result.id,
      retries: 2,
    });
    assert.equal(typeof stack, "string");
    assert.match(stack!, /boom/);
    assert.equal(exception.message, "TypeError: boom");

    // get() throws it, on every call (the failure is cached too).
    await assert.rejects(result.get(), TaskException);
    await assert.rejects(result.get(), (e: unknown) => {
      assert.ok(e instanceof TaskException);
      assert.equal(e.metadata.error, "TypeError: boom");
      return true;
    });
  });

  it("a non-Error throw is stored with String(value)", async () => {
    const { dewey } = setup();
    const odd = dewey.task("odd", () => {
      throw "plain string";
    });
    const result = await odd();
    const [task] = await next(dewey);
    await dewey.execute(task);
    const { metadata } = await storedError(dewey, result.id);
    assert.equal(metadata.error, "plain string");
    assert.equal(metadata.name, "Error");
    assert.equal(metadata.message, "plain string");
    assert.equal(metadata.retries, 0);
  });

  it("storeIntermediateErrors: false stores only the final failure", async () => {
    const { dewey } = setup({ storeIntermediateErrors: false });
    const boom = dewey.task("boom", () => {
      throw new TypeError("boom");
    }, { retries: 2 });
    const result = await boom();
    for (let attempt = 0; attempt < 2; attempt++) {
      const [task] = await next(dewey);
      await dewey.execute(task);
      assert.equal(await dewey.result(result.id, { preserve: true }), undefined);
      assert.equal(await dewey.resultCount(), 0);
    }
    const [task] = await next(dewey);
    await dewey.execute(task);
    const { metadata } = await storedError(dewey, result.id);
    assert.equal(metadata.retries, 0);
    assert.equal(metadata.error, "TypeError: boom");
    assert.equal(await dewey.pendingCount(), 0);
  });

  it("a retry that succeeds replaces the stored error", async () => {
    const { dewey, drain } = setup();
    let calls = 0;
    const flaky = dewey.task("flaky", () => {
      if (++calls === 1) throw new Error("first");
      return "second";
    }, { retries: 1 });
    const result = await flaky();
    let [task] = await next(dewey);
    await dewey.execute(task);
    await assert.rejects(result.get({ preserve: true }), TaskException);
    result.reset();
    [task] = await next(dewey);
    drain();
    assert.equal(await dewey.execute(task), "second");
    assert.deepEqual(drain(), ["executing", "complete"]);
    assert.equal(await result.get(), "second");
  });

  it("retryDelay and retryBackoff: waits of 2, 4 and 8 s", async () => {
    const { dewey, drain } = setup();
    const boom = dewey.task("boom", () => {
      throw new Error("boom");
    }, { retries: 3, retryDelay: 2, retryBackoff: 2 });
    const result = await boom();
    let [task] = await next(dewey);
    drain();

    let now = T0;
    const expected = [
      { wait: 2000, retryDelay: 4, retries: 2 },
      { wait: 4000, retryDelay: 8, retries: 1 },
      { wait: 8000, retryDelay: 16, retries: 0 },
    ];
    for (const step of expected) {
      assert.equal(await dewey.execute(task, { now }), undefined);
      assert.deepEqual(drain(), ["executing", "error", "retrying", "scheduled"]);
      assert.equal(await dewey.pendingCount(), 0);
      const scheduled = await dewey.scheduled();
      assert.equal(scheduled.length, 1);
      const [retry] = scheduled;
      assert.equal(retry.id, result.id);
      assert.equal(retry.eta?.toISOString(), new Date(now.getTime() + step.wait).toISOString());
      assert.equal(retry.retryDelay, step.retryDelay);
      assert.equal(retry.retries, step.retries);
      assert.equal(retry.retryBackoff, 2);

      const eta = now.getTime() + step.wait;
      assert.deepEqual(await dewey.readSchedule(new Date(eta - 1)), []);
      assert.equal(await dewey.scheduledCount(), 1);
      const due = await dewey.readSchedule(new Date(eta));
      assert.equal(due.length, 1);
      assert.equal(await dewey.scheduledCount(), 0);
      [task] = due as [Task];
      assert.equal(task.id, result.id);
      assert.equal(dewey.readyToRun(task, new Date(eta - 1)), false);
      assert.equal(dewey.readyToRun(task, new Date(eta)), true);
      now = new Date(eta);
    }
    // The last attempt fails for good.
    assert.equal(await dewey.execute(task, { now }), undefined);
    assert.deepEqual(drain(), ["executing", "error"]);
    assert.equal(await dewey.scheduledCount(), 0);
    assert.equal(await dewey.pendingCount(), 0);
    assert.equal((await storedError(dewey, result.id)).metadata.retries, 0);
  });

  it("per-invocation retries and retryDelay override the task's", async () => {
    const { dewey, drain } = setup();
    const boom = dewey.task("boom", () => {
      throw new Error("boom");
    }, { retries: 5, retryDelay: 100 });
    await boom.schedule([], { retries: 1, retryDelay: 3 });
    const [task] = await next(dewey);
    assert.equal(task.retries, 1);
    drain();
    await dewey.execute(task, { now: T0 });
    assert.deepEqual(drain(), ["executing", "error", "retrying", "scheduled"]);
    const [retry] = await dewey.scheduled();
    assert.equal(retry.eta?.getTime(), T0.getTime() + 3000);
    assert.equal(retry.retries, 0);
    assert.equal(retry.retryDelay, 3); // no backoff
  });
});

describe("RetryTask", () => {
  it("retries a task with retries 0 after the given delay, without consuming retries", async () => {
    const { dewey, drain } = setup();
    let calls = 0;
    const poll = dewey.task("poll", () => {
      if (++calls === 1) throw new RetryTask({ delay: 5 });
      return "done";
    });
    const result = await poll();
    const [task] = await next(dewey);
    drain();
    assert.equal(await dewey.execute(task, { now: T0 }), undefined);
    assert.deepEqual(drain(), ["executing", "retrying", "scheduled"]);
    assert.equal(await dewey.pendingCount(), 0);
    const [retry] = await dewey.scheduled();
    assert.equal(retry.id, result.id);
    assert.equal(retry.eta?.getTime(), T0.getTime() + 5000);
    assert.equal(retry.retries, 0);
    // As Huey, the RetryTask is recorded; its retries count the non-consumed retry.
    const { metadata } = await storedError(dewey, result.id);
    assert.equal(metadata.name, "RetryTask");
    assert.equal(metadata.retries, 1);

    assert.deepEqual(await dewey.readSchedule(at(4999)), []);
    const [due] = await dewey.readSchedule(at(5000));
    assert.ok(due);
    assert.equal(await dewey.execute(due, { now: at(5000) }), "done");
    assert.deepEqual(drain(), ["executing", "complete"]);
    assert.equal(await result.get(), "done");
  });

  it("RetryTask({ eta }) schedules at that instant and leaves retries alone", async () => {
    const { dewey, drain } = setup();
    const eta = new Date("2030-06-01T12:00:00.000Z");
    const poll = dewey.task("poll", () => {
      throw new RetryTask({ eta });
    }, { retries: 2, retryDelay: 60 });
    await poll();
    const [task] = await next(dewey);
    drain();
    await dewey.execute(task, { now: T0 });
    assert.deepEqual(drain(), ["executing", "retrying", "scheduled"]);
    const [retry] = await dewey.scheduled();
    assert.equal(retry.eta?.toISOString(), eta.toISOString());
    assert.equal(retry.retries, 2);
    assert.equal(retry.retryDelay, 60);
  });

  it("RetryTask() without delay or eta uses the task's retryDelay", async () => {
    const { dewey, drain } = setup();
    const poll = dewey.task("poll", () => {
      throw new RetryTask();
    }, { retryDelay: 7 });
    await poll();
    const [task] = await next(dewey);
    drain();
    await dewey.execute(task, { now: T0 });
    assert.deepEqual(drain(), ["executing", "retrying", "scheduled"]);
    const [retry] = await dewey.scheduled();
    assert.equal(retry.eta?.getTime(), T0.getTime() + 7000);
    assert.equal(retry.retries, 0);
  });
});

describe("CancelExecution", () => {
  const cases: {
    retry: boolean | undefined;
    retries: number;
    retried: boolean;
    left?: number;
  }[] = [
    { retry: true, retries: 0, retried: true, left: 0 },
    { retry: true, retries: 2, retried: true, left: 1 },
    { retry: false, retries: 0, retried: false },
    { retry: false, retries: 2, retried: false },
    { retry: undefined, retries: 0, retried: false },
    { retry: undefined, retries: 2, retried: true, left: 1 },
  ];
  for (const { retry, retries, retried, left } of cases) {
    it(`thrown by the task with retry ${retry} and retries ${retries}`, async () => {
      const { dewey, drain } = setup();
      const cancel = dewey.task("cancel", () => {
        throw new CancelExecution(retry === undefined ? {} : { retry });
      }, { retries });
      const result = await cancel();
      const [task] = await next(dewey);
      drain();
      assert.equal(await dewey.execute(task), undefined);
      assert.deepEqual(
        drain(),
        retried ? ["executing", "canceled", "retrying", "enqueued"] : ["executing", "canceled"],
      );
      assert.equal(await dewey.pendingCount(), retried ? 1 : 0);
      if (retried) {
        const [again] = await next(dewey);
        assert.equal(again.id, result.id);
        assert.equal(again.retries, left);
      }
      const { metadata } = await storedError(dewey, result.id);
      assert.equal(metadata.name, "CancelExecution");
      assert.equal(metadata.error, "CancelExecution: execution canceled");
    });
  }

  it("thrown by a pre-execute hook: canceled, nothing stored, no post hook", async () => {
    const { dewey, drain } = setup();
    let calls = 0;
    const posts: string[] = [];
    const work = dewey.task("work", () => ++calls, { retries: 3 });
    dewey.preExecute(() => {
      throw new CancelExecution({ retry: true });
    });
    dewey.postExecute((task) => {
      posts.push(task.id);
    });
    const result = await work();
    const [task] = await next(dewey);
    drain();
    assert.equal(await dewey.execute(task), undefined);
    assert.deepEqual(drain(), ["executing", "canceled"]);
    assert.equal(calls, 0);
    assert.deepEqual(posts, []);
    assert.equal(await dewey.resultCount(), 0);
    assert.equal(await result.isReady(), false);
    assert.equal(await dewey.pendingCount(), 0);
    assert.equal(await dewey.scheduledCount(), 0);
  });
});

describe("expiry", () => {
  it("relative expires is resolved at enqueue time: runs at the deadline, not 1 ms after", async () => {
    const { dewey, drain } = setup();
    const work = dewey.task("work", (n: number) => n, { expires: 10 });
    const before = Date.now();
    const first = await work(1);
    const second = await work(2);
    const after = Date.now();
    const [one] = await next(dewey);
    const [two] = await next(dewey);
    assert.equal(one.expires, 10); // kept as given
    drain();

    // The deadline is between before+10 s and after+10 s (equal when no ms ticked).
    assert.equal(await dewey.execute(two, { now: new Date(after + 10_000 + 1) }), undefined);
    assert.deepEqual(drain(), ["expired"]);
    assert.equal(await second.isReady(), false);

    assert.equal(await dewey.execute(one, { now: new Date(before + 10_000) }), 1);
    assert.deepEqual(drain(), ["executing", "complete"]);
    assert.equal(await first.get(), 1);
  });

  it("a Date expires is absolute", async () => {
    const { dewey, drain } = setup();
    const deadline = new Date("2030-01-01T00:00:10.000Z");
    const work = dewey.task("work", (n: number) => n);
    await work.schedule([1], { expires: deadline });
    await work.schedule([2], { expires: deadline });
    const [one] = await next(dewey);
    const [two] = await next(dewey);
    assert.ok(one.expires instanceof Date);
    assert.equal((one.expires as Date).toISOString(), deadline.toISOString());
    drain();
    assert.equal(await dewey.execute(one, { now: deadline }), 1);
    assert.deepEqual(drain(), ["executing", "complete"]);
    assert.equal(await dewey.execute(two, { now: new Date(deadline.getTime() + 1) }), undefined);
    assert.deepEqual(drain(), ["expired"]);
    assert.equal(await dewey.resultCount(), 1);
  });

  it("a relative expiry is resolved again when a retry is queued", async () => {
    const { dewey, drain } = setup();
    let calls = 0;
    const flaky = dewey.task("flaky", () => {
      if (++calls === 1) throw new Error("first");
      return "ok";
    }, { retries: 1, expires: 10 });
    const before = Date.now();
    const result = await flaky();
    const [task] = await next(dewey);
    // Fail 5 s after the enqueue: the retry's deadline is counted from then.
    const failedAt = new Date(before + 5_000);
    await dewey.execute(task, { now: failedAt });
    const [retry] = await next(dewey);
    assert.equal(retry.id, result.id);
    drain();
    const deadline = failedAt.getTime() + 10_000;
    assert.equal(await dewey.execute(retry, { now: new Date(deadline + 1) }), undefined);
    assert.deepEqual(drain(), ["expired"]);
    // At the new deadline (past the original one) it still runs.
    assert.equal(await dewey.execute(retry, { now: new Date(deadline) }), "ok");
    assert.deepEqual(drain(), ["executing", "complete"]);
  });

  it("expires: 0 is a deadline of now (Dewey keeps 0 as a value)", async () => {
    const { dewey, drain } = setup();
    const work = dewey.task("work", () => "ran");
    const before = Date.now();
    await work.schedule([], { expires: 0 });
    const after = Date.now();
    const [task] = await next(dewey);
    drain();
    assert.equal(await dewey.execute(task, { now: new Date(after + 1) }), undefined);
    assert.deepEqual(drain(), ["expired"]);
    assert.equal(await dewey.execute(task, { now: new Date(before) }), "ran");
  });
});

describe("eta", () => {
  it("execute() of a task whose eta is in the future puts it back in the schedule", async () => {
    const { dewey, drain } = setup();
    const work = dewey.task("work", () => "ran");
    const eta = new Date(Date.now() + 3_600_000);
    const result = await work.schedule([], { eta });
    assert.deepEqual(drain(), ["scheduled"]);
    const [task] = await dewey.readSchedule(eta);
    assert.ok(task);
    assert.equal(task.eta?.getTime(), eta.getTime());
    assert.equal(dewey.readyToRun(task, new Date(eta.getTime() - 1)), false);

    assert.equal(await dewey.execute(task, { now: new Date(eta.getTime() - 1) }), undefined);
    assert.deepEqual(drain(), ["scheduled"]);
    assert.equal(await dewey.scheduledCount(), 1);
    assert.equal(await result.isReady(), false);

    const [due] = await dewey.readSchedule(eta);
    assert.ok(due);
    assert.equal(await dewey.execute(due, { now: eta }), "ran");
    assert.deepEqual(drain(), ["executing", "complete"]);
    assert.equal(await result.get(), "ran");
  });

  it("schedule({ delay }) writes straight to the schedule and signals before resolving", async () => {
    const { dewey, drain } = setup();
    const work = dewey.task("work", (n: number) => n);
    const before = Date.now();
    const result = await work.schedule([1], { delay: 60 });
    const after = Date.now();
    assert.deepEqual(drain(), ["scheduled"]);
    assert.equal(await dewey.pendingCount(), 0);
    assert.equal(await dewey.scheduledCount(), 1);
    const [task] = await dewey.scheduled();
    assert.equal(task.id, result.id);
    const eta = task.eta!.getTime();
    assert.ok(eta >= before + 60_000 && eta <= after + 60_000);
    assert.deepEqual(await dewey.readSchedule(new Date(before + 60_000 - 1)), []);
    assert.equal((await dewey.readSchedule(new Date(after + 60_000))).length, 1);
  });

  it("an eta in the past enqueues normally", async () => {
    const { dewey, drain } = setup();
    const work = dewey.task("work", () => "ran");
    await work.schedule([], { eta: new Date(Date.now() - 1000) });
    assert.deepEqual(drain(), ["enqueued"]);
    assert.equal(await dewey.pendingCount(), 1);
    assert.equal(await dewey.scheduledCount(), 0);
    const [task] = await next(dewey);
    assert.equal(await dewey.execute(task), "ran");
  });

  it("delay and eta together throw TypeError", async () => {
    const { dewey } = setup();
    const work = dewey.task("work", () => "ran");
    await assert.rejects(
      async () => await work.schedule([], { delay: 1, eta: new Date() }),
      TypeError,
    );
    assert.throws(() => work.s().with({ delay: 1, eta: new Date() }), TypeError);
    assert.equal(await dewey.pendingCount(), 0);
    assert.equal(await dewey.scheduledCount(), 0);
  });
});

describe("priority", () => {
  it("larger priority first, FIFO among equals (schedule)", async () => {
    const { dewey } = setup();
    const work = dewey.task("work", (n: number) => n);
    const priorities = [0, 5, 0, 10, 5];
    for (const [index, priority] of priorities.entries()) {
      await work.schedule([index], { priority });
    }
    assert.deepEqual((await dewey.pending()).map((t) => t.args[0]), [3, 1, 4, 0, 2]);
    const order: unknown[] = [];
    for (;;) {
      const [task] = await dewey.dequeue();
      if (!task) break;
      order.push(await dewey.execute(task));
    }
    assert.deepEqual(order, [3, 1, 4, 0, 2]);
  });

  it("larger priority first, FIFO among equals (.with and a task default)", async () => {
    const { dewey } = setup();
    const work = dewey.task("work", (n: number) => n, { priority: 5 });
    const priorities = [0, undefined, 0, 10, undefined]; // undefined: the default 5
    for (const [index, priority] of priorities.entries()) {
      const task = work.s(index);
      if (priority !== undefined) task.with({ priority });
      await dewey.enqueue(task);
    }
    const order: unknown[] = [];
    for (;;) {
      const [task] = await dewey.dequeue();
      if (!task) break;
      order.push(task.args[0]);
      await dewey.execute(task);
    }
    assert.deepEqual(order, [3, 1, 4, 0, 2]);
  });
});

describe("readSchedule", () => {
  it("an entry whose decoding throws (not a DecodeError) goes back to the schedule", async () => {
    const { dewey, logger } = setup();
    const echo = dewey.task("echo", (s: string) => s);
    await echo.schedule(["a"], { eta: at(1000) });
    await echo.schedule(["b"], { eta: at(2000) });
    const deserialize = dewey.deserialize.bind(dewey);
    let calls = 0;
    dewey.deserialize = (data: string) => {
      if (++calls === 1) return Promise.reject(new Error("signer unavailable"));
      return deserialize(data);
    };
    const first = await dewey.readSchedule(at(5000));
    assert.deepEqual(first.map((task) => task.args), [["b"]]);
    assert.equal(await dewey.scheduledCount(), 1);
    assert.equal(logger.errors.length, 1);
    const again = await dewey.readSchedule(at(5000));
    assert.deepEqual(again.map((task) => task.args), [["a"]]);
    assert.equal(await dewey.scheduledCount(), 0);
  });
});

describe("revocation", () => {
  it("Result.revoke() discards one run, then a re-run executes", async () => {
    const { dewey, drain } = setup();
    let calls = 0;
    const work = dewey.task("work", () => ++calls);
    const result = await work();
    await result.revoke();
    assert.equal(await result.isRevoked(), true);
    assert.equal(await dewey.isRevoked(result.id), true);
    const [task] = await next(dewey);
    drain();
    assert.equal(await dewey.execute(task), undefined);
    assert.deepEqual(drain(), ["revoked"]);
    assert.equal(calls, 0);
    assert.equal(await result.isRevoked(), false); // once: consumed
    assert.equal(await dewey.execute(task), 1);
    assert.deepEqual(drain(), ["executing", "complete"]);
    assert.equal(await result.get(), 1);
  });

  it("a revoke between dequeue() and execute() applies (checked at execution)", async () => {
    // MemoryStorage reads the revocation keys with the lease; a task dequeued by hand may
    // run later, so its check reads them again when it executes.
    const { dewey, drain } = setup();
    const work = dewey.task("work", () => "ran");
    const byId = await work();
    await work();
    const [first] = await next(dewey);
    const [second] = await next(dewey);
    await byId.revoke();
    await work.revoke({ once: true });
    drain();
    assert.equal(await dewey.execute(first), undefined);
    assert.equal(await dewey.execute(second), undefined);
    assert.deepEqual(drain(), ["revoked", "revoked"]);
  });

  it("Result.restore() undoes a revoke", async () => {
    const { dewey } = setup();
    const work = dewey.task("work", () => "ran");
    const result = await work();
    await result.revoke();
    assert.equal(await result.restore(), true);
    assert.equal(await result.restore(), false);
    const [task] = await next(dewey);
    assert.equal(await dewey.execute(task), "ran");
  });

  it("wrapper.revoke() discards every run until restore()", async () => {
    const { dewey, drain } = setup();
    let calls = 0;
    const work = dewey.task("work", () => ++calls);
    const other = dewey.task("other", () => "other");
    await work.revoke();
    assert.equal(await work.isRevoked(), true);
    assert.equal(await other.isRevoked(), false);
    await work();
    await work();
    await other();
    drain();
    for (let i = 0; i < 3; i++) {
      const [task] = await next(dewey);
      await dewey.execute(task);
    }
    assert.deepEqual(drain(), ["revoked", "revoked", "executing", "complete"]);
    assert.equal(calls, 0);
    assert.equal(await work.isRevoked(), true); // not once
    assert.equal(await work.restore(), true);
    assert.equal(await work.restore(), false);
    assert.equal(await work.isRevoked(), false);
    const result = await work();
    const [task] = await next(dewey);
    assert.equal(await dewey.execute(task), 1);
    assert.equal(await result.get(), 1);
  });

  it("wrapper.revoke({ once: true }) discards only the next run", async () => {
    const { dewey, drain } = setup();
    const work = dewey.task("work", () => "ran");
    await work.revoke({ once: true });
    await work();
    await work();
    drain();
    for (let i = 0; i < 2; i++) {
      const [task] = await next(dewey);
      await dewey.execute(task);
    }
    assert.deepEqual(drain(), ["revoked", "executing", "complete"]);
  });

  it("revoke({ until }) applies before `until` and is cleared at it", async () => {
    const { dewey, drain } = setup();
    const work = dewey.task("work", () => "ran");
    const until = at(60_000);
    await work.revoke({ until });
    assert.equal(await work.isRevoked(at(59_999)), true);
    assert.equal(await work.isRevoked(until), false);
    await work();
    const [task] = await next(dewey);
    drain();
    assert.equal(await dewey.execute(task, { now: at(59_999) }), undefined);
    assert.deepEqual(drain(), ["revoked"]);
    assert.equal(await dewey.execute(task, { now: until }), "ran");
    assert.deepEqual(drain(), ["executing", "complete"]);
    // Cleared at the first check past it: an earlier time now runs too (as Huey).
    assert.equal(await work.isRevoked(at(0)), false);
    assert.equal(await dewey.execute(task, { now: at(0) }), "ran");
  });

  it("revokeById({ until }) on one invocation", async () => {
    const { dewey, drain } = setup();
    const work = dewey.task("work", () => "ran");
    const result = await work();
    await dewey.revokeById(result.id, { until: at(1000) });
    assert.equal(await dewey.isRevoked(result.id, at(999)), true);
    assert.equal(await dewey.isRevoked(result.id, at(1000)), false);
    const [task] = await next(dewey);
    drain();
    assert.equal(await dewey.execute(task, { now: at(999) }), undefined);
    assert.equal(await dewey.execute(task, { now: at(1000) }), "ran");
    assert.deepEqual(drain(), ["revoked", "executing", "complete"]);
  });

  it("isRevoked on an id, a task and a wrapper (a bare id does not see a task revoke)", async () => {
    const { dewey } = setup();
    const work = dewey.task("work", () => "ran");
    const result = await work();
    const [task] = await dewey.pending();
    await work.revoke();
    assert.equal(await dewey.isRevoked(result.id), false);
    assert.equal(await dewey.isRevoked(task), true);
    assert.equal(await dewey.isRevoked(result), true);
    assert.equal(await dewey.isRevoked(work), true);
    assert.equal(await work.isRevoked(), true);
    await work.restore();
    await dewey.revokeById(result.id);
    assert.equal(await dewey.isRevoked(result.id), true);
    assert.equal(await dewey.isRevoked(task), true);
    assert.equal(await dewey.isRevoked(work), false);
    assert.equal(await work.isRevoked(), false);
  });

  it("revokeAll / restoreAll / revokeById / restoreById", async () => {
    const { dewey, drain } = setup();
    const work = dewey.task("work", () => "ran");
    assert.equal(await dewey.restoreAll("work"), false);
    await dewey.revokeAll("work");
    assert.equal(await work.isRevoked(), true);
    assert.equal(await dewey.restoreAll("work"), true);
    assert.equal(await dewey.restoreAll("work"), false);
    assert.equal(await work.isRevoked(), false);

    const result = await work();
    assert.equal(await dewey.restoreById(result.id), false);
    await dewey.revokeById(result.id);
    assert.equal(await dewey.isRevoked(result.id), true);
    // revokeById is not once by default: two runs are discarded.
    const [task] = await next(dewey);
    drain();
    await dewey.execute(task);
    await dewey.execute(task);
    assert.deepEqual(drain(), ["revoked", "revoked"]);
    assert.equal(await dewey.restoreById(result.id), true);
    assert.equal(await dewey.restoreById(result.id), false);
    assert.equal(await dewey.execute(task), "ran");
  });

  it("a revoked scheduled task whose eta is not due goes back to the schedule", async () => {
    const { dewey, drain } = setup();
    const work = dewey.task("work", () => "ran");
    const result = await work.schedule([], { eta: at(10_000) });
    await result.revoke();
    const [task] = await dewey.readSchedule(at(10_000));
    assert.ok(task);
    drain();
    await dewey.execute(task, { now: at(0) });
    assert.deepEqual(drain(), ["scheduled"]);
    assert.equal(await result.isRevoked(), true); // not consumed by the eta check
  });
});

describe("signals", () => {
  it("success: enqueued before the call resolves, then executing, complete", async () => {
    const { dewey, drain } = setup();
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const seenInComplete: unknown[] = [];
    dewey.signal(async (_signal, task) => {
      seenInComplete.push(await dewey.result(task.id, { preserve: true }));
    }, Signal.COMPLETE);
    const result = await add(1, 2);
    assert.deepEqual(drain(), ["enqueued"]);
    const [task] = await next(dewey);
    await dewey.execute(task);
    assert.deepEqual(drain(), ["executing", "complete"]);
    assert.deepEqual(seenInComplete, [3]); // the result was stored before `complete`
    assert.equal(await result.get(), 3);
  });

  it("handlers get (signal, task) and, for error, the error", async () => {
    const { dewey } = setup();
    const boom = dewey.task("boom", (n: number) => {
      throw new RangeError(`bad ${n}`);
    });
    const calls: unknown[][] = [];
    dewey.signal((...args) => {
      calls.push(args);
    });
    const result = await boom(1);
    const [task] = await next(dewey);
    await dewey.execute(task);
    assert.deepEqual(calls.map((c) => c.length), [2, 2, 3]);
    assert.deepEqual(calls.map((c) => c[0]), ["enqueued", "executing", "error"]);
    assert.ok(calls.every((c) => (c[1] as Task).id === result.id));
    const error = calls[2][2];
    assert.ok(error instanceof RangeError);
    assert.equal(error.message, "bad 1");
  });

  it("a throwing handler is reported; the others and the task go on", async () => {
    const { dewey, logger } = setup();
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const order: string[] = [];
    dewey.signal(() => {
      order.push("first");
      throw new Error("handler failed");
    });
    dewey.signal(async () => {
      await Promise.resolve();
      order.push("second");
      throw new Error("async handler failed");
    });
    dewey.signal(() => {
      order.push("third");
    });
    const result = await add(2, 2);
    const [task] = await next(dewey);
    assert.equal(await dewey.execute(task), 4);
    assert.equal(await result.get(), 4);
    assert.deepEqual(order, [
      ...["first", "second", "third"], // enqueued
      ...["first", "second", "third"], // executing
      ...["first", "second", "third"], // complete
    ]);
    assert.equal(logger.errors.length, 6);
    assert.ok(logger.errors.some((entry) => entry.some((x) => String(x).includes("enqueued"))));
  });

  it("handlers run in registration order and filter by signal", async () => {
    const dewey = new Dewey({ name: "signal-order" });
    const work = dewey.task("work", () => "ran");
    const order: string[] = [];
    dewey.signal(
      (s) => {
        order.push(`a:${s}`);
      },
      Signal.EXECUTING,
      Signal.COMPLETE,
    );
    dewey.signal((s) => {
      order.push(`b:${s}`);
    });
    dewey.signal((s) => {
      order.push(`c:${s}`);
    }, Signal.COMPLETE);
    await work();
    const [task] = await next(dewey);
    await dewey.execute(task);
    assert.deepEqual(order, [
      "b:enqueued",
      "a:executing",
      "b:executing",
      "a:complete",
      "b:complete",
      "c:complete",
    ]);
  });

  it("unsubscribe stops delivery", async () => {
    const dewey = new Dewey({ name: "signal-unsub" });
    const work = dewey.task("work", () => "ran");
    const seen: string[] = [];
    const unsubscribe = dewey.signal((s) => {
      seen.push(s);
    });
    await work();
    unsubscribe();
    unsubscribe(); // twice is harmless
    const [task] = await next(dewey);
    await dewey.execute(task);
    assert.deepEqual(seen, ["enqueued"]);
  });

  it("an unknown signal name throws RangeError", () => {
    const dewey = new Dewey({ name: "signal-unknown" });
    assert.throws(() => dewey.signal(() => {}, "finished" as SignalName), RangeError);
    assert.throws(
      () => dewey.signal(() => {}, Signal.COMPLETE, "nope" as SignalName),
      RangeError,
    );
    assert.throws(() => dewey.signal("x" as unknown as () => void), TypeError);
  });

  it("Signal holds the thirteen names", () => {
    assert.deepEqual(Object.values(Signal).sort(), [
      "canceled",
      "complete",
      "enqueued",
      "error",
      "executing",
      "expired",
      "interrupted",
      "locked",
      "rate-limited",
      "retrying",
      "revoked",
      "scheduled",
      "timeout",
    ]);
  });
});

describe("hooks", () => {
  it("pre and post hooks run in order with (task) and (task, value, error)", async () => {
    const { dewey } = setup();
    const log: unknown[][] = [];
    const add = dewey.task("add", (a: number, b: number) => {
      log.push(["run"]);
      return a + b;
    });
    const boom = dewey.task("boom", () => {
      log.push(["run"]);
      throw new TypeError("boom");
    });
    dewey.preExecute((task) => {
      log.push(["pre1", task.name]);
    });
    dewey.preExecute(async (task) => {
      await Promise.resolve();
      log.push(["pre2", task.name]);
    });
    dewey.postExecute((task, value, error) => {
      log.push(["post1", task.name, value, error]);
    });
    dewey.postExecute((task, value, error) => {
      log.push(["post2", task.name, value, error]);
    });
    await add(1, 2);
    let [task] = await next(dewey);
    await dewey.execute(task);
    assert.deepEqual(log, [
      ["pre1", "add"],
      ["pre2", "add"],
      ["run"],
      ["post1", "add", 3, undefined],
      ["post2", "add", 3, undefined],
    ]);

    log.length = 0;
    await boom();
    [task] = await next(dewey);
    await dewey.execute(task);
    assert.deepEqual(log.map((entry) => entry.slice(0, 3)), [
      ["pre1", "boom"],
      ["pre2", "boom"],
      ["run"],
      ["post1", "boom", undefined],
      ["post2", "boom", undefined],
    ]);
    for (const entry of log.slice(3)) {
      const error: unknown = entry[3];
      assert.ok(error instanceof TypeError);
      assert.equal(error.message, "boom");
    }
  });

  it("the post hook runs after the result is stored and before `complete`", async () => {
    const { dewey, signals } = setup();
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const seen: unknown[] = [];
    dewey.postExecute(async (task) => {
      seen.push(await dewey.result(task.id, { preserve: true }), [...signals]);
    });
    await add(1, 1);
    const [task] = await next(dewey);
    await dewey.execute(task);
    assert.deepEqual(seen, [2, ["enqueued", "executing"]]);
  });

  it("a throwing hook is reported and ignored", async () => {
    const { dewey, logger, drain } = setup();
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const ran: string[] = [];
    dewey.preExecute(() => {
      throw new Error("pre failed");
    });
    dewey.preExecute(() => {
      ran.push("pre2");
    });
    dewey.postExecute(() => {
      throw new Error("post failed");
    });
    dewey.postExecute(() => {
      ran.push("post2");
    });
    const result = await add(3, 4);
    const [task] = await next(dewey);
    drain();
    assert.equal(await dewey.execute(task), 7);
    assert.deepEqual(drain(), ["executing", "complete"]);
    assert.deepEqual(ran, ["pre2", "post2"]);
    assert.equal(await result.get(), 7);
    assert.equal(logger.errors.length, 2);
    const reported = logger.errors.map((entry) => entry.find((x) => x instanceof Error));
    assert.deepEqual(reported.map((e) => (e as Error).message), ["pre failed", "post failed"]);
  });

  it("unsubscribing a hook removes it", async () => {
    const { dewey } = setup();
    const work = dewey.task("work", () => "ran");
    const ran: string[] = [];
    const offPre = dewey.preExecute(() => {
      ran.push("pre");
    });
    const offPost = dewey.postExecute(() => {
      ran.push("post");
    });
    offPre();
    offPost();
    await work();
    const [task] = await next(dewey);
    assert.equal(await dewey.execute(task), "ran");
    assert.deepEqual(ran, []);
  });
});

describe("timeouts and context", () => {
  it("a task that ignores its signal past its timeout fails with TaskTimeout", async () => {
    const { dewey, drain } = setup();
    const timers: ReturnType<typeof setTimeout>[] = [];
    const slow = dewey.task("slow", async () => {
      await new Promise((resolve) => timers.push(setTimeout(resolve, 1000)));
      return "too late";
    }, { timeout: 0.05, retries: 1 });
    try {
      const result = await slow();
      let [task] = await next(dewey);
      drain();
      assert.equal(await dewey.execute(task), undefined);
      assert.deepEqual(drain(), ["executing", "timeout", "retrying", "enqueued"]);
      let { metadata } = await storedError(dewey, result.id);
      assert.equal(metadata.name, "TaskTimeout");
      assert.equal(metadata.error, "TaskTimeout: timeout (0.05s)");
      assert.equal(metadata.retries, 1);

      [task] = await next(dewey);
      assert.equal(task.id, result.id);
      assert.equal(await dewey.execute(task), undefined);
      assert.deepEqual(drain(), ["executing", "timeout"]);
      ({ metadata } = await storedError(dewey, result.id));
      assert.equal(metadata.retries, 0);
      assert.equal(await dewey.pendingCount(), 0);
    } finally {
      for (const timer of timers) clearTimeout(timer);
    }
  });

  it("per-invocation timeout; the signal aborts with TaskTimeout", async () => {
    const { dewey, drain } = setup();
    const reasons: unknown[] = [];
    const wait = dewey.task("wait", (context: TaskContext) =>
      new Promise<string>((resolve) => {
        // Cooperative: gives up when the signal aborts, so no timer is left behind.
        const timer = setTimeout(() => resolve("finished"), 1000);
        context.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          reasons.push(context.signal.reason);
          resolve("aborted");
        });
      }), { context: true });
    const result = await wait.schedule([], { timeout: 0.05 });
    const [task] = await next(dewey);
    assert.equal(task.timeout, 0.05);
    drain();
    assert.equal(await dewey.execute(task), undefined);
    assert.deepEqual(drain(), ["executing", "timeout"]);
    assert.equal(reasons.length, 1);
    assert.equal((reasons[0] as Error).name, "TaskTimeout");
    assert.equal((await storedError(dewey, result.id)).metadata.name, "TaskTimeout");
  });

  it("context: true passes a TaskContext as the last argument", async () => {
    const { dewey } = setup();
    const seen: Record<string, unknown>[] = [];
    const inspect = dewey.task("inspect", (a: number, context: TaskContext) => {
      seen.push({
        a,
        id: context.id,
        name: context.name,
        retries: context.retries,
        retryDelay: context.retryDelay,
        signal: context.signal instanceof AbortSignal && !context.signal.aborted,
        timeRemaining: context.timeRemaining,
      });
      context.checkTimeout(); // no timeout: never throws
      return a;
    }, { context: true, retries: 2, retryDelay: 3 });
    const result = await inspect(7);
    const [task] = await next(dewey);
    assert.deepEqual(task.args, [7]); // the context is not serialized
    assert.equal(await dewey.execute(task), 7);
    assert.deepEqual(seen, [{
      a: 7,
      id: result.id,
      name: "inspect",
      retries: 2,
      retryDelay: 3,
      signal: true,
      timeRemaining: Infinity,
    }]);
  });

  it("timeRemaining counts down and checkTimeout throws TaskTimeout past the deadline", async () => {
    const { dewey, drain } = setup();
    const remaining: number[] = [];
    const check = dewey.task("check", async (context: TaskContext) => {
      remaining.push(context.timeRemaining);
      await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
      remaining.push(context.timeRemaining);
      context.checkTimeout();
      return "unreachable";
    }, { context: true, timeout: 0.05 });
    const result = await check();
    const [task] = await next(dewey);
    drain();
    assert.equal(await dewey.execute(task), undefined);
    assert.deepEqual(drain(), ["executing", "timeout"]);
    assert.ok(remaining[0] > 0 && remaining[0] <= 0.05, `first ${remaining[0]}`);
    assert.equal(remaining[1], 0);
    assert.equal((await storedError(dewey, result.id)).metadata.name, "TaskTimeout");
  });

  it("writing context.retryDelay changes the next retry's delay", async () => {
    const { dewey, drain } = setup();
    const flaky = dewey.task("flaky", (context: TaskContext) => {
      context.retryDelay = 7;
      throw new Error("again");
    }, { context: true, retries: 1, retryDelay: 1 });
    const result = await flaky();
    const [task] = await next(dewey);
    drain();
    await dewey.execute(task, { now: T0 });
    assert.deepEqual(drain(), ["executing", "error", "retrying", "scheduled"]);
    const [retry] = await dewey.scheduled();
    assert.equal(retry.id, result.id);
    assert.equal(retry.eta?.getTime(), T0.getTime() + 7000);
    assert.equal(retry.retryDelay, 7);
  });
});

describe("locks and rate limits inside tasks", () => {
  it("lockTask on a held lock: `locked` signal and TaskLockedException stored", async () => {
    const { dewey, drain } = setup();
    let calls = 0;
    const guarded = dewey.task("guarded", dewey.lockTask("L", () => ++calls));
    const holder = await dewey.lock("L").acquire();
    const result = await guarded();
    const [task] = await next(dewey);
    drain();
    assert.equal(await dewey.execute(task), undefined);
    assert.deepEqual(drain(), ["executing", "locked"]);
    assert.equal(calls, 0);
    const { metadata } = await storedError(dewey, result.id);
    assert.equal(metadata.name, "TaskLockedException");
    assert.equal(metadata.message, "unable to acquire lock L");
    assert.equal(metadata.error, "TaskLockedException: unable to acquire lock L");

    // Released: the next run takes the lock and frees it again.
    assert.equal(await holder.release(), true);
    const second = await guarded();
    const [again] = await next(dewey);
    assert.equal(await dewey.execute(again), 1);
    assert.equal(await second.get(), 1);
    assert.equal(await dewey.lock("L").isLocked(), false);
  });

  it("a locked task with retries is retried", async () => {
    const { dewey, drain } = setup();
    const guarded = dewey.task("guarded", dewey.lockTask("L", () => "ran"), { retries: 1 });
    await dewey.lock("L").acquire();
    await guarded();
    const [task] = await next(dewey);
    drain();
    await dewey.execute(task);
    assert.deepEqual(drain(), ["executing", "locked", "retrying", "enqueued"]);
  });

  it("RateLimitExceeded with retry: rescheduled to the next window, no retry consumed", async () => {
    const { dewey, drain } = setup();
    const limiter = dewey.rateLimit("api", { limit: 1, per: 60 });
    const now = new Date("2030-01-01T00:00:30.000Z");
    const call = dewey.task("call", async (n: number) => {
      await limiter.acquire(now);
      return n;
    });
    const first = await call(1);
    const second = await call(2);
    let [task] = await next(dewey);
    assert.equal(await dewey.execute(task, { now }), 1);
    [task] = await next(dewey);
    drain();
    assert.equal(await dewey.execute(task, { now }), undefined);
    assert.deepEqual(drain(), ["executing", "rate-limited", "retrying", "scheduled"]);
    const [retry] = await dewey.scheduled();
    assert.equal(retry.id, second.id);
    assert.equal(retry.eta?.toISOString(), "2030-01-01T00:01:00.000Z");
    assert.equal(retry.retries, 0);
    const { metadata } = await storedError(dewey, second.id);
    assert.equal(metadata.name, "RateLimitExceeded");
    assert.equal(metadata.retries, 1); // incremented before the retry, as Huey
    assert.equal(await first.get(), 1);
    assert.equal(await limiter.currentUsage(now), 1);
  });

  it("RateLimitExceeded without retry and no retries: executing, rate-limited", async () => {
    const { dewey, drain } = setup();
    const limiter = dewey.rateLimit("api", { limit: 1, per: 3600, retry: false });
    const call = dewey.task("call", limiter.wrap((n: number) => n));
    await call(1);
    const second = await call(2);
    let [task] = await next(dewey);
    assert.equal(await dewey.execute(task), 1);
    [task] = await next(dewey);
    drain();
    assert.equal(await dewey.execute(task), undefined);
    assert.deepEqual(drain(), ["executing", "rate-limited"]);
    assert.equal(await dewey.scheduledCount(), 0);
    assert.equal(await dewey.pendingCount(), 0);
    assert.equal((await storedError(dewey, second.id)).metadata.name, "RateLimitExceeded");
  });
});

describe("result storing", () => {
  it("results: false stores nothing", async () => {
    const { dewey } = setup({ results: false });
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const boom = dewey.task("boom", () => {
      throw new Error("boom");
    });
    const ok = await add(1, 2);
    const bad = await boom();
    for (let i = 0; i < 2; i++) {
      const [task] = await next(dewey);
      await dewey.execute(task);
    }
    assert.equal(await dewey.resultCount(), 0);
    assert.equal(await ok.get(), undefined);
    assert.equal(await bad.get(), undefined);
  });

  it("undefined stores nothing by default; storeNone stores a marker", async () => {
    for (const storeNone of [false, true]) {
      const { dewey } = setup({ storeNone });
      const nothing = dewey.task("nothing", () => {});
      const result = await nothing();
      const [task] = await next(dewey);
      assert.equal(await dewey.execute(task), undefined);
      assert.equal(await dewey.resultCount(), storeNone ? 1 : 0);
      assert.equal(await result.isReady(), storeNone);
      assert.equal(await result.get(), undefined);
      assert.equal(await dewey.resultCount(), 0);
      assert.equal(await result.isReady(), storeNone); // cached on the handle
    }
  });

  it("null is a value and is stored", async () => {
    const { dewey } = setup();
    const nil = dewey.task("nil", () => null);
    const result = await nil();
    const [task] = await next(dewey);
    assert.equal(await dewey.execute(task), null);
    assert.equal(await dewey.resultCount(), 1);
    assert.equal(await result.isReady(), true);
    assert.equal(await result.get(), null);
  });
});

describe("leases", () => {
  it("execute acknowledges the lease whatever the outcome", async () => {
    const { dewey } = setup();
    const ok = dewey.task("ok", () => "ok");
    const boom = dewey.task("boom", () => {
      throw new Error("boom");
    });
    const revoked = dewey.task("revoked", () => "never");
    const expiring = dewey.task("expiring", () => "never", { expires: 1 });
    await ok();
    await boom();
    await (await revoked()).revoke();
    await expiring();
    const outcomes: unknown[] = [];
    for (let i = 0; i < 4; i++) {
      const [task] = await next(dewey);
      assert.equal(await dewey.leasedCount(), 1);
      assert.equal(await dewey.pendingCount(), 3 - i);
      outcomes.push(await dewey.execute(task, { now: new Date(Date.now() + 60_000) }));
      assert.equal(await dewey.leasedCount(), 0);
    }
    assert.deepEqual(outcomes, ["ok", undefined, undefined, undefined]);
  });

  it("a retried task's lease is acknowledged and the retry is a new message", async () => {
    const { dewey } = setup();
    const boom = dewey.task("boom", () => {
      throw new Error("boom");
    }, { retries: 1 });
    await boom();
    const [task] = await next(dewey);
    await dewey.execute(task);
    assert.equal(await dewey.leasedCount(), 0);
    assert.equal(await dewey.pendingCount(), 1);
  });
});

describe("dead letters", () => {
  it("garbage and unknown-task messages are set aside; dequeue returns the next good task", async () => {
    const { dewey, logger } = setup();
    const work = dewey.task("work", (n: number) => n);
    const elsewhere = new Dewey({ name: "elsewhere" });
    const foreign = elsewhere.task("foreign", () => "x");
    const foreignData = await elsewhere.serialize(foreign.s());

    await dewey.storage.enqueue("garbage", 0);
    await dewey.storage.enqueue(foreignData, 0);
    const good = await work(42);

    const [task] = await next(dewey);
    assert.equal(task.id, good.id);
    assert.equal(await dewey.execute(task), 42);
    assert.equal(await dewey.pendingCount(), 0);
    assert.equal(await dewey.leasedCount(), 0);
    assert.deepEqual(await dewey.dequeue(), []);

    const letters = await dewey.deadLetters();
    assert.equal(letters.length, 2);
    assert.equal(letters[0].data, "garbage");
    assert.match(letters[0].reason, /envelope/); // the codec's reason
    assert.equal(letters[1].data, foreignData);
    assert.match(letters[1].reason, /Unknown task "foreign"/);
    for (const letter of letters) {
      assert.equal(typeof letter.id, "string");
      assert.ok(letter.at instanceof Date);
      assert.ok(Math.abs(letter.at.getTime() - Date.now()) < 60_000);
    }
    assert.equal(logger.warnings.length, 2);

    // Requeue: back on the queue, and set aside again on the next dequeue.
    assert.equal(await dewey.requeueDeadLetter(letters[1].id), true);
    assert.equal(await dewey.requeueDeadLetter(letters[1].id), false);
    assert.equal(await dewey.pendingCount(), 1);
    assert.equal((await dewey.deadLetters()).length, 1);
    assert.deepEqual(await dewey.dequeue(), []);
    assert.equal((await dewey.deadLetters()).length, 2);

    assert.equal(await dewey.purgeDeadLetters(), 2);
    assert.deepEqual(await dewey.deadLetters(), []);
    assert.equal(await dewey.purgeDeadLetters(), 0);
  });

  it("a requeued dead letter runs once its task is known", async () => {
    const { dewey } = setup();
    const producer = new Dewey({ name: "producer" });
    const late = producer.task("late", (n: number) => n * 2);
    await dewey.storage.enqueue(await producer.serialize(late.s(21)), 0);
    assert.deepEqual(await dewey.dequeue(), []);
    const [letter] = await dewey.deadLetters();
    assert.ok(letter);
    dewey.task("late", (n: number) => n * 2); // registered afterwards (e.g. a deploy)
    assert.equal(await dewey.requeueDeadLetter(letter.id), true);
    const [task] = await next(dewey);
    assert.equal(await dewey.execute(task), 42);
  });
});
