/**
 * The event log: consumers publish their signals and heartbeats (`events: true`), any
 * process reads them with `dewey.events()`; on MemoryStorage and SQLite (the same
 * contract calls serve every storage). Expired records are gone past, the publisher's
 * buffer is capped with a counted note, and heartbeats list the live consumers.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Dewey,
  type DeweyEvent,
  type HeartbeatEvent,
  liveConsumers,
  MemoryStorage,
  type Storage,
  type TaskEvent,
} from "../mod.ts";
import { Consumer } from "../consumer.ts";
import { SqliteStorage } from "../sqlite.ts";
import { EventPublisher } from "../src/events/publisher.ts";
import { readEvents } from "../src/events/reader.ts";
import { eventKey } from "../src/events/log.ts";

const dir = mkdtempSync(join(tmpdir(), "dewey-events-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const dbPath = () => join(dir, `events-${files++}.db`);
const silent = { write() {} };

/** Every event kept in `dewey`'s log, read to the end. */
async function all(dewey: Dewey, options = {}): Promise<DeweyEvent[]> {
  const events: DeweyEvent[] = [];
  for await (const event of dewey.events({ from: 0, follow: false, ...options })) {
    events.push(event);
  }
  return events;
}

const taskEvents = (events: DeweyEvent[]) =>
  events.filter((e): e is TaskEvent => e.signal !== "heartbeat" && e.signal !== "dropped");
const heartbeats = (events: DeweyEvent[]) =>
  events.filter((e): e is HeartbeatEvent => e.signal === "heartbeat");

/** Runs `body` with a consumer of `dewey` running, then stops it (which flushes). */
async function withConsumer(
  dewey: Dewey,
  body: (consumer: Consumer) => Promise<void>,
  options = {},
): Promise<Consumer> {
  const consumer = new Consumer(dewey, { periodic: false, log: silent, ...options });
  const running = consumer.run();
  try {
    await body(consumer);
  } finally {
    consumer.stop();
    await running;
  }
  return consumer;
}

/** A task module's instance on `storage` with `add` and `fail`. */
function instance(storage: Storage, events = true) {
  const dewey = new Dewey({ name: "events", storage, events });
  const add = dewey.task("add", (a: number, b: number) => a + b);
  const fail = dewey.task("fail", () => {
    throw new RangeError("no such thing");
  });
  return { dewey, add, fail };
}

for (
  const [label, open] of [
    ["MemoryStorage", () => ({ storage: new MemoryStorage(), path: "" })],
    ["SqliteStorage", () => {
      const path = dbPath();
      return { storage: new SqliteStorage({ path }), path };
    }],
  ] as const
) {
  describe(`events on ${label}`, () => {
    it("publishes each signal of a task and the consumer's heartbeats", async () => {
      const { dewey, add, fail } = instance(open().storage);
      let addId = "";
      let failId = "";
      const consumer = await withConsumer(dewey, async () => {
        const sum = await add(1, 2);
        addId = sum.id;
        assert.equal(await sum.get({ blocking: true, timeout: 10 }), 3);
        const failed = await fail();
        failId = failed.id;
        await assert.rejects(failed.get({ blocking: true, timeout: 10 }));
      }, { workers: 2 });
      const events = await all(dewey);
      const tasks = taskEvents(events);
      assert.deepEqual(
        tasks.map((e) => `${e.task} ${e.signal}`),
        [
          "add enqueued",
          "add executing",
          "add complete",
          "fail enqueued",
          "fail executing",
          "fail error",
        ],
      );
      assert.deepEqual(tasks.slice(0, 3).map((e) => e.id), [addId, addId, addId]);
      assert.equal(tasks[5].id, failId);
      assert.equal(tasks[5].error, "RangeError: no such thing");
      assert.equal(tasks[2].retries, 0);
      assert.equal(typeof tasks[2].duration, "number");
      assert.ok(tasks[2].duration! >= 0 && tasks[2].duration! < 10);
      assert.equal(tasks[0].duration, undefined);
      assert.equal(JSON.stringify(tasks).includes("[1,2]"), false, "no arguments published");
      // Every event names the consumer, and its record's number.
      const beats = heartbeats(events);
      const id = beats[0].consumer.id;
      assert.ok(events.every((e) => e.source === id && Number.isInteger(e.seq) && e.seq >= 1));
      assert.equal(beats[0].consumer.state, "running");
      assert.equal(beats[0].consumer.workers, 2);
      assert.equal(beats[0].consumer.workerType, "async");
      const last = beats.at(-1)!;
      assert.equal(last.consumer.state, "stopped");
      assert.equal(last.consumer.tasksDone, 2);
      assert.equal(consumer.metrics.count("add", "complete"), 1);
      assert.equal(consumer.metrics.count("fail", "error"), 1);
      await dewey.close();
    });

    it("follows new events live, from another instance on the same storage", async () => {
      const { storage, path } = open();
      const { dewey, add } = instance(storage);
      // A reader with its own storage object where the storage is shared (SQLite file).
      const reader = label === "SqliteStorage"
        ? new Dewey({ name: "events", storage: new SqliteStorage({ path }) })
        : dewey;
      const abort = new AbortController();
      const seen: string[] = [];
      const reading = (async () => {
        for await (
          const event of reader.events({ signal: ["complete", "error"], abort: abort.signal })
        ) {
          if (event.signal === "complete" || event.signal === "error") {
            seen.push(`${event.task} ${event.signal}`);
          }
          if (seen.length === 2) break;
        }
      })();
      await withConsumer(dewey, async () => {
        await (await add(1, 1)).get({ blocking: true, timeout: 10 });
        await (await add(2, 2)).get({ blocking: true, timeout: 10 });
        await Promise.race([reading, new Promise((r) => setTimeout(r, 10_000))]);
      });
      abort.abort();
      await reading;
      assert.deepEqual(seen, ["add complete", "add complete"]);
      if (reader !== dewey) await reader.close();
      await dewey.close();
    });

    it("filters by signal", async () => {
      const { dewey, add, fail } = instance(open().storage);
      await withConsumer(dewey, async () => {
        await (await add(1, 2)).get({ blocking: true, timeout: 10 });
        await assert.rejects((await fail()).get({ blocking: true, timeout: 10 }));
      });
      const errors = await all(dewey, { signal: "error" });
      assert.deepEqual(errors.map((e) => e.signal), ["error"]);
      const some = await all(dewey, { signal: ["complete", "heartbeat"] });
      assert.deepEqual(
        [...new Set(some.map((e) => e.signal))].sort(),
        ["complete", "heartbeat"],
      );
      assert.equal(some.filter((e) => e.signal === "complete").length, 1);
      await dewey.close();
    });

    it("publishes nothing unless asked, and the consumer option wins", async () => {
      const off = instance(open().storage, false);
      await withConsumer(off.dewey, async () => {
        await (await off.add(1, 2)).get({ blocking: true, timeout: 10 });
      });
      assert.deepEqual(await all(off.dewey), []);
      await withConsumer(off.dewey, async () => {
        await (await off.add(1, 2)).get({ blocking: true, timeout: 10 });
      }, { events: true });
      assert.deepEqual(
        taskEvents(await all(off.dewey)).map((e) => e.signal),
        ["enqueued", "executing", "complete"],
      );
      await off.dewey.close();
    });
  });
}

describe("the event log", () => {
  it("goes past expired records, and `from` counts back from the newest", async () => {
    let now = 1_000_000;
    const storage = new MemoryStorage({ clock: () => now });
    const dewey = new Dewey({ name: "expiry", storage });
    const publisher = new EventPublisher({
      storage: () => dewey.storage,
      consumer: () => ({ workerType: "async", workers: 1, tasksDone: 0, running: () => [] }),
      ttl: 60,
      clock: () => now,
    });
    for (const id of ["a", "b", "c", "d"]) {
      publisher.record("complete", { id, name: "job" });
      await publisher.flush();
      now += 20_000; // records at 0 s, 20 s, 40 s, 60 s
    }
    now = 1_000_000 + 85_000; // records 1 (0 s) and 2 (20 s) have expired
    const ids = async (options: object) =>
      taskEvents(await all(dewey, options)).map((e) => `${e.seq}:${e.id}`);
    assert.deepEqual(await ids({}), ["3:c", "4:d"]);
    assert.deepEqual(await ids({ from: 2 }), ["3:c", "4:d"]);
    assert.deepEqual(await ids({ from: 4 }), ["4:d"]);
    assert.deepEqual(await ids({ from: -1 }), ["4:d"]);
    assert.deepEqual(await ids({ from: -3 }), ["3:c", "4:d"]);
    // A record gone in the middle (deleted here) is gone past too.
    await storage.deleteData(eventKey(3));
    assert.deepEqual(await ids({}), ["4:d"]);
  });

  it("waits for a record whose number is taken but that is not written yet", async () => {
    const storage = new MemoryStorage();
    storage.bind("gap");
    const record = (id: string) =>
      JSON.stringify({
        at: 1,
        consumer: "c",
        events: [{ signal: "complete", id, task: "t", at: 1 }],
      });
    await storage.incr("~ev");
    await storage.putData(eventKey(1), record("one"));
    await storage.incr("~ev"); // number 2 taken, its write still on the way
    await storage.incr("~ev");
    await storage.putData(eventKey(3), record("three"));
    const seen: string[] = [];
    const reading = (async () => {
      for await (const event of readEvents(storage, { from: 0 })) {
        if (event.signal === "complete") seen.push(event.id);
        if (seen.length === 3) break;
      }
    })();
    await storage.putData(eventKey(2), record("two"));
    await reading;
    assert.deepEqual(seen, ["one", "two", "three"]);
  });

  it("caps its buffer while the storage fails, and says how many events it dropped", async () => {
    const storage = new MemoryStorage();
    storage.bind("cap");
    let broken = true;
    const failing = new Proxy(storage, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (property === "incr" && broken) return () => Promise.reject(new Error("down"));
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const reports: string[] = [];
    const publisher = new EventPublisher({
      storage: () => failing,
      consumer: () => ({ workerType: "async", workers: 1, tasksDone: 0, running: () => [] }),
      maxBuffer: 3,
      report: (error) => reports.push(error === undefined ? "ok" : (error as Error).message),
      clock: () => 5,
    });
    for (const id of ["1", "2", "3", "4", "5"]) publisher.record("executing", { id, name: "t" });
    assert.equal(publisher.dropped, 2);
    assert.equal(publisher.buffered, 3);
    await publisher.flush();
    await publisher.flush();
    publisher.record("complete", { id: "5", name: "t" }); // one more: one more dropped
    assert.deepEqual(reports, ["down"]);
    assert.equal(publisher.buffered, 3);
    assert.equal(publisher.dropped, 3);
    broken = false;
    await publisher.flush();
    assert.deepEqual(reports, ["down", "ok"]);
    assert.equal(publisher.dropped, 0);
    assert.equal(publisher.buffered, 0);
    const events: DeweyEvent[] = [];
    for await (const event of readEvents(storage, { from: 0, follow: false })) events.push(event);
    assert.deepEqual(
      events.map((e) =>
        e.signal === "dropped" ? `dropped ${e.count}` : `${e.signal} ${"id" in e ? e.id : ""}`
      ),
      ["dropped 3", "executing 4", "executing 5", "complete 5"],
    );
  });

  it("splits a large flush into records of at most 48 KiB, in order", async () => {
    const storage = new MemoryStorage();
    storage.bind("big");
    const publisher = new EventPublisher({
      storage: () => storage,
      consumer: () => ({ workerType: "async", workers: 1, tasksDone: 0, running: () => [] }),
    });
    // Non-ASCII names: a record's size is counted in UTF-8 bytes, not characters.
    for (let n = 0; n < 3000; n++) publisher.record("complete", { id: `${n}`, name: "タスク" });
    await publisher.flush();
    const records = await storage.incr("~ev", 0);
    assert.ok(records >= 5, `${records} records`);
    for (let seq = 1; seq <= records; seq++) {
      const bytes = new TextEncoder().encode((await storage.peekData(eventKey(seq)))!).length;
      assert.ok(bytes <= 48 * 1024, `record ${seq}: ${bytes} bytes`);
    }
    const ids: string[] = [];
    for await (const event of readEvents(storage, { from: 0, follow: false })) {
      if (event.signal === "complete") ids.push(event.id);
      if (event.signal === "complete") assert.equal(event.task, "タスク");
    }
    assert.deepEqual(ids, Array.from({ length: 3000 }, (_, n) => `${n}`));
  });

  it("lists live consumers from their heartbeats", async () => {
    let now = 1_000_000;
    const storage = new MemoryStorage({ clock: () => now });
    const dewey = new Dewey({ name: "beats", storage });
    const running = [{ id: "t-1", name: "resize" }];
    const publisher = (workers: number) =>
      new EventPublisher({
        storage: () => dewey.storage,
        consumer: () => ({ workerType: "worker", workers, tasksDone: 7, running: () => running }),
        heartbeatInterval: 5,
        clock: () => now,
      });
    const first = publisher(2);
    const second = publisher(4);
    first.record("executing", { id: "t-1", name: "resize" });
    first.heartbeat();
    second.heartbeat();
    await first.flush();
    await second.flush();
    const list = () => liveConsumers(dewey.events({ from: 0, follow: false }), now);
    const live = await list();
    assert.deepEqual(
      live.map((c) => [c.id, c.workers, c.workerType, c.tasksDone]),
      [
        [first.id, 2, "worker", 7],
        [second.id, 4, "worker", 7],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    const firstInfo = live.find((c) => c.id === first.id)!;
    assert.deepEqual(firstInfo.current, [{ id: "t-1", task: "resize", since: 1_000_000 }]);
    assert.equal(firstInfo.seen, 1_000_000);
    assert.equal(firstInfo.interval, 5);
    // The second stops (a last heartbeat says so); the first goes quiet for 3 intervals.
    second.heartbeat("stopped");
    await second.flush();
    assert.deepEqual((await list()).map((c) => c.id), [first.id]);
    now += 15_000;
    assert.deepEqual((await list()).map((c) => c.id), [first.id]);
    now += 1;
    assert.deepEqual(await list(), []);
  });

  it("rejects bad options", async () => {
    const dewey = new Dewey();
    const first = (options: object) => dewey.events(options)[Symbol.asyncIterator]().next();
    await assert.rejects(first({ from: 1.5 }), RangeError);
    await assert.rejects(first({ pollInterval: 0 }), RangeError);
    await assert.rejects(first({ gapTimeout: -1 }), RangeError);
  });
});
