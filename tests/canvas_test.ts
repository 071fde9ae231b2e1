// Pipelines, error handlers, groups and chords (API.md "Groups and chords", HUEY-SEMANTICS
// §4.6–4.7). node:test + node:assert/strict only, so `deno test` and `bun test` run the
// same file. Queue mode is driven by hand with dequeue()/execute(), as Huey's tests do.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  CancelExecution,
  chord,
  ChordResult,
  Dewey,
  type DeweyOptions,
  group,
  MemoryStorage,
  Result,
  ResultGroup,
  type Task,
  type TaskContext,
  TaskError,
  TaskException,
} from "../mod.ts";

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function makeDewey(options: DeweyOptions = {}): Dewey {
  return new Dewey({ logger: silent, ...options });
}

/** Dequeues and executes until the queue is empty; the number of tasks executed. */
async function drain(dewey: Dewey, now?: Date): Promise<number> {
  let executed = 0;
  for (;;) {
    const [task] = await dewey.dequeue();
    if (!task) return executed;
    await dewey.execute(task, now ? { now } : {});
    executed++;
  }
}

/** Dequeues every waiting task without executing it. */
async function dequeueAll(dewey: Dewey): Promise<Task[]> {
  const tasks: Task[] = [];
  for (;;) {
    const [task] = await dewey.dequeue();
    if (!task) return tasks;
    tasks.push(task);
  }
}

/** Like drain, but each round executes what is waiting in reverse queue order. */
async function drainReversed(dewey: Dewey): Promise<number> {
  let executed = 0;
  for (;;) {
    const batch = await dequeueAll(dewey);
    if (batch.length === 0) return executed;
    for (const task of batch.reverse()) {
      await dewey.execute(task);
      executed++;
    }
  }
}

async function rejectsWith(promise: Promise<unknown>, name: string, message: string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TaskException, `expected TaskException, got ${String(error)}`);
    assert.equal(error.metadata.name, name);
    assert.equal(error.metadata.message, message);
    return true;
  });
}

function assertTaskError(value: unknown, name: string, message: string): void {
  assert.ok(value instanceof TaskError, `expected a TaskError, got ${String(value)}`);
  assert.ok(value instanceof Error);
  assert.equal(value.name, name);
  assert.equal(value.message, message);
}

const modes = [
  { mode: "immediate", immediate: true },
  { mode: "queue", immediate: false },
] as const;

// --- pipelines ----------------------------------------------------------------------------

describe("pipelines", () => {
  for (const { mode, immediate } of modes) {
    it(`add.s(1,2).then(add,3).then(add,4).then(add,5) gives [3, 6, 10, 15] (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const add = dewey.task("add", (a: number, b: number) => a + b);
      const pipeline = add.s(1, 2).then(add, 3).then(add, 4).then(add, 5);
      const results = await dewey.enqueue(pipeline);
      assert.ok(results instanceof ResultGroup);
      assert.equal(results.length, 4);
      assert.deepEqual(
        results.results.map((r) => r.id),
        [
          pipeline.id,
          pipeline.onComplete!.id,
          pipeline.onComplete!.onComplete!.id,
          pipeline.onComplete!.onComplete!.onComplete!.id,
        ],
      );
      if (!immediate) {
        assert.equal(await dewey.pendingCount(), 1);
        assert.equal(await drain(dewey), 4);
        assert.equal(await dewey.pendingCount(), 0);
      }
      assert.deepEqual(await results.get(), [3, 6, 10, 15]);
    });

    it(`passes the parent's value as the first argument, before the extra args (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const sub = dewey.task("sub", (a: number, b: number) => a - b);
      const join = dewey.task("join", (...parts: string[]) => parts.join(""));
      const numbers = await dewey.enqueue(sub.s(10, 3).then(sub, 2).then(sub, 1));
      const strings = await dewey.enqueue(join.s("a", "b").then(join, "c", "d").then(join, "e"));
      if (!immediate) assert.equal(await drain(dewey), 6);
      // Appended instead of prepended it would be 2 - 7 = -5, and "cdab".
      assert.deepEqual(await numbers.get(), [7, 5, 4]);
      assert.deepEqual(await strings.get(), ["ab", "abcd", "abcde"]);
    });

    it(`a stage returning undefined passes nothing; null is a value (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const calls: unknown[][] = [];
      const nothing = dewey.task("nothing", () => undefined);
      const nil = dewey.task("nil", () => null);
      const record = dewey.task("record", (...args: unknown[]) => {
        calls.push(args);
        return args.length;
      });
      const a = await dewey.enqueue(nothing.s().then(record));
      const b = await dewey.enqueue(nothing.s().then(record, "x"));
      const c = await dewey.enqueue(nil.s().then(record, "x"));
      // An array is one value (the first argument), not spread into arguments.
      const pair = dewey.task("pair", () => [1, 2]);
      const d = await dewey.enqueue(pair.s().then(record, "x"));
      if (!immediate) assert.equal(await drain(dewey), 8);
      assert.deepEqual(calls, [[], ["x"], [null, "x"], [[1, 2], "x"]]);
      assert.deepEqual(await a.get(), [undefined, 0]);
      assert.deepEqual(await b.get(), [undefined, 1]);
      assert.deepEqual(await c.get(), [null, 2]);
      assert.deepEqual(await d.get(), [[1, 2], 2]);
    });

    it(`a failing stage stops the chain (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const ran: string[] = [];
      const add = dewey.task("add", (a: number, b: number) => {
        ran.push(`add(${a},${b})`);
        return a + b;
      });
      const boom = dewey.task("boom", (n: number) => {
        ran.push(`boom(${n})`);
        throw new RangeError(`bad ${n}`);
      });
      const results = await dewey.enqueue(add.s(1, 2).then(boom).then(add, 10).then(add, 20));
      if (!immediate) assert.equal(await drain(dewey), 2);
      assert.deepEqual(ran, ["add(1,2)", "boom(3)"]);
      assert.equal(await results.results[0].get(), 3);
      await rejectsWith(results.results[1].get(), "RangeError", "bad 3");
      assert.equal(await results.results[2].get(), undefined);
      assert.equal(await results.results[3].get(), undefined);
      assert.equal(await dewey.pendingCount(), 0);
      assert.equal(await dewey.scheduledCount(), 0);
    });
  }

  it("revoking a middle task stops the chain, and its revoke-once flag is consumed", async () => {
    const dewey = makeDewey();
    const signals: string[] = [];
    dewey.signal((signal, task) => void signals.push(`${signal}:${task.args.join(",")}`));
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const results = await dewey.enqueue(add.s(1, 2).then(add, 3).then(add, 4));
    await results.results[1].revoke();
    assert.equal(await dewey.isRevoked(results.results[1].id), true);
    signals.length = 0;
    assert.equal(await drain(dewey), 2);
    assert.deepEqual(signals, [
      "executing:1,2",
      "complete:1,2",
      "enqueued:3,3",
      "revoked:3,3",
    ]);
    assert.deepEqual(await results.get(), [3, undefined, undefined]);
    assert.equal(await dewey.isRevoked(results.results[1].id), false);
    assert.equal(await dewey.resultCount(), 0);
  });
});

// --- error handlers -----------------------------------------------------------------------

describe("error handlers", () => {
  for (const { mode, immediate } of modes) {
    it(`the handler gets a TaskError with the original name, message and stack, then its args (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      let thrown: Error | undefined;
      const boom = dewey.task("boom", (message: string) => {
        thrown = new RangeError(message);
        throw thrown;
      });
      const seen: unknown[][] = [];
      const handler = dewey.task("handler", (...args: unknown[]) => {
        seen.push(args);
        return "handled";
      });
      const result = await dewey.enqueue(boom.s("bad input").error(handler, "x", 2));
      if (!immediate) assert.equal(await drain(dewey), 2);
      assert.equal(seen.length, 1);
      const [error, ...extra] = seen[0];
      assertTaskError(error, "RangeError", "bad input");
      assert.equal(typeof thrown?.stack, "string");
      assert.equal((error as TaskError).stack, thrown!.stack);
      assert.deepEqual(extra, ["x", 2]);
      await rejectsWith(result.get(), "RangeError", "bad input");
    });

    it(`the success chain is skipped when the handler runs (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const ran: string[] = [];
      const boom = dewey.task("boom", () => {
        ran.push("boom");
        throw new Error("nope");
      });
      const next = dewey.task("next", (...args: unknown[]) => void ran.push(`next(${args})`));
      const handler = dewey.task(
        "handler",
        (e: TaskError) => void ran.push(`handler(${e.message})`),
      );
      const results = await dewey.enqueue(boom.s().error(handler).then(next, 1));
      if (!immediate) assert.equal(await drain(dewey), 2);
      assert.deepEqual(ran, ["boom", "handler(nope)"]);
      await rejectsWith(results.results[0].get(), "Error", "nope");
      assert.equal(await results.results[1].get(), undefined);
    });

    it(`a handler attaches to its task only, not to the pipeline (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const handled: string[] = [];
      const add = dewey.task("add", (a: number, b: number) => a + b);
      const boom = dewey.task("boom", (...args: number[]) => {
        throw new Error(`boom ${args[0]}`);
      });
      const handler = dewey.task("handler", (e: TaskError, tag: string) => {
        handled.push(`${tag}:${e.message}`);
      });
      // The head has the handler; a later stage fails: the head's handler is not called.
      const first = await dewey.enqueue(add.s(1, 2).error(handler, "head").then(boom));
      // The handler on the failing stage itself is called.
      const second = await dewey.enqueue(add.s(1, 1).then(boom.s().error(handler, "stage")));
      if (!immediate) assert.equal(await drain(dewey), 5);
      assert.deepEqual(handled, ["stage:boom 2"]);
      assert.equal(await first.results[0].get(), 3);
      await rejectsWith(first.results[1].get(), "Error", "boom 3");
      await rejectsWith(second.results[1].get(), "Error", "boom 2");
    });
  }

  it("with retries and storeIntermediateErrors the handler runs per failed attempt", async () => {
    const dewey = makeDewey();
    let attempts = 0;
    const flaky = dewey.task("flaky", () => {
      throw new Error(`attempt ${++attempts}`);
    }, { retries: 2 });
    const seen: string[] = [];
    const handler = dewey.task("handler", (e: TaskError) => void seen.push(e.message));
    const result = await dewey.enqueue(flaky.s().error(handler));
    assert.equal(await drain(dewey), 6);
    assert.equal(attempts, 3);
    assert.deepEqual(seen, ["attempt 1", "attempt 2", "attempt 3"]);
    await assert.rejects(result.get(), (error: unknown) => {
      assert.ok(error instanceof TaskException);
      assert.equal(error.metadata.message, "attempt 3");
      assert.equal(error.metadata.retries, 0);
      return true;
    });
  });

  it("with storeIntermediateErrors: false only the final failure runs the handler", async () => {
    const dewey = makeDewey({ storeIntermediateErrors: false });
    let attempts = 0;
    const flaky = dewey.task("flaky", () => {
      throw new Error(`attempt ${++attempts}`);
    }, { retries: 2 });
    const seen: string[] = [];
    const handler = dewey.task("handler", (e: TaskError) => void seen.push(e.message));
    await dewey.enqueue(flaky.s().error(handler));
    assert.equal(await drain(dewey), 4);
    assert.deepEqual(seen, ["attempt 3"]);
  });

  it("chaining .error twice puts the second handler on the first (as Huey)", async () => {
    const dewey = makeDewey();
    const seen: string[] = [];
    const boom = dewey.task("boom", (message: string) => {
      throw new Error(message);
    });
    const first = dewey.task("first", (e: TaskError, fail: boolean) => {
      seen.push(`first:${e.message}`);
      if (fail) throw new TypeError("first failed");
    });
    const second = dewey.task(
      "second",
      (e: TaskError) => void seen.push(`second:${e.name}:${e.message}`),
    );

    const task = boom.s("a").error(first, false).error(second);
    assert.equal(task.onError?.name, "first");
    assert.equal(task.onError?.onError?.name, "second");
    assert.equal(task.onError?.onError?.onError, undefined);
    await dewey.enqueue(task);
    assert.equal(await drain(dewey), 2);
    assert.deepEqual(seen, ["first:a"]);

    seen.length = 0;
    await dewey.enqueue(boom.s("b").error(first, true).error(second));
    assert.equal(await drain(dewey), 3);
    assert.deepEqual(seen, ["first:b", "second:TypeError:first failed"]);
  });
});

// --- groups -------------------------------------------------------------------------------

describe("groups", () => {
  for (const { mode, immediate } of modes) {
    it(`group([...]) gives a ResultGroup in member order (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const add = dewey.task("add", (a: number, b: number) => a + b);
      const members = [add.s(1, 2), add.s(3, 4), add.s(5, 6)];
      const results = await dewey.enqueue(group(members));
      assert.ok(results instanceof ResultGroup);
      assert.equal(results.length, 3);
      assert.deepEqual([...results].map((r) => r.id), members.map((m) => m.id));
      if (!immediate) {
        assert.equal(await dewey.pendingCount(), 3);
        assert.equal(await drainReversed(dewey), 3);
      }
      assert.deepEqual(await results.get(), [3, 7, 11]);
    });

    it(`map() enqueues one task per argument list (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const add = dewey.task("add", (a: number, b: number) => a + b);
      const results = await add.map([[1, 2], [3, 4], [10, 20]]);
      assert.ok(results instanceof ResultGroup);
      assert.equal(results.length, 3);
      if (!immediate) {
        assert.equal(await dewey.pendingCount(), 3);
        assert.equal(await drain(dewey), 3);
      }
      assert.deepEqual(await results.get(), [3, 7, 30]);
    });

    it(`group members may be pipelines; the handle is the last stage (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const add = dewey.task("add", (a: number, b: number) => a + b);
      const results = await dewey.enqueue(group([add.s(1, 2).then(add, 3), add.s(5, 5)]));
      if (!immediate) assert.equal(await drain(dewey), 3);
      assert.deepEqual(await results.get(), [6, 10]);
    });

    it(`group members may be chords; the ResultGroup stays in member order (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const echo = dewey.task("echo", (s: string) => s);
      const agg = dewey.task("agg", (results: unknown[]) => results);
      const results = await dewey.enqueue(
        group([echo.s("a"), chord([echo.s("b"), echo.s("c")], agg), echo.s("d")]),
      );
      assert.equal(results.length, 3);
      if (!immediate) assert.equal(await drain(dewey), 5);
      assert.deepEqual(await results.get(), ["a", ["b", "c"], "d"]);
    });
  }

  it("asCompleted() yields in completion order (queue mode)", async () => {
    const dewey = makeDewey();
    const echo = dewey.task("echo", (s: string) => s);
    const results = await dewey.enqueue(group([echo.s("a"), echo.s("b"), echo.s("c")]));
    const [a, b, c] = await dequeueAll(dewey);
    const iterator = results.asCompleted()[Symbol.asyncIterator]();
    await dewey.execute(c);
    assert.deepEqual(await iterator.next(), { value: "c", done: false });
    await dewey.execute(a);
    assert.deepEqual(await iterator.next(), { value: "a", done: false });
    await dewey.execute(b);
    assert.deepEqual(await iterator.next(), { value: "b", done: false });
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
  });

  it("asCompleted() yields results ready together in member order; a failure throws on its turn", async () => {
    const dewey = makeDewey({ immediate: true });
    const echo = dewey.task("echo", (s: string) => {
      if (s === "bad") throw new Error("bad member");
      return s;
    });
    const results = await dewey.enqueue(group([echo.s("x"), echo.s("y")]));
    const seen: string[] = [];
    for await (const value of results.asCompleted()) seen.push(value as string);
    assert.deepEqual(seen, ["x", "y"]);

    const failing = await dewey.enqueue(group([echo.s("ok"), echo.s("bad")]));
    const iterator = failing.asCompleted()[Symbol.asyncIterator]();
    assert.deepEqual(await iterator.next(), { value: "ok", done: false });
    await rejectsWith(iterator.next(), "Error", "bad member");
  });

  it("group.error(h) attaches h to every member, each with its own invocation id", async () => {
    const dewey = makeDewey();
    const boom = dewey.task("boom", (n: number) => {
      throw new Error(`member ${n}`);
    });
    const calls: { id: string; message: string; tag: string }[] = [];
    const handler = dewey.task(
      "handler",
      (e: TaskError, tag: string, ctx: TaskContext) => {
        calls.push({ id: ctx.id, message: e.message, tag });
      },
      { context: true },
    );
    const members = [boom.s(1), boom.s(2), boom.s(3)];
    const g = group(members);
    assert.equal(g.error(handler, "w"), g);
    const handlerIds = members.map((m) => m.onError!.id);
    assert.equal(new Set(handlerIds).size, 3);

    await dewey.enqueue(g);
    assert.equal(await drain(dewey), 6);
    assert.deepEqual(calls.map((c) => c.message).sort(), ["member 1", "member 2", "member 3"]);
    assert.deepEqual(calls.map((c) => c.tag), ["w", "w", "w"]);
    assert.deepEqual(calls.map((c) => c.id), handlerIds);

    // A Task handler is copied per member too.
    const boom2 = [boom.s(4), boom.s(5)];
    const loose = dewey.task("loose", (...args: unknown[]) => args.length);
    group(boom2).error(loose.s("t"));
    assert.notEqual(boom2[0].onError!.id, boom2[1].onError!.id);
  });

  it("a group cannot be a chord member", () => {
    const dewey = makeDewey();
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const g = group([add.s(1, 2)]);
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => chord([g as any, add.s(3, 4)], add),
      (error: unknown) => error instanceof TypeError && /group/.test(error.message),
    );
    // deno-lint-ignore no-explicit-any
    assert.throws(() => group([g as any]), TypeError);
  });
});

// --- chords -------------------------------------------------------------------------------

describe("chords", () => {
  function chordTasks(dewey: Dewey) {
    const echo = dewey.task("echo", (s: unknown) => s);
    // What the callback received, as it saw it (its return value goes through the codec
    // like any value, where a TaskError nested in an object is a plain Error).
    const received: unknown[][] = [];
    const collect = dewey.task("collect", (...args: unknown[]) => {
      received.push(args);
      return { results: args[0], extra: args.slice(1) };
    });
    /** The member results of the one callback run. */
    const callbackResults = () => {
      assert.equal(received.length, 1, "the callback runs exactly once");
      return received[0][0] as unknown[];
    };
    return { echo, collect, callbackResults };
  }

  it("the callback gets member results first, in member order, whatever the completion order", async () => {
    const dewey = makeDewey();
    const { echo, collect } = chordTasks(dewey);
    const cr = await dewey.enqueue(
      chord([echo.s("a"), echo.s("b"), echo.s("c")], collect.s("x", 1)),
    );
    assert.ok(cr instanceof ChordResult);
    const [a, b, c] = await dequeueAll(dewey);
    await dewey.execute(c);
    await dewey.execute(a);
    assert.equal(await dewey.pendingCount(), 0);
    await dewey.execute(b);
    assert.equal(await dewey.pendingCount(), 1);
    assert.equal(await drain(dewey), 1);
    assert.deepEqual(await cr.get(), { results: ["a", "b", "c"], extra: ["x", 1] });
    assert.deepEqual(await cr.results.get(), ["a", "b", "c"]);
  });

  it("group([...]).then(cb, ...args) is a chord whose callback gets its extra args after", async () => {
    const dewey = makeDewey();
    const { echo, collect } = chordTasks(dewey);
    const cr = await dewey.enqueue(group([echo.s(1), echo.s(2)]).then(collect, "p", "q"));
    assert.ok(cr instanceof ChordResult);
    assert.equal(await drainReversed(dewey), 3);
    assert.deepEqual(await cr.get(), { results: [1, 2], extra: ["p", "q"] });
  });

  for (const { mode, immediate } of modes) {
    it(`a failed member contributes its TaskError (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const { echo, collect, callbackResults } = chordTasks(dewey);
      let thrown: Error | undefined;
      const boom = dewey.task("boom", (message: string) => {
        thrown = new RangeError(message);
        throw thrown;
      });
      const cr = await dewey.enqueue(chord([echo.s(1), boom.s("bad member")], collect));
      if (!immediate) assert.equal(await drain(dewey), 3);
      const results = callbackResults();
      assert.equal(results.length, 2);
      assert.equal(results[0], 1);
      assertTaskError(results[1], "RangeError", "bad member");
      assert.equal((results[1] as TaskError).stack, thrown!.stack);
      await rejectsWith(cr.results.results[1].get(), "RangeError", "bad member");
    });

    it(`nested chords give [['a','b'],[['c','d'],['e','f']],['g','h']] (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const echo = dewey.task("echo", (s: string) => s);
      const agg = dewey.task("agg", (results: unknown[]) => results);
      const nested = chord([
        chord([echo.s("a"), echo.s("b")], agg),
        chord(
          [chord([echo.s("c"), echo.s("d")], agg), chord([echo.s("e"), echo.s("f")], agg)],
          agg,
        ),
        chord([echo.s("g"), echo.s("h")], agg),
      ], agg);
      const cr = await dewey.enqueue(nested);
      // 8 leaves, 5 inner callbacks, 1 outer callback.
      if (!immediate) assert.equal(await drainReversed(dewey), 14);
      const expected = [["a", "b"], [["c", "d"], ["e", "f"]], ["g", "h"]];
      assert.deepEqual(await cr.get(), expected);
      assert.deepEqual(await cr.results.get(), expected);
      assert.equal(await dewey.pendingCount(), 0);
    });

    it(`members may be pipelines: the tail feeds the chord (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const { collect } = chordTasks(dewey);
      const add = dewey.task("add", (a: number, b: number) => a + b);
      const cr = await dewey.enqueue(
        chord([add.s(1, 2).then(add, 10).then(add, 100), add.s(5, 5)], collect),
      );
      if (!immediate) assert.equal(await drainReversed(dewey), 5);
      assert.deepEqual(await cr.get(), { results: [113, 10], extra: [] });
      assert.deepEqual(await cr.results.get(), [113, 10]);
    });

    it(`a member pipeline stopped midway contributes its error, or undefined if revoked (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const { collect, callbackResults } = chordTasks(dewey);
      const add = dewey.task("add", (a: number, b: number) => a + b);
      const boom = dewey.task("boom", (n: number) => {
        throw new Error(`boom ${n}`);
      });
      const skipped = add.s(100, 100);
      const revokedStage = add.s(0, 0);
      await dewey.revokeById(revokedStage.id, { once: true });
      await dewey.enqueue(chord([
        add.s(1, 2).then(boom).then(add, 10),
        add.s(1, 1).then(revokedStage).then(skipped),
        add.s(5, 5),
      ], collect));
      if (!immediate) assert.equal(await drainReversed(dewey), 6);
      const results = callbackResults();
      assert.equal(results.length, 3);
      assertTaskError(results[0], "Error", "boom 3");
      assert.equal(results[1], undefined);
      assert.equal(results[2], 10);
    });

    it(`a chord as a member may have its own then-chain; its tail feeds the outer chord (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const { echo, collect } = chordTasks(dewey);
      const incr = dewey.task("incr", (n: number) => n + 1);
      const total = dewey.task("total", (values: number[]) => values.reduce((a, b) => a + b, 0));
      const cr = await dewey.enqueue(
        chord([chord([echo.s(1), echo.s(2)], total).then(incr).then(incr), echo.s(7)], collect),
      );
      if (!immediate) assert.equal(await drainReversed(dewey), 7);
      assert.deepEqual(await cr.get(), { results: [5, 7], extra: [] });
      assert.deepEqual(await cr.results.get(), [5, 7]);
    });

    it(`works with results: false (${mode})`, async () => {
      const dewey = makeDewey({ immediate, results: false });
      const { echo, collect, callbackResults } = chordTasks(dewey);
      await dewey.enqueue(chord([echo.s("x"), echo.s("y")], collect));
      if (!immediate) assert.equal(await drain(dewey), 3);
      assert.deepEqual(callbackResults(), ["x", "y"]);
      assert.equal(await dewey.resultCount(), 0);
    });

    it(`group([...]).then(total).then(incr) (${mode})`, async () => {
      const dewey = makeDewey({ immediate });
      const incr = dewey.task("incr", (n: number) => n + 1);
      const total = dewey.task("total", (values: number[]) => values.reduce((a, b) => a + b, 0));
      const cr = await dewey.enqueue(
        group([incr.s(1), incr.s(2), incr.s(3)]).then(total).then(incr),
      );
      assert.ok(cr instanceof ChordResult);
      assert.ok(cr.callback instanceof Result);
      assert.ok(cr.results instanceof ResultGroup);
      assert.ok(cr.pipelineResults instanceof ResultGroup);
      assert.equal(cr.results.length, 3);
      assert.equal(cr.pipelineResults.length, 2);
      assert.equal(cr.pipelineResults.results[0], cr.callback);
      if (!immediate) assert.equal(await drain(dewey), 5);
      assert.equal(await cr.get(), 9);
      assert.deepEqual(await cr.results.get(), [2, 3, 4]);
      assert.deepEqual(await cr.pipelineResults.get(), [9, 10]);
    });

    it(`undefined member values are kept as undefined, storeNone or not (${mode})`, async () => {
      for (const storeNone of [false, true]) {
        const dewey = makeDewey({ immediate, storeNone });
        const { collect, callbackResults } = chordTasks(dewey);
        const nothing = dewey.task("nothing", () => undefined);
        const one = dewey.task("one", () => 1);
        await dewey.enqueue(chord([nothing.s(), one.s(), nothing.s()], collect));
        if (!immediate) assert.equal(await drain(dewey), 4);
        const results = callbackResults();
        assert.equal(results.length, 3);
        assert.deepEqual(results, [undefined, 1, undefined]);
      }
    });
  }

  it("a member with retries contributes only after its retries are exhausted", async () => {
    const dewey = makeDewey();
    const { echo, collect, callbackResults } = chordTasks(dewey);
    let attempts = 0;
    const boom = dewey.task("boom", () => {
      throw new Error(`attempt ${++attempts}`);
    }, { retries: 2 });
    const cr = await dewey.enqueue(chord([boom.s(), echo.s("ok")], collect));
    const [first, second] = await dequeueAll(dewey);
    await dewey.execute(second);
    await dewey.execute(first); // fails, retried: the chord is not complete
    assert.equal(await dewey.pendingCount(), 1);
    let [retry] = await dewey.dequeue();
    assert.equal(retry?.name, "boom");
    await dewey.execute(retry!);
    [retry] = await dewey.dequeue();
    assert.equal(retry?.name, "boom");
    assert.equal(await cr.callback.get(), undefined);
    await dewey.execute(retry!); // the last attempt: now the chord completes
    assert.equal(attempts, 3);
    assert.equal(await drain(dewey), 1);
    const results = callbackResults();
    assertTaskError(results[0], "Error", "attempt 3");
    assert.equal(results[1], "ok");
  });

  it("a member that succeeds on a retry contributes its value", async () => {
    const dewey = makeDewey();
    const { echo, collect } = chordTasks(dewey);
    let attempts = 0;
    const flaky = dewey.task("flaky", () => {
      if (++attempts < 3) throw new Error(`attempt ${attempts}`);
      return `done after ${attempts}`;
    }, { retries: 5 });
    const cr = await dewey.enqueue(chord([echo.s("first"), flaky.s()], collect));
    assert.equal(await drain(dewey), 5);
    assert.deepEqual(await cr.get(), { results: ["first", "done after 3"], extra: [] });
  });

  it("revoked, expired and hook-canceled members contribute undefined", async () => {
    const dewey = makeDewey();
    const { echo, collect, callbackResults } = chordTasks(dewey);
    const signals: string[] = [];
    dewey.signal(
      (signal, task) => void signals.push(`${signal}:${task.args[0]}`),
      "revoked",
      "expired",
      "canceled",
    );
    dewey.preExecute((task) => {
      if (task.args[0] === "cancel-me") throw new CancelExecution();
    });
    const cr = await dewey.enqueue(chord([
      echo.s("revoke-me"),
      echo.s("expire-me").with({ expires: 10 }),
      echo.s("cancel-me"),
      echo.s("fine"),
    ], collect));
    await cr.results.results[0].revoke();
    const tasks = await dequeueAll(dewey);
    assert.equal(tasks.length, 4);
    const later = new Date(Date.now() + 60_000);
    for (const task of tasks) await dewey.execute(task, { now: later });
    assert.deepEqual(signals, ["revoked:revoke-me", "expired:expire-me", "canceled:cancel-me"]);
    assert.equal(await drain(dewey), 1);
    const results = callbackResults();
    assert.equal(results.length, 4);
    assert.deepEqual(results, [undefined, undefined, undefined, "fine"]);
  });

  it("waits for a scheduled member; the callback is enqueued once it has run", async () => {
    const dewey = makeDewey();
    const { echo, collect, callbackResults } = chordTasks(dewey);
    const cr = await dewey.enqueue(
      chord([echo.s("later").with({ delay: 60 }), echo.s("now")], collect),
    );
    assert.equal(await dewey.scheduledCount(), 1);
    assert.equal(await drain(dewey), 1);
    assert.equal(await cr.callback.isReady(), false);
    assert.deepEqual(await dewey.readSchedule(new Date(Date.now() - 1_000)), []);
    const due = await dewey.readSchedule(new Date(Date.now() + 61_000));
    assert.equal(due.length, 1);
    await dewey.execute(due[0], { now: new Date(Date.now() + 61_000) });
    assert.equal(await drain(dewey), 1);
    assert.deepEqual(callbackResults(), ["later", "now"]);
  });

  it("a member's own error handler fires and the chord still completes", async () => {
    const dewey = makeDewey();
    const { echo, collect, callbackResults } = chordTasks(dewey);
    const boom = dewey.task("boom", () => {
      throw new TypeError("member failed");
    });
    const handled: string[] = [];
    const handler = dewey.task("handler", (e: TaskError) => void handled.push(e.message));
    await dewey.enqueue(chord([boom.s().error(handler), echo.s("fine")], collect));
    assert.equal(await drain(dewey), 4);
    assert.deepEqual(handled, ["member failed"]);
    const results = callbackResults();
    assertTaskError(results[0], "TypeError", "member failed");
    assert.equal(results[1], "fine");
  });

  it("a member throwing CancelExecution contributes its TaskError (as Huey)", async () => {
    const dewey = makeDewey();
    const { echo, collect, callbackResults } = chordTasks(dewey);
    const quits = dewey.task("quits", () => {
      throw new CancelExecution();
    });
    await dewey.enqueue(chord([quits.s(), echo.s(2)], collect));
    assert.equal(await drain(dewey), 3);
    const results = callbackResults();
    assertTaskError(results[0], "CancelExecution", "execution canceled");
    assert.equal(results[1], 2);
  });

  it("chord(...).error(h) attaches h to the callback", async () => {
    const dewey = makeDewey();
    const { echo } = chordTasks(dewey);
    const failingCallback = dewey.task("failing-callback", (results: unknown[]) => {
      throw new Error(`callback got ${results.length}`);
    });
    const seen: string[] = [];
    const handler = dewey.task("handler", (e: TaskError) => void seen.push(e.message));
    const c = chord([echo.s(1), echo.s(2)], failingCallback);
    assert.equal(c.error(handler), c);
    assert.equal(c.callback.onError?.name, "handler");
    const cr = await dewey.enqueue(c);
    assert.equal(await drain(dewey), 4);
    assert.deepEqual(seen, ["callback got 2"]);
    await rejectsWith(cr.get(), "Error", "callback got 2");
  });

  it("removes its bookkeeping once the callback is enqueued; member results stay", async () => {
    const counters = new Set<string>();
    class CountingStorage extends MemoryStorage {
      override incr(key: string, by?: number, ttl?: number): Promise<number> {
        counters.add(key);
        return super.incr(key, by, ttl);
      }
      override deleteCounter(key: string): Promise<void> {
        counters.delete(key);
        return super.deleteCounter(key);
      }
    }
    const storage = new CountingStorage();
    const dewey = makeDewey({ storage });
    const { echo, collect } = chordTasks(dewey);
    const cr = await dewey.enqueue(chord([echo.s(1), echo.s(2), echo.s(3)], collect));
    const [a, b, c] = await dequeueAll(dewey);
    await dewey.execute(a);
    await dewey.execute(b);
    // Two member results plus two chord-keyed copies with their "counted" marks, and the
    // counter.
    assert.equal(await dewey.resultCount(), 6);
    assert.equal(counters.size, 1);
    await dewey.execute(c);
    // The callback is enqueued: only the members' own results remain.
    assert.equal(await dewey.pendingCount(), 1);
    assert.equal(await dewey.resultCount(), 3);
    assert.deepEqual(counters, new Set());
    assert.deepEqual([...(await storage.resultItems()).keys()].sort(), [a.id, b.id, c.id].sort());
    assert.equal(await drain(dewey), 1);
    assert.equal(await dewey.resultCount(), 4);
    assert.deepEqual(await cr.get(), { results: [1, 2, 3], extra: [] });
    // Huey: result_count() is 3 after a 3-member chord when only the callback was read.
    assert.equal(await dewey.resultCount(), 3);
    assert.deepEqual(await cr.results.get(), [1, 2, 3]);
    assert.equal(await dewey.resultCount(), 0);
  });

  it("a member stopped between its slot and its count (storage failure, crash) does not stall the chord", async () => {
    let failures = 1;
    class FlakyIncr extends MemoryStorage {
      override incr(key: string, by?: number, ttl?: number): Promise<number> {
        if (failures-- > 0) return Promise.reject(new Error("connection reset"));
        return super.incr(key, by, ttl);
      }
    }
    const dewey = makeDewey({ storage: new FlakyIncr() });
    const { echo, collect, callbackResults } = chordTasks(dewey);
    await dewey.enqueue(chord([echo.s("a"), echo.s("b")], collect));
    const [a, b] = await dequeueAll(dewey);
    await assert.rejects(dewey.execute(a), /connection reset/);
    assert.equal(await dewey.pendingCount(), 1); // a's message went back to the queue
    await dewey.execute(b);
    assert.equal(await dewey.pendingCount(), 1); // b's count alone does not complete it
    assert.equal(await drain(dewey), 2); // a again, which completes it; then the callback
    assert.deepEqual(callbackResults(), ["a", "b"]);
    assert.equal(await dewey.resultCount(), 3); // a, b and the callback's own result
  });

  it("the member that claimed the chord and failed to enqueue the callback does it when redelivered", async () => {
    let failures = 0;
    class FlakyEnqueue extends MemoryStorage {
      override enqueue(data: string, priority: number, watch?: string[]): Promise<void> {
        if (failures-- > 0) return Promise.reject(new Error("connection reset"));
        return super.enqueue(data, priority, watch);
      }
    }
    const dewey = makeDewey({ storage: new FlakyEnqueue() });
    const { echo, collect, callbackResults } = chordTasks(dewey);
    await dewey.enqueue(chord([echo.s("a"), echo.s("b")], collect));
    const [a, b] = await dequeueAll(dewey);
    await dewey.execute(a);
    failures = 1; // b completes the set, claims the chord, then cannot enqueue the callback
    await assert.rejects(dewey.execute(b), /connection reset/);
    assert.equal(await drain(dewey), 2); // b again, then the callback
    assert.deepEqual(callbackResults(), ["a", "b"]);
  });

  it("a claimant stopped after enqueueing the callback only clears up when redelivered", async () => {
    let failures = 0;
    class FlakyClear extends MemoryStorage {
      override deleteData(key: string, expected?: string): Promise<boolean> {
        if (key.startsWith("~chord:") && failures-- > 0) {
          return Promise.reject(new Error("connection reset"));
        }
        return super.deleteData(key, expected);
      }
    }
    const storage = new FlakyClear();
    const dewey = makeDewey({ storage });
    const { echo, collect, callbackResults } = chordTasks(dewey);
    await dewey.enqueue(chord([echo.s("a"), echo.s("b")], collect));
    const [a, b] = await dequeueAll(dewey);
    await dewey.execute(a);
    failures = 1; // b enqueues the callback, then fails to clear the bookkeeping
    await assert.rejects(dewey.execute(b), /connection reset/);
    assert.equal(await dewey.pendingCount(), 2); // the callback, and b again
    assert.equal(await drain(dewey), 2);
    assert.deepEqual(callbackResults(), ["a", "b"]); // once
    assert.equal(await dewey.resultCount(), 3); // nothing of the chord's bookkeeping left
  });

  it("a member delivered twice counts once: the callback runs exactly once", async () => {
    const dewey = makeDewey();
    const { echo } = chordTasks(dewey);
    const calls: unknown[] = [];
    const callback = dewey.task("callback", (results: unknown[]) => void calls.push(results));
    const cr = await dewey.enqueue(chord([echo.s("a"), echo.s("b"), echo.s("c")], callback));
    const [a, b, c] = await dequeueAll(dewey);

    // At-least-once redelivery: the same message executed twice.
    const data = await dewey.serialize(a);
    await dewey.execute(a);
    const [copy] = await dewey.deserialize(data);
    assert.equal(copy.id, a.id);
    await dewey.execute(copy);
    await dewey.execute(b);
    assert.equal(await dewey.pendingCount(), 0);
    await dewey.execute(c);
    assert.equal(await drain(dewey), 1);
    assert.deepEqual(calls, [["a", "b", "c"]]);
    assert.equal(await cr.callback.isReady(), false); // returned undefined, nothing stored
  });

  it("a dead-lettered member does not stall the chord: its slot gets a DeadLetter TaskError", async () => {
    const dewey = makeDewey();
    const { echo, collect, callbackResults } = chordTasks(dewey);
    await dewey.enqueue(chord([echo.s("lost"), echo.s("kept")], collect));
    const [lost, kept] = await dequeueAll(dewey);
    await dewey.deadLetter(await dewey.serialize(lost), "poison message");
    const letters = await dewey.deadLetters();
    assert.equal(letters.length, 1);
    assert.equal(letters[0].reason, "poison message");
    assert.equal(await dewey.pendingCount(), 0);
    await dewey.execute(kept);
    assert.equal(await drain(dewey), 1);
    const results = callbackResults();
    assert.equal(results.length, 2);
    assertTaskError(results[0], "DeadLetter", "poison message");
    assert.equal(results[1], "kept");
  });

  it("rejects an empty chord and members that are not tasks", () => {
    const dewey = makeDewey();
    const { echo, collect } = chordTasks(dewey);
    assert.throws(() => chord([], collect), RangeError);
    // deno-lint-ignore no-explicit-any
    const bad: any[] = [1, "x", null, {}, echo];
    for (const member of bad) {
      assert.throws(() => chord([echo.s(1), member], collect), TypeError);
      assert.throws(() => group([member]), TypeError);
    }
    // deno-lint-ignore no-explicit-any
    assert.throws(() => chord("nope" as any, collect), TypeError);
    // deno-lint-ignore no-explicit-any
    assert.throws(() => chord([echo.s(1)], 42 as any), TypeError);
  });
});
