/**
 * The storage contract as tests: every adapter's test file calls
 * {@linkcode storageConformance} with a factory for its storage. Time is driven through
 * the `now` parameters, never by sleeping; only the optional wait methods use real
 * timers (a test that expects a wake-up gives a long timeout and returns at the wake-up).
 *
 * Runs under `deno test` and `bun test` (nested `describe` + `it` from `node:test`).
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { LeasedMessage, Storage } from "../src/storage/storage.ts";

/** How the suite gets storages for one adapter. */
export interface ConformanceOptions {
  /**
   * Makes a fresh, bound, empty storage for `name`. Calls may share one backend, so a
   * shared backend must be emptied for that name here.
   */
  create(name: string): Promise<Storage> | Storage;
  /** Optional cleanup after each test, e.g. `flushAll` and `close`. */
  destroy?(storage: Storage): Promise<void> | void;
  /**
   * Whether the storage reads watch keys with a lease (`LeasedMessage.watched`); when not,
   * the suite checks that it never returns them.
   */
  watchesKeys?: boolean;
}

/** Instance name of every test except the namespace-isolation ones. */
const NAME = "conformance";

/** Far enough in the future that every lease has expired. */
const LATER = 10 ** 13;

/**
 * Registers the conformance tests for one storage adapter under `describe(label)`.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "@dewey/dewey";
 * import { storageConformance } from "./storage_conformance.ts";
 *
 * storageConformance("MemoryStorage", {
 *   create(name) {
 *     const storage = new MemoryStorage();
 *     storage.bind(name);
 *     return storage;
 *   },
 * });
 * ```
 */
export function storageConformance(label: string, options: ConformanceOptions): void {
  /** A test that gets its own fresh storage and always cleans it up. */
  function test(title: string, body: (storage: Storage) => Promise<void>): void {
    it(title, async () => {
      const storage = await options.create(NAME);
      try {
        await body(storage);
      } finally {
        await options.destroy?.(storage);
      }
    });
  }

  /** Dequeues and acks everything, returning the messages in dequeue order. */
  async function drain(storage: Storage): Promise<string[]> {
    const taken: string[] = [];
    for (let leased = await storage.dequeue(30); leased; leased = await storage.dequeue(30)) {
      taken.push(leased.data);
      await storage.ack(leased.lease);
    }
    return taken;
  }

  async function mustDequeue(
    storage: Storage,
    visibility = 30,
    now?: number,
  ): Promise<LeasedMessage> {
    const leased = await storage.dequeue(visibility, now);
    assert.ok(leased, "expected a message");
    return leased;
  }

  describe(label, () => {
    describe("bind", () => {
      test("binding again to the same name is allowed, to another throws", async (s) => {
        s.bind(NAME);
        assert.throws(() => s.bind("another"), TypeError);
        await s.enqueue("still works", 0);
        assert.equal(await s.queueSize(), 1);
      });
    });

    describe("queue", () => {
      test("dequeues by priority, larger first, FIFO among equals", async (s) => {
        const priorities = [0, 5, 0, 10, 5, -1];
        for (const [i, priority] of priorities.entries()) await s.enqueue(`m${i}`, priority);
        assert.deepEqual(await drain(s), ["m3", "m1", "m4", "m0", "m2", "m5"]);
        assert.equal(await s.dequeue(30), undefined);
      });

      test("fractional and large priorities order correctly", async (s) => {
        await s.enqueue("half", 0.5);
        await s.enqueue("big", 1e9);
        await s.enqueue("negative", -1e9);
        await s.enqueue("zero", 0);
        assert.deepEqual(await drain(s), ["big", "half", "zero", "negative"]);
      });

      test("enqueueMany keeps the order of the items", async (s) => {
        await s.enqueueMany([
          { data: "a", priority: 0 },
          { data: "b", priority: 5 },
          { data: "c", priority: 0 },
          { data: "d", priority: 5 },
        ]);
        await s.enqueueMany([]);
        assert.equal(await s.queueSize(), 4);
        assert.deepEqual(await s.enqueuedItems(), ["b", "d", "a", "c"]);
        assert.deepEqual(await drain(s), ["b", "d", "a", "c"]);
      });

      test("enqueueMany after enqueue stays FIFO", async (s) => {
        await s.enqueue("first", 1);
        await s.enqueueMany([{ data: "second", priority: 1 }, { data: "third", priority: 1 }]);
        await s.enqueue("fourth", 1);
        assert.deepEqual(await drain(s), ["first", "second", "third", "fourth"]);
      });

      test("messages come back byte for byte", async (s) => {
        const odd = 'héllo\n"quoted"\t\\ ✓ 🎉 {"json":[1,2]}';
        await s.enqueue(odd, 0);
        await s.enqueue("", 0);
        assert.deepEqual(await drain(s), [odd, ""]);
      });

      test("enqueuedItems is non-destructive, in dequeue order, and limited", async (s) => {
        await s.enqueue("low", 0);
        await s.enqueue("high", 9);
        await s.enqueue("mid", 3);
        assert.deepEqual(await s.enqueuedItems(), ["high", "mid", "low"]);
        assert.deepEqual(await s.enqueuedItems(2), ["high", "mid"]);
        assert.deepEqual(await s.enqueuedItems(10), ["high", "mid", "low"]);
        assert.deepEqual(await s.enqueuedItems(0), []);
        assert.equal(await s.queueSize(), 3);
        await mustDequeue(s);
        assert.deepEqual(await s.enqueuedItems(), ["mid", "low"]);
      });

      test("dequeue on an empty queue returns undefined", async (s) => {
        assert.equal(await s.dequeue(30), undefined);
        assert.equal(await s.dequeue(30, 1000), undefined);
        assert.deepEqual(await s.enqueuedItems(), []);
      });

      test("a leased message is hidden from a second dequeue", async (s) => {
        await s.enqueue("only", 0);
        const leased = await mustDequeue(s, 30, 1000);
        assert.equal(leased.data, "only");
        assert.equal(typeof leased.lease, "string");
        assert.ok(leased.lease.length > 0);
        assert.equal(await s.dequeue(30, 1000), undefined);
        assert.equal(await s.queueSize(), 0);
        assert.equal(await s.leasedCount(), 1);
      });

      test("each dequeue gets its own lease", async (s) => {
        await s.enqueue("a", 0);
        await s.enqueue("b", 0);
        const first = await mustDequeue(s);
        const second = await mustDequeue(s);
        assert.notEqual(first.lease, second.lease);
        assert.deepEqual([first.data, second.data], ["a", "b"]);
      });

      test("an expired lease is requeued at its deadline, not before", async (s) => {
        await s.enqueue("job", 0);
        const first = await mustDequeue(s, 30, 1000);
        assert.equal(await s.requeueExpired(30_999), 0);
        assert.equal(await s.leasedCount(), 1);
        assert.equal(await s.requeueExpired(31_000), 1);
        assert.equal(await s.queueSize(), 1);
        assert.equal(await s.leasedCount(), 0);
        const second = await mustDequeue(s, 30, 31_000);
        assert.equal(second.data, "job");
        assert.notEqual(second.lease, first.lease);
      });

      test("the holder of a lost lease cannot ack or release the new lease", async (s) => {
        await s.enqueue("job", 0);
        const first = await mustDequeue(s, 30, 1000);
        assert.equal(await s.requeueExpired(31_000), 1);
        await mustDequeue(s, 30, 31_000);
        await s.ack(first.lease);
        await s.release(first.lease);
        assert.equal(await s.leasedCount(), 1);
        assert.equal(await s.queueSize(), 0);
      });

      test("requeueExpired takes back only the expired leases", async (s) => {
        await s.enqueueMany([
          { data: "a", priority: 0 },
          { data: "b", priority: 0 },
          { data: "c", priority: 0 },
        ]);
        await mustDequeue(s, 10, 1000); // deadline 11_000
        await mustDequeue(s, 20, 1000); // deadline 21_000
        await mustDequeue(s, 30, 1000); // deadline 31_000
        assert.equal(await s.requeueExpired(21_000), 2);
        assert.equal(await s.leasedCount(), 1);
        assert.deepEqual(await s.enqueuedItems(), ["a", "b"]);
        assert.equal(await s.requeueExpired(21_000), 0);
      });

      test("ack deletes the message for good", async (s) => {
        await s.enqueue("job", 0);
        const leased = await mustDequeue(s, 30, 1000);
        await s.ack(leased.lease);
        assert.equal(await s.leasedCount(), 0);
        assert.equal(await s.requeueExpired(LATER), 0);
        assert.equal(await s.queueSize(), 0);
        assert.equal(await s.dequeue(30), undefined);
        await s.ack(leased.lease);
        await s.ack("no-such-lease");
      });

      test("extend keeps a lease past its deadline and returns only held leases", async (s) => {
        await s.enqueue("a", 0);
        await s.enqueue("b", 0);
        const a = await mustDequeue(s, 30, 1000);
        const b = await mustDequeue(s, 30, 1000);
        await s.ack(b.lease);
        assert.deepEqual(await s.extend([a.lease, b.lease, "no-such-lease"], 60, 20_000), [
          a.lease,
        ]);
        assert.equal(await s.requeueExpired(31_000), 0);
        assert.equal(await s.requeueExpired(79_999), 0);
        assert.equal(await s.leasedCount(), 1);
        assert.equal(await s.requeueExpired(80_000), 1);
        assert.deepEqual(await s.enqueuedItems(), ["a"]);
      });

      test("extend with no leases returns []", async (s) => {
        assert.deepEqual(await s.extend([], 30, 1000), []);
      });

      test("a requeued lease is lost to its holder", async (s) => {
        await s.enqueue("job", 0);
        const leased = await mustDequeue(s, 30, 1000);
        assert.equal(await s.requeueExpired(31_000), 1);
        assert.deepEqual(await s.extend([leased.lease], 30, 31_000), []);
        assert.equal(await s.queueSize(), 1);
        assert.equal(await s.leasedCount(), 0);
      });

      test("release returns a message to the queue at once", async (s) => {
        await s.enqueue("job", 0);
        const leased = await mustDequeue(s, 30, 1000);
        await s.release(leased.lease);
        assert.equal(await s.queueSize(), 1);
        assert.equal(await s.leasedCount(), 0);
        assert.equal(await s.requeueExpired(LATER), 0);
        const again = await mustDequeue(s, 30, 1000);
        assert.equal(again.data, "job");
        await s.release(leased.lease);
        await s.release("no-such-lease");
        assert.equal(await s.leasedCount(), 1);
        assert.equal(await s.queueSize(), 0);
      });

      test("a released message keeps its priority", async (s) => {
        await s.enqueue("low", 0);
        await s.enqueue("high", 10);
        const leased = await mustDequeue(s, 30, 1000);
        assert.equal(leased.data, "high");
        await s.enqueue("mid", 5);
        await s.release(leased.lease);
        assert.deepEqual(await s.enqueuedItems(), ["high", "mid", "low"]);
      });

      test("an expired message keeps its priority", async (s) => {
        await s.enqueue("low", -3);
        await s.enqueue("high", 7);
        const leased = await mustDequeue(s, 30, 1000);
        assert.equal(leased.data, "high");
        await s.enqueue("mid", 2);
        assert.equal(await s.requeueExpired(31_000), 1);
        assert.deepEqual(await drain(s), ["high", "mid", "low"]);
      });

      test("queueSize counts waiting messages, leasedCount leased ones", async (s) => {
        assert.equal(await s.queueSize(), 0);
        assert.equal(await s.leasedCount(), 0);
        await s.enqueueMany([
          { data: "a", priority: 0 },
          { data: "b", priority: 0 },
          { data: "c", priority: 0 },
        ]);
        await mustDequeue(s);
        assert.equal(await s.queueSize(), 2);
        assert.equal(await s.leasedCount(), 1);
      });

      test("flushQueue removes waiting and leased messages", async (s) => {
        await s.enqueue("a", 0);
        await s.enqueue("b", 0);
        const leased = await mustDequeue(s, 30, 1000);
        await s.flushQueue();
        assert.equal(await s.queueSize(), 0);
        assert.equal(await s.leasedCount(), 0);
        assert.equal(await s.requeueExpired(LATER), 0);
        assert.deepEqual(await s.extend([leased.lease], 30, 1000), []);
        assert.equal(await s.dequeue(30), undefined);
      });

      test("concurrent dequeues never lease one message twice", async (s) => {
        const sent = Array.from({ length: 20 }, (_, i) => `m${i}`);
        await s.enqueueMany(sent.map((data) => ({ data, priority: 0 })));
        const leased = await Promise.all(Array.from({ length: 30 }, () => s.dequeue(30)));
        const got = leased.filter((item) => item !== undefined).map((item) => item.data);
        assert.deepEqual(got.sort(), sent.slice().sort());
        assert.equal(await s.leasedCount(), 20);
      });
    });

    describe("batched leases and acks with effects", () => {
      test("dequeueMany leases up to count messages in dequeue order", async (s) => {
        await s.enqueueMany([
          { data: "low", priority: 0 },
          { data: "high-1", priority: 5 },
          { data: "mid", priority: 1 },
          { data: "high-2", priority: 5 },
        ]);
        const first = await s.dequeueMany(3, 30, 1000);
        assert.deepEqual(first.map((m) => m.data), ["high-1", "high-2", "mid"]);
        assert.equal(new Set(first.map((m) => m.lease)).size, 3);
        assert.deepEqual(first.map((m) => m.expiredLeases), [0, 0, 0]);
        assert.equal(await s.leasedCount(), 3);
        const rest = await s.dequeueMany(3, 30, 1000);
        assert.deepEqual(rest.map((m) => m.data), ["low"]);
        assert.deepEqual(await s.dequeueMany(3, 30, 1000), []);
        assert.deepEqual(await s.dequeueMany(0, 30, 1000), []);
      });

      test("each lease of a batch is acked, extended and released on its own", async (s) => {
        await s.enqueueMany([{ data: "a", priority: 0 }, { data: "b", priority: 0 }, {
          data: "c",
          priority: 0,
        }]);
        const [a, b, c] = await s.dequeueMany(3, 30, 1000);
        await s.ack(a.lease);
        await s.release(b.lease);
        assert.deepEqual(await s.extend([a.lease, b.lease, c.lease], 30, 2000), [c.lease]);
        assert.equal(await s.requeueExpired(31_500), 0);
        assert.equal(await s.requeueExpired(32_000), 1);
        assert.deepEqual(await s.enqueuedItems(), ["b", "c"]);
      });

      test("concurrent dequeueMany calls never lease one message twice", async (s) => {
        const sent = Array.from({ length: 30 }, (_, i) => `m${i}`);
        await s.enqueueMany(sent.map((data) => ({ data, priority: 0 })));
        const batches = await Promise.all(
          Array.from({ length: 8 }, () => s.dequeueMany(4, 30)),
        );
        const got = batches.flat().map((item) => item.data);
        assert.deepEqual(got.sort(), sent.slice().sort());
      });

      test("expiredLeases counts requeues by expiry, not releases", async (s) => {
        await s.enqueue("job", 0);
        let leased = await mustDequeue(s, 30, 1000);
        assert.equal(leased.expiredLeases, 0);
        await s.release(leased.lease);
        leased = await mustDequeue(s, 30, 1000);
        assert.equal(leased.expiredLeases, 0);
        assert.equal(await s.requeueExpired(31_000), 1);
        leased = await mustDequeue(s, 30, 31_000);
        assert.equal(leased.expiredLeases, 1);
        assert.equal(await s.requeueExpired(61_000), 1);
        const [again] = await s.dequeueMany(1, 30, 61_000);
        assert.equal(again.expiredLeases, 2);
      });

      test("ack with effects stores a result and deletes keys with the message", async (s) => {
        await s.putData("~r:t1", "revoked");
        await s.putData("other", "kept");
        await s.enqueue("job", 0);
        const leased = await mustDequeue(s, 30, 1000);
        await s.ack(leased.lease, { put: { key: "t1", value: "result" }, delete: ["~r:t1"] });
        assert.equal(await s.peekData("t1"), "result");
        assert.equal(await s.hasData("~r:t1"), false);
        assert.equal(await s.peekData("other"), "kept");
        assert.equal(await s.leasedCount(), 0);
        assert.equal(await s.queueSize(), 0);
      });

      test("ack effects apply even when the lease was lost", async (s) => {
        await s.enqueue("job", 0);
        const lost = await mustDequeue(s, 30, 1000);
        assert.equal(await s.requeueExpired(31_000), 1);
        const current = await mustDequeue(s, 30, 31_000);
        await s.ack(lost.lease, { put: { key: "t1", value: "late result" } });
        assert.equal(await s.peekData("t1"), "late result");
        assert.deepEqual(await s.extend([current.lease], 30, 31_000), [current.lease]);
        assert.equal(await s.leasedCount(), 1);
      });

      test("ack's put replaces a value and a ttl; delete of a missing key is fine", async (s) => {
        await s.putData("t1", "old", 60);
        await s.enqueue("job", 0);
        const leased = await mustDequeue(s, 30, 1000);
        await s.ack(leased.lease, { put: { key: "t1", value: "new" }, delete: ["absent"] });
        assert.equal(await s.peekData("t1"), "new");
        assert.equal(await s.resultCount(), 1);
      });
    });

    describe(options.watchesKeys ? "watch keys" : "watch keys (not read)", () => {
      /** What a lease read of the watch keys must return: the values, or nothing. */
      const expected = (entries: [string, string | undefined][]) =>
        options.watchesKeys ? new Map(entries) : undefined;

      test("a lease returns the watch keys' values; a message without any returns none", async (s) => {
        await s.putData("set", "1");
        await s.enqueue("watching", 1, ["set", "unset"]);
        await s.enqueue("plain", 0);
        const watching = await mustDequeue(s);
        assert.equal(watching.data, "watching");
        assert.deepEqual(watching.watched, expected([["set", "1"], ["unset", undefined]]));
        const plain = await mustDequeue(s);
        assert.equal(plain.data, "plain");
        assert.equal(plain.watched, undefined);
        await s.ack(watching.lease);
        await s.ack(plain.lease);
      });

      test("enqueueMany keeps each item's watch keys; values are read at lease time", async (s) => {
        await s.enqueueMany([
          { data: "a", priority: 0, watch: ["k1"] },
          { data: "b", priority: 0 },
          { data: "c", priority: 0, watch: ["k1", "k2"] },
        ]);
        await s.putData("k1", "one");
        await s.putData("k2", "two");
        const leased = await s.dequeueMany(3, 30);
        assert.deepEqual(leased.map((m) => [m.data, m.watched]), [
          ["a", expected([["k1", "one"]])],
          ["b", undefined],
          ["c", expected([["k1", "one"], ["k2", "two"]])],
        ]);
      });

      test("released and expired leases keep the watch keys", async (s) => {
        await s.enqueue("m", 0, ["flag"]);
        await s.release((await mustDequeue(s)).lease);
        await s.putData("flag", "up");
        const second = await mustDequeue(s, 30, 1_000);
        assert.deepEqual(second.watched, expected([["flag", "up"]]));
        assert.equal(await s.requeueExpired(LATER), 1);
        await s.deleteData("flag");
        const third = await mustDequeue(s);
        assert.deepEqual(third.watched, expected([["flag", undefined]]));
        await s.ack(third.lease);
        assert.equal(await s.queueSize() + await s.leasedCount(), 0);
      });

      test("keys with colons, digits and characters beyond ASCII", async (s) => {
        const keys = ["12:34", "ключ", "😀:x", "", "a\nb"];
        for (const [i, key] of keys.entries()) await s.putData(key, `v${i}`);
        await s.enqueue("m", 0, keys);
        const leased = await mustDequeue(s);
        assert.deepEqual(leased.watched, expected(keys.map((key, i) => [key, `v${i}`])));
      });
    });

    describe("schedule", () => {
      test("readSchedule takes every entry with eta <= now, soonest first", async (s) => {
        await s.addToSchedule("c", 3000);
        await s.addToSchedule("a", 1000);
        await s.addToSchedule("d", 4000);
        await s.addToSchedule("b", 2000);
        assert.deepEqual(await s.readSchedule(999), []);
        assert.deepEqual(await s.readSchedule(3000), ["a", "b", "c"]);
        assert.equal(await s.scheduleSize(), 1);
        assert.deepEqual(await s.readSchedule(3000), []);
        assert.deepEqual(await s.scheduledItems(), ["d"]);
        assert.deepEqual(await s.readSchedule(LATER), ["d"]);
        assert.equal(await s.scheduleSize(), 0);
      });

      test("entries with the same eta come out in insertion order", async (s) => {
        for (const data of ["x", "y", "z", "w"]) await s.addToSchedule(data, 1000);
        assert.deepEqual(await s.readSchedule(1000), ["x", "y", "z", "w"]);
      });

      test("identical payloads are kept apart", async (s) => {
        await s.addToSchedule("same", 1000);
        await s.addToSchedule("same", 1000);
        await s.addToSchedule("same", 2000);
        assert.equal(await s.scheduleSize(), 3);
        assert.deepEqual(await s.readSchedule(1000), ["same", "same"]);
        assert.equal(await s.scheduleSize(), 1);
        assert.deepEqual(await s.readSchedule(2000), ["same"]);
      });

      test("scheduledItems is non-destructive, soonest first, and limited", async (s) => {
        await s.addToSchedule("late", 5000);
        await s.addToSchedule("early", 1000);
        await s.addToSchedule("middle", 3000);
        assert.deepEqual(await s.scheduledItems(), ["early", "middle", "late"]);
        assert.deepEqual(await s.scheduledItems(2), ["early", "middle"]);
        assert.deepEqual(await s.scheduledItems(0), []);
        assert.equal(await s.scheduleSize(), 3);
      });

      test("two concurrent readSchedule calls never both return an entry", async (s) => {
        const sent = Array.from({ length: 20 }, (_, i) => `s${i}`);
        for (const [i, data] of sent.entries()) await s.addToSchedule(data, 1000 + i);
        const [first, second] = await Promise.all([s.readSchedule(5000), s.readSchedule(5000)]);
        assert.deepEqual([...first, ...second].sort(), sent.slice().sort());
        assert.equal(await s.scheduleSize(), 0);
      });

      test("the schedule is apart from the queue", async (s) => {
        await s.addToSchedule("later", 1000);
        assert.equal(await s.queueSize(), 0);
        assert.equal(await s.dequeue(30), undefined);
        await s.enqueue("now", 0);
        assert.equal(await s.scheduleSize(), 1);
      });

      test("flushSchedule removes every entry", async (s) => {
        await s.addToSchedule("a", 1000);
        await s.addToSchedule("b", LATER);
        await s.flushSchedule();
        assert.equal(await s.scheduleSize(), 0);
        assert.deepEqual(await s.readSchedule(LATER), []);
      });
    });

    describe("key/value", () => {
      test("put, peek, has, pop and delete", async (s) => {
        assert.equal(await s.peekData("k"), undefined);
        assert.equal(await s.hasData("k"), false);
        await s.putData("k", "v1");
        assert.equal(await s.peekData("k"), "v1");
        assert.equal(await s.hasData("k"), true);
        await s.putData("k", "v2");
        assert.equal(await s.peekData("k"), "v2");
        assert.equal(await s.popData("k"), "v2");
        assert.equal(await s.popData("k"), undefined);
        assert.equal(await s.hasData("k"), false);
        await s.putData("k", "v3");
        assert.equal(await s.deleteData("k"), true);
        assert.equal(await s.deleteData("k"), false);
        assert.equal(await s.peekData("k"), undefined);
      });

      test("an empty string is a value, not absence", async (s) => {
        await s.putData("empty", "");
        assert.equal(await s.hasData("empty"), true);
        assert.equal(await s.peekData("empty"), "");
        assert.equal(await s.putIfEmpty("empty", "x"), false);
        assert.equal(await s.popData("empty"), "");
        assert.equal(await s.hasData("empty"), false);
      });

      test("keys and values come back byte for byte", async (s) => {
        const key = "task:é/✓ 1";
        const value = '{"a":"\\n"}\n🎉';
        await s.putData(key, value);
        assert.equal(await s.peekData(key), value);
        assert.deepEqual(await s.resultItems(), new Map([[key, value]]));
      });

      test("putIfEmpty sets only an absent key", async (s) => {
        assert.equal(await s.putIfEmpty("lock", "first"), true);
        assert.equal(await s.putIfEmpty("lock", "second"), false);
        assert.equal(await s.peekData("lock"), "first");
        await s.deleteData("lock");
        assert.equal(await s.putIfEmpty("lock", "third"), true);
        assert.equal(await s.peekData("lock"), "third");
      });

      test("ten concurrent putIfEmpty calls: exactly one wins", async (s) => {
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => s.putIfEmpty("lock", `owner${i}`)),
        );
        assert.equal(results.filter(Boolean).length, 1);
        assert.equal(await s.peekData("lock"), `owner${results.indexOf(true)}`);
      });

      test("deleteData with expected deletes only a matching value", async (s) => {
        await s.putData("lock", "mine");
        assert.equal(await s.deleteData("lock", "theirs"), false);
        assert.equal(await s.peekData("lock"), "mine");
        assert.equal(await s.deleteData("lock", "mine"), true);
        assert.equal(await s.hasData("lock"), false);
        assert.equal(await s.deleteData("lock", "mine"), false);
      });

      test("resultCount, resultItems and flushResults", async (s) => {
        assert.equal(await s.resultCount(), 0);
        assert.deepEqual(await s.resultItems(), new Map());
        await s.putData("a", "1");
        await s.putData("b", "2");
        await s.putIfEmpty("c", "3");
        assert.equal(await s.resultCount(), 3);
        assert.deepEqual(await s.resultItems(), new Map([["a", "1"], ["b", "2"], ["c", "3"]]));
        await s.flushResults();
        assert.equal(await s.resultCount(), 0);
        assert.deepEqual(await s.resultItems(), new Map());
        assert.equal(await s.hasData("a"), false);
      });

      test("a key written with a ttl is there right after writing", async (s) => {
        await s.putData("r", "v", 60);
        assert.equal(await s.peekData("r"), "v");
        assert.equal(await s.hasData("r"), true);
        assert.equal(await s.resultCount(), 1);
        assert.equal(await s.putIfEmpty("lock", "a", 60), true);
        assert.equal(await s.putIfEmpty("lock", "b", 60), false);
        assert.equal(await s.peekData("lock"), "a");
        assert.equal(await s.deleteData("lock", "a"), true);
      });

      test("ten concurrent putIfEmpty calls with a ttl: exactly one wins", async (s) => {
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => s.putIfEmpty("lock", `owner${i}`, 60)),
        );
        assert.equal(results.filter(Boolean).length, 1);
        assert.equal(await s.peekData("lock"), `owner${results.indexOf(true)}`);
      });

      test("putData without a ttl after one with a ttl keeps the key", async (s) => {
        await s.putData("k", "short", 60);
        await s.putData("k", "long");
        assert.equal(await s.peekData("k"), "long");
      });
    });

    describe("counters", () => {
      test("incr counts from 0, by 1 by default, by 0 or negative amounts", async (s) => {
        assert.equal(await s.incr("c"), 1);
        assert.equal(await s.incr("c"), 2);
        assert.equal(await s.incr("c", 0), 2);
        assert.equal(await s.incr("c", -5), -3);
        assert.equal(await s.incr("c", 10), 7);
        assert.equal(await s.incr("missing", 0), 0);
        assert.equal(await s.incr("negative", -2), -2);
      });

      test("counters are a namespace apart from key/value", async (s) => {
        await s.incr("k");
        assert.equal(await s.hasData("k"), false);
        assert.equal(await s.resultCount(), 0);
        await s.putData("k", "v");
        assert.equal(await s.incr("k"), 2);
        assert.equal(await s.popData("k"), "v");
        assert.equal(await s.incr("k"), 3);
        await s.flushResults();
        assert.equal(await s.incr("k", 0), 3);
        await s.putData("k", "v");
        await s.flushCounters();
        assert.equal(await s.peekData("k"), "v");
        assert.equal(await s.incr("k", 0), 0);
      });

      test("fifty concurrent increments all count", async (s) => {
        const values = await Promise.all(Array.from({ length: 50 }, () => s.incr("hits")));
        assert.deepEqual(
          values.sort((a, b) => a - b),
          Array.from({ length: 50 }, (_, i) => i + 1),
        );
        assert.equal(await s.incr("hits", 0), 50);
      });

      test("deleteCounter resets one counter", async (s) => {
        await s.incr("a", 5);
        await s.incr("b", 7);
        await s.deleteCounter("a");
        await s.deleteCounter("never-existed");
        assert.equal(await s.incr("a"), 1);
        assert.equal(await s.incr("b", 0), 7);
      });

      test("a counter created with a ttl counts as usual", async (s) => {
        assert.equal(await s.incr("window", 1, 60), 1);
        assert.equal(await s.incr("window", 1, 60), 2);
        assert.equal(await s.incr("window"), 3);
      });

      test("flushCounters clears every counter", async (s) => {
        await s.incr("a", 3);
        await s.incr("b", 4);
        await s.flushCounters();
        assert.equal(await s.incr("a", 0), 0);
        assert.equal(await s.incr("b", 0), 0);
      });
    });

    describe("dead letter", () => {
      test("entries are listed oldest first with every field", async (s) => {
        const first = await s.deadLetter("m1", "cannot decode message: bad", 1000);
        const second = await s.deadLetter("m2", "bad signature", 2000);
        assert.equal(typeof first, "string");
        assert.notEqual(first, second);
        assert.deepEqual(await s.deadLetters(), [
          { id: first, reason: "cannot decode message: bad", at: 1000, data: "m1" },
          { id: second, reason: "bad signature", at: 2000, data: "m2" },
        ]);
      });

      test("oldest first means by time, not by insertion", async (s) => {
        const late = await s.deadLetter("late", "r", 5000);
        const early = await s.deadLetter("early", "r", 1000);
        assert.deepEqual((await s.deadLetters()).map((entry) => entry.id), [early, late]);
      });

      test("without now, at is the current time", async (s) => {
        const before = Date.now();
        await s.deadLetter("m", "r");
        const after = Date.now();
        const [entry] = await s.deadLetters();
        assert.ok(entry.at >= before - 1000 && entry.at <= after + 1000, `at ${entry.at}`);
      });

      test("dead letters stay out of the queue", async (s) => {
        await s.deadLetter("m", "r", 1000);
        assert.equal(await s.queueSize(), 0);
        assert.equal(await s.dequeue(30), undefined);
      });

      test("requeueDeadLetter moves an entry back to the queue at priority 0", async (s) => {
        await s.enqueue("high", 1);
        await s.enqueue("zero", 0);
        await s.enqueue("low", -1);
        const id = await s.deadLetter("revived", "r", 1000);
        const other = await s.deadLetter("kept", "r", 2000);
        assert.equal(await s.requeueDeadLetter(id), true);
        assert.deepEqual(await s.enqueuedItems(), ["high", "zero", "revived", "low"]);
        assert.deepEqual((await s.deadLetters()).map((entry) => entry.id), [other]);
        assert.equal(await s.requeueDeadLetter(id), false);
        assert.equal(await s.requeueDeadLetter("no-such-id"), false);
      });

      test("purgeDeadLetters removes every entry and returns the count", async (s) => {
        await s.deadLetter("a", "r", 1000);
        await s.deadLetter("b", "r", 1000);
        await s.deadLetter("c", "r", 1000);
        assert.equal(await s.purgeDeadLetters(), 3);
        assert.deepEqual(await s.deadLetters(), []);
        assert.equal(await s.purgeDeadLetters(), 0);
      });
    });

    describe("flushAll", () => {
      test("removes queue, leases, schedule, data, counters and dead letters", async (s) => {
        await fill(s, "x");
        await s.flushAll();
        await assertEmpty(s);
      });
    });

    describe("namespaces", () => {
      it("storages for different names do not see each other", async () => {
        const a = await options.create("a");
        const b = await options.create("b");
        try {
          const { lease, deadId } = await fill(a, "a");
          await assertEmpty(b);
          // Tokens and ids of one name mean nothing under another.
          await b.ack(lease);
          await b.release(lease);
          assert.deepEqual(await b.extend([lease], 30, 1000), []);
          assert.equal(await b.requeueDeadLetter(deadId), false);
          assert.equal(await b.deleteData("key", "a"), false);
          assert.equal(await b.putIfEmpty("key", "b"), true);
          assert.equal(await a.peekData("key"), "a");
          assert.equal(await a.leasedCount(), 1);
          assert.equal(await a.deadLetters().then((list) => list.length), 1);
        } finally {
          await options.destroy?.(a);
          await options.destroy?.(b);
        }
      });

      it("flushAll on one name leaves the other alone", async () => {
        const a = await options.create("a");
        const b = await options.create("b");
        try {
          await fill(a, "a");
          await fill(b, "b");
          await a.flushAll();
          await assertEmpty(a);
          assert.deepEqual(await b.enqueuedItems(), ["b-queued"]);
          assert.equal(await b.leasedCount(), 1);
          assert.deepEqual(await b.scheduledItems(), ["b-scheduled"]);
          assert.deepEqual(await b.resultItems(), new Map([["key", "b"]]));
          assert.equal(await b.incr("counter", 0), 3);
          assert.deepEqual((await b.deadLetters()).map((entry) => entry.data), ["b-dead"]);
        } finally {
          await options.destroy?.(a);
          await options.destroy?.(b);
        }
      });
    });

    describe("waitForMessage (optional)", () => {
      test("resolves soon after an enqueue", async (s) => {
        if (!s.waitForMessage) return;
        const started = performance.now();
        // A long timeout, so a slow commit on a loaded machine is not taken for the timeout.
        const waiting = s.waitForMessage(2);
        await s.enqueue("wake", 0);
        await waiting;
        assert.ok(performance.now() - started < 1000, "woken by the enqueue, not the timeout");
      });

      test("resolves after the timeout when nothing arrives", async (s) => {
        if (!s.waitForMessage) return;
        const started = performance.now();
        await s.waitForMessage(0.03);
        assert.ok(performance.now() - started >= 25, "waited for the timeout");
      });

      test("resolves when the signal aborts", async (s) => {
        if (!s.waitForMessage) return;
        const controller = new AbortController();
        const started = performance.now();
        const waiting = s.waitForMessage(0.05, controller.signal);
        controller.abort();
        await waiting;
        assert.ok(performance.now() - started < 40, "ended by the abort, not the timeout");
      });

      test("resolves at once for an aborted signal", async (s) => {
        if (!s.waitForMessage) return;
        const started = performance.now();
        await s.waitForMessage(0.05, AbortSignal.abort());
        assert.ok(performance.now() - started < 40, "did not wait");
      });
    });

    describe("waitForData (optional)", () => {
      test("true at once when the key holds a value", async (s) => {
        if (!s.waitForData) return;
        await s.putData("result", "v");
        assert.equal(await s.waitForData("result", 0.05), true);
      });

      test("true once a put lands on the key", async (s) => {
        if (!s.waitForData) return;
        const waiting = s.waitForData("result", 0.05);
        await s.putData("result", "v");
        assert.equal(await waiting, true);
      });

      test("false after the timeout", async (s) => {
        if (!s.waitForData) return;
        const waiting = s.waitForData("result", 0.02);
        await s.putData("another key", "v");
        assert.equal(await waiting, false);
      });
    });
  });
}

/** Puts one of everything under `tag` (one lease held, counter at 3); returns handles. */
async function fill(s: Storage, tag: string): Promise<{ lease: string; deadId: string }> {
  await s.enqueue(`${tag}-leased`, 1);
  await s.enqueue(`${tag}-queued`, 0);
  const leased = await s.dequeue(30, 1000);
  assert.ok(leased);
  assert.equal(leased.data, `${tag}-leased`);
  await s.addToSchedule(`${tag}-scheduled`, 2000);
  await s.putData("key", tag);
  await s.incr("counter", 3);
  const deadId = await s.deadLetter(`${tag}-dead`, "r", 1000);
  return { lease: leased.lease, deadId };
}

async function assertEmpty(s: Storage): Promise<void> {
  assert.equal(await s.queueSize(), 0);
  assert.equal(await s.leasedCount(), 0);
  assert.equal(await s.requeueExpired(LATER), 0);
  assert.equal(await s.dequeue(30), undefined);
  assert.equal(await s.scheduleSize(), 0);
  assert.deepEqual(await s.readSchedule(LATER), []);
  assert.equal(await s.resultCount(), 0);
  assert.equal(await s.hasData("key"), false);
  assert.equal(await s.incr("counter", 0), 0);
  assert.deepEqual(await s.deadLetters(), []);
}
