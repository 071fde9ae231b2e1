import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage } from "../src/storage/memory.ts";
import { BlackHoleStorage } from "../src/storage/black_hole.ts";
import { storageConformance } from "./storage_conformance.ts";

storageConformance("MemoryStorage", {
  create(name) {
    // Separate objects never share data, so each name gets its own.
    const storage = new MemoryStorage();
    storage.bind(name);
    return storage;
  },
  destroy: (storage) => storage.close(),
  watchesKeys: true,
});

/** A storage on a clock the test moves by hand. */
function clocked(start = 0): { storage: MemoryStorage; at(ms: number): void } {
  let time = start;
  const storage = new MemoryStorage({ clock: () => time });
  return { storage, at: (ms) => void (time = ms) };
}

/** Whether `promise` has settled once pending callbacks have run, without waiting on timers. */
async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  for (let i = 0; i < 20; i++) await Promise.resolve();
  return settled;
}

/**
 * Runs `body` while counting live timers (set, neither fired nor cleared), so a test can
 * check that a settled wait leaves no timer holding the process open.
 */
async function trackingTimers(body: (live: () => number) => Promise<void>): Promise<void> {
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const live = new Set<unknown>();
  // deno-lint-ignore no-explicit-any
  const patched = globalThis as any;
  patched.setTimeout = (callback: () => void, delay?: number) => {
    const id = realSet(() => {
      live.delete(id);
      callback();
    }, delay);
    live.add(id);
    return id;
  };
  patched.clearTimeout = (id: ReturnType<typeof setTimeout>) => {
    live.delete(id);
    realClear(id);
  };
  try {
    await body(() => live.size);
  } finally {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
  }
}

describe("MemoryStorage specifics", () => {
  describe("ttl on the injected clock", () => {
    it("putData with a ttl expires at write time + ttl", async () => {
      const { storage, at } = clocked(1000);
      await storage.putData("k", "v", 10);
      at(10_999);
      assert.equal(await storage.peekData("k"), "v");
      at(11_000);
      assert.equal(await storage.peekData("k"), undefined);
      assert.equal(await storage.hasData("k"), false);
      assert.equal(await storage.popData("k"), undefined);
      assert.equal(await storage.deleteData("k"), false);
      assert.equal(await storage.resultCount(), 0);
      assert.deepEqual(await storage.resultItems(), new Map());
    });

    it("expired keys drop out of resultCount and resultItems", async () => {
      const { storage, at } = clocked();
      await storage.putData("short", "1", 1);
      await storage.putData("long", "2", 100);
      await storage.putData("forever", "3");
      at(1000);
      assert.equal(await storage.resultCount(), 2);
      assert.deepEqual(await storage.resultItems(), new Map([["long", "2"], ["forever", "3"]]));
    });

    it("putData without a ttl removes an earlier ttl", async () => {
      const { storage, at } = clocked();
      await storage.putData("k", "short", 1);
      await storage.putData("k", "kept");
      at(10 ** 12);
      assert.equal(await storage.peekData("k"), "kept");
    });

    it("putIfEmpty treats an expired key as empty", async () => {
      const { storage, at } = clocked();
      assert.equal(await storage.putIfEmpty("lock", "a", 5), true);
      at(4999);
      assert.equal(await storage.putIfEmpty("lock", "b", 5), false);
      assert.equal(await storage.deleteData("lock", "a"), true);
      assert.equal(await storage.putIfEmpty("lock", "c", 5), true);
      at(9999);
      assert.equal(await storage.putIfEmpty("lock", "d", 5), true);
      assert.equal(await storage.peekData("lock"), "d");
    });

    it("compare-and-delete fails on an expired key", async () => {
      const { storage, at } = clocked();
      await storage.putIfEmpty("lock", "mine", 5);
      at(5000);
      assert.equal(await storage.deleteData("lock", "mine"), false);
    });

    it("incr's ttl applies when the counter is created and is not refreshed", async () => {
      const { storage, at } = clocked();
      assert.equal(await storage.incr("window", 1, 10), 1);
      at(5000);
      assert.equal(await storage.incr("window", 1, 10), 2);
      at(9999);
      assert.equal(await storage.incr("window", 0), 2);
      at(10_000);
      assert.equal(await storage.incr("window", 0), 0);
      assert.equal(await storage.incr("window"), 1);
    });

    it("a ttl given to an existing counter is ignored", async () => {
      const { storage, at } = clocked();
      await storage.incr("c");
      await storage.incr("c", 1, 1);
      at(10 ** 12);
      assert.equal(await storage.incr("c", 0), 2);
    });

    it("an invalid ttl rejects with a RangeError and stores nothing", async () => {
      const storage = new MemoryStorage();
      for (const ttl of [0, -1, NaN, Infinity]) {
        await assert.rejects(storage.putData("k", "v", ttl), RangeError);
        await assert.rejects(storage.putIfEmpty("k", "v", ttl), RangeError);
        await assert.rejects(storage.incr("c", 1, ttl), RangeError);
      }
      assert.equal(await storage.hasData("k"), false);
      assert.equal(await storage.incr("c", 0), 0);
    });

    it("the clock is the default for every now parameter", async () => {
      const { storage, at } = clocked(1000);
      await storage.enqueue("job", 0);
      const leased = await storage.dequeue(30);
      at(30_999);
      assert.equal(await storage.requeueExpired(), 0);
      assert.deepEqual(await storage.extend([leased!.lease], 30), [leased!.lease]);
      at(60_998);
      assert.equal(await storage.requeueExpired(), 0);
      at(60_999);
      assert.equal(await storage.requeueExpired(), 1);
      await storage.deadLetter("m", "r");
      assert.equal((await storage.deadLetters())[0].at, 60_999);
    });
  });

  describe("queue order", () => {
    it("a requeued message goes back ahead of later messages of its priority", async () => {
      const storage = new MemoryStorage();
      await storage.enqueue("a", 0);
      await storage.enqueue("b", 0);
      const leased = await storage.dequeue(30, 1000);
      assert.equal(leased?.data, "a");
      await storage.enqueue("c", 0);
      await storage.release(leased!.lease);
      assert.deepEqual(await storage.enqueuedItems(), ["a", "b", "c"]);
      const again = await storage.dequeue(30, 1000);
      await storage.requeueExpired(31_000);
      assert.equal(again?.data, "a");
      assert.deepEqual(await storage.enqueuedItems(), ["a", "b", "c"]);
    });

    it("keeps order over many messages", async () => {
      const storage = new MemoryStorage();
      const sent = Array.from({ length: 500 }, (_, i) => ({ data: `m${i}`, priority: i % 7 }));
      await storage.enqueueMany(sent);
      const expected = sent.slice().sort((a, b) => b.priority - a.priority).map((m) => m.data);
      assert.deepEqual(await storage.enqueuedItems(), expected);
      assert.deepEqual(await storage.enqueuedItems(3), expected.slice(0, 3));
      const taken: string[] = [];
      for (let m = await storage.dequeue(30); m; m = await storage.dequeue(30)) taken.push(m.data);
      assert.deepEqual(taken, expected);
    });

    it("an invalid priority rejects and enqueueMany adds nothing", async () => {
      const storage = new MemoryStorage();
      await assert.rejects(storage.enqueue("x", NaN), RangeError);
      await assert.rejects(
        storage.enqueueMany([{ data: "ok", priority: 0 }, { data: "bad", priority: Infinity }]),
        RangeError,
      );
      assert.equal(await storage.queueSize(), 0);
      await assert.rejects(storage.dequeue(NaN), RangeError);
      await assert.rejects(storage.addToSchedule("x", NaN), RangeError);
      await assert.rejects(storage.enqueuedItems(-1), RangeError);
    });

    it("work is done before the promise is awaited", () => {
      const storage = new MemoryStorage();
      void storage.enqueue("a", 0);
      void storage.putData("k", "v");
      void storage.incr("c");
      return Promise.all([storage.queueSize(), storage.peekData("k"), storage.incr("c", 0)])
        .then((values) => assert.deepEqual(values, [1, "v", 1]));
    });
  });

  describe("bind", () => {
    it("works unbound under the name dewey, and binds once", () => {
      const storage = new MemoryStorage();
      assert.equal(storage.name, "dewey");
      storage.bind("app");
      storage.bind("app");
      assert.equal(storage.name, "app");
      assert.throws(() => storage.bind("other"), {
        name: "TypeError",
        message: 'Storage is already bound to "app"',
      });
    });
  });

  describe("waitForMessage", () => {
    it("wakes on enqueue, enqueueMany, release, requeueExpired and requeueDeadLetter", async () => {
      const storage = new MemoryStorage();
      let lease = "";
      let deadId = "";
      const cases: Array<
        { name: string; setup?: () => Promise<void>; wake: () => Promise<unknown> }
      > = [
        { name: "enqueue", wake: () => storage.enqueue("m", 0) },
        { name: "enqueueMany", wake: () => storage.enqueueMany([{ data: "m", priority: 0 }]) },
        {
          name: "release",
          setup: async () => {
            await storage.enqueue("m", 0);
            lease = (await storage.dequeue(30, 1000))!.lease;
          },
          wake: () => storage.release(lease),
        },
        {
          name: "requeueExpired",
          setup: async () => {
            await storage.enqueue("m", 0);
            await storage.dequeue(30, 1000);
          },
          wake: () => storage.requeueExpired(31_000),
        },
        {
          name: "requeueDeadLetter",
          setup: async () => void (deadId = await storage.deadLetter("m", "r")),
          wake: () => storage.requeueDeadLetter(deadId),
        },
      ];
      await trackingTimers(async (live) => {
        for (const { name, setup, wake } of cases) {
          await storage.flushAll();
          await setup?.();
          const waiting = storage.waitForMessage(10);
          assert.equal(await hasSettled(waiting), false, name);
          await wake();
          assert.equal(await hasSettled(waiting), true, name);
          assert.equal(live(), 0, `timer left after ${name}`);
        }
      });
    });

    it("does not wake on writes that bring no message", async () => {
      const storage = new MemoryStorage();
      await trackingTimers(async (live) => {
        const waiting = storage.waitForMessage(10);
        await storage.addToSchedule("later", 1000);
        await storage.putData("k", "v");
        await storage.deadLetter("m", "r");
        await storage.requeueExpired(10 ** 13);
        await storage.enqueueMany([]);
        assert.equal(await hasSettled(waiting), false);
        assert.equal(live(), 1);
        await storage.close();
        assert.equal(await hasSettled(waiting), true);
        assert.equal(live(), 0);
      });
    });

    it("resolves at once while a message is waiting", async () => {
      const storage = new MemoryStorage();
      await storage.enqueue("m", 0);
      await trackingTimers(async (live) => {
        assert.equal(await hasSettled(storage.waitForMessage(10)), true);
        assert.equal(live(), 0);
      });
    });

    it("resolves on abort and removes its timer", async () => {
      const storage = new MemoryStorage();
      const controller = new AbortController();
      await trackingTimers(async (live) => {
        const waiting = storage.waitForMessage(10, controller.signal);
        assert.equal(live(), 1);
        controller.abort();
        assert.equal(await hasSettled(waiting), true);
        assert.equal(live(), 0);
      });
    });

    it("resolves on its timeout", async () => {
      const storage = new MemoryStorage();
      await trackingTimers(async (live) => {
        await storage.waitForMessage(0.01);
        assert.equal(live(), 0);
      });
    });

    it("sets no timer for an infinite timeout", async () => {
      const storage = new MemoryStorage();
      await trackingTimers(async (live) => {
        const waiting = storage.waitForMessage(Infinity);
        assert.equal(live(), 0);
        await storage.enqueue("m", 0);
        assert.equal(await hasSettled(waiting), true);
      });
    });

    it("wakes every waiter, and only in the storage written to", async () => {
      const storage = new MemoryStorage();
      const other = new MemoryStorage();
      await trackingTimers(async (live) => {
        const first = storage.waitForMessage(10);
        const second = storage.waitForMessage(10);
        const elsewhere = other.waitForMessage(10);
        await storage.enqueue("m", 0);
        assert.equal(await hasSettled(Promise.all([first, second])), true);
        assert.equal(await hasSettled(elsewhere), false);
        await other.close();
        assert.equal(live(), 0);
      });
    });
  });

  describe("waitForData", () => {
    it("wakes on putData and putIfEmpty for its key only", async () => {
      const storage = new MemoryStorage();
      await trackingTimers(async (live) => {
        const byPut = storage.waitForData("a", 10);
        const byPutIfEmpty = storage.waitForData("b", 10);
        await storage.putData("unrelated", "v");
        assert.equal(await hasSettled(byPut), false);
        await storage.putData("a", "v");
        await storage.putIfEmpty("b", "v");
        assert.equal(await byPut, true);
        assert.equal(await byPutIfEmpty, true);
        assert.equal(live(), 0);
      });
    });

    it("waits forever without a timeout, with no timer", async () => {
      const storage = new MemoryStorage();
      await trackingTimers(async (live) => {
        const waiting = storage.waitForData("k");
        assert.equal(live(), 0);
        assert.equal(await hasSettled(waiting), false);
        await storage.putData("k", "v");
        assert.equal(await waiting, true);
      });
    });

    it("an expired key is not there", async () => {
      const { storage, at } = clocked();
      await storage.putData("k", "v", 1);
      at(1000);
      assert.equal(await storage.waitForData("k", 0), false);
    });

    it("gives false on timeout and on close", async () => {
      const storage = new MemoryStorage();
      await trackingTimers(async (live) => {
        assert.equal(await storage.waitForData("k", 0.01), false);
        const waiting = storage.waitForData("k");
        await storage.close();
        assert.equal(await waiting, false);
        assert.equal(live(), 0);
      });
    });
  });
});

describe("BlackHoleStorage", () => {
  it("discards every write and reads back empty", async () => {
    const storage = new BlackHoleStorage();
    await storage.enqueue("m", 0);
    await storage.enqueueMany([{ data: "m", priority: 1 }]);
    assert.equal(await storage.dequeue(30), undefined);
    assert.equal(await storage.queueSize(), 0);
    assert.equal(await storage.leasedCount(), 0);
    assert.deepEqual(await storage.enqueuedItems(), []);
    assert.deepEqual(await storage.extend(["lease"], 30), []);
    assert.equal(await storage.requeueExpired(10 ** 13), 0);
    await storage.ack("lease");
    await storage.release("lease");

    await storage.addToSchedule("s", 0);
    assert.deepEqual(await storage.readSchedule(10 ** 13), []);
    assert.equal(await storage.scheduleSize(), 0);
    assert.deepEqual(await storage.scheduledItems(), []);

    await storage.putData("k", "v");
    assert.equal(await storage.peekData("k"), undefined);
    assert.equal(await storage.popData("k"), undefined);
    assert.equal(await storage.hasData("k"), false);
    assert.equal(await storage.deleteData("k"), false);
    assert.equal(await storage.resultCount(), 0);
    assert.deepEqual(await storage.resultItems(), new Map());

    const id = await storage.deadLetter("m", "r");
    assert.equal(typeof id, "string");
    assert.deepEqual(await storage.deadLetters(), []);
    assert.equal(await storage.requeueDeadLetter(id), false);
    assert.equal(await storage.purgeDeadLetters(), 0);

    await storage.flushQueue();
    await storage.flushSchedule();
    await storage.flushResults();
    await storage.flushCounters();
    await storage.deleteCounter("c");
    await storage.flushAll();
    await storage.close();
  });

  it("incr returns by and putIfEmpty always succeeds", async () => {
    const storage = new BlackHoleStorage();
    assert.equal(await storage.incr("c"), 1);
    assert.equal(await storage.incr("c", 5), 5);
    assert.equal(await storage.incr("c", -2), -2);
    assert.equal(await storage.putIfEmpty("lock", "a"), true);
    assert.equal(await storage.putIfEmpty("lock", "b"), true);
  });

  it("has no wait methods, so callers poll", () => {
    const storage = new BlackHoleStorage();
    assert.equal("waitForMessage" in storage, false);
    assert.equal("waitForData" in storage, false);
  });

  it("binds like every storage", () => {
    const storage = new BlackHoleStorage();
    assert.equal(storage.name, "dewey");
    storage.bind("app");
    storage.bind("app");
    assert.throws(() => storage.bind("other"), TypeError);
  });
});
