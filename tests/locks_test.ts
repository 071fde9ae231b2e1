// Locks and rate limits (API.md "The instance", HUEY-SEMANTICS §4.10). node:test +
// node:assert/strict only, so `deno test` and `bun test` run the same file. Time is never
// slept: lock ttls use a MemoryStorage on a hand-moved clock, rate limits take `now`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  Dewey,
  DeweyError,
  MemoryStorage,
  RateLimiter,
  RateLimitExceeded,
  TaskException,
  TaskLock,
  TaskLockedException,
} from "../mod.ts";

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function isLockedError(name: string) {
  return (error: unknown) => {
    assert.ok(error instanceof TaskLockedException, `expected TaskLockedException, got ${error}`);
    assert.ok(error instanceof DeweyError);
    assert.equal(error.message, `unable to acquire lock ${name}`);
    assert.equal(error.lock, name);
    return true;
  };
}

/** A Dewey on a MemoryStorage whose clock the test moves. */
function clocked(start = 1_700_000_000_000) {
  let time = start;
  const storage = new MemoryStorage({ clock: () => time });
  const dewey = new Dewey({ storage, logger: silent });
  return { dewey, storage, advance: (ms: number) => void (time += ms) };
}

describe("locks", () => {
  it("a second acquire throws TaskLockedException until the lock is released", async () => {
    const dewey = new Dewey({ logger: silent });
    const lock = dewey.lock("reports");
    assert.ok(lock instanceof TaskLock);
    assert.equal(lock.name, "reports");
    assert.equal(await lock.isLocked(), false);
    assert.equal(await lock.acquire(), lock);
    assert.equal(await lock.isLocked(), true);
    assert.equal(await dewey.lock("reports").isLocked(), true);
    await assert.rejects(dewey.lock("reports").acquire(), isLockedError("reports"));
    // The holder itself cannot take it twice either.
    await assert.rejects(lock.acquire(), isLockedError("reports"));
    // Other names are independent.
    await dewey.lock("other").acquire();

    assert.equal(await lock.release(), true);
    assert.equal(await lock.isLocked(), false);
    assert.equal(await lock.release(), false);
    const second = await dewey.lock("reports").acquire();
    assert.equal(await second.isLocked(), true);
    assert.equal(await second.release(), true);
    assert.equal(await dewey.lock("other").isLocked(), true);
  });

  it("a handle that does not hold the lock cannot release it", async () => {
    const dewey = new Dewey({ logger: silent });
    const holder = await dewey.lock("shared").acquire();
    const stranger = dewey.lock("shared");
    assert.equal(await stranger.release(), false);
    assert.equal(await holder.isLocked(), true);
    // A failed acquire does not make the handle an owner either.
    await assert.rejects(stranger.acquire(), isLockedError("shared"));
    assert.equal(await stranger.release(), false);
    assert.equal(await holder.isLocked(), true);
    assert.equal(await holder.release(), true);
  });

  it("the owner token: a holder whose ttl ran out does not free the next holder's lock", async () => {
    const { dewey, advance } = clocked();
    const first = await dewey.lock("job", { ttl: 5 }).acquire();
    advance(5_000);
    const second = await dewey.lock("job", { ttl: 5 }).acquire();
    assert.equal(await first.release(), false);
    assert.equal(await second.isLocked(), true);
    assert.equal(await second.release(), true);
    assert.equal(await second.isLocked(), false);
  });

  it("the ttl reaches the storage: the lock frees itself once it has passed", async () => {
    const { dewey, advance } = clocked();
    await dewey.lock("x", { ttl: 30 }).acquire();
    advance(29_999);
    assert.equal(await dewey.lock("x").isLocked(), true);
    await assert.rejects(dewey.lock("x").acquire(), isLockedError("x"));
    advance(1);
    assert.equal(await dewey.lock("x").isLocked(), false);
    const again = await dewey.lock("x", { ttl: 30 }).acquire();
    assert.equal(await again.isLocked(), true);

    // Without a ttl the lock stays until released.
    await dewey.lock("forever").acquire();
    advance(365 * 24 * 3600 * 1000);
    assert.equal(await dewey.lock("forever").isLocked(), true);
  });

  it("rejects a bad name or ttl", () => {
    const dewey = new Dewey({ logger: silent });
    assert.throws(() => dewey.lock(""), TypeError);
    for (const ttl of [0, -1, Number.NaN]) {
      assert.throws(() => dewey.lock("x", { ttl }), RangeError);
    }
  });

  it("await using releases the lock at the end of the block, even on a throw", async () => {
    const dewey = new Dewey({ logger: silent });
    {
      await using held = await dewey.lock("block").acquire();
      assert.equal(await held.isLocked(), true);
      await assert.rejects(dewey.lock("block").acquire(), isLockedError("block"));
    }
    assert.equal(await dewey.lock("block").isLocked(), false);

    const failing = async () => {
      await using _held = await dewey.lock("block").acquire();
      throw new Error("inside");
    };
    await assert.rejects(failing(), { message: "inside" });
    assert.equal(await dewey.lock("block").isLocked(), false);
  });

  it("run(fn) holds the lock while fn runs and releases it, also on a throw", async () => {
    const dewey = new Dewey({ logger: silent });
    const lock = dewey.lock("run");
    const value = await lock.run(async () => {
      assert.equal(await dewey.lock("run").isLocked(), true);
      return 42;
    });
    assert.equal(value, 42);
    assert.equal(await lock.isLocked(), false);

    await assert.rejects(lock.run(() => Promise.reject(new RangeError("no"))), RangeError);
    await assert.rejects(
      lock.run(() => {
        throw new TypeError("sync");
      }),
      TypeError,
    );
    assert.equal(await lock.isLocked(), false);

    // Taken elsewhere: fn does not run.
    const holder = await dewey.lock("run").acquire();
    let ran = false;
    await assert.rejects(lock.run(() => void (ran = true)), isLockedError("run"));
    assert.equal(ran, false);
    assert.equal(await holder.isLocked(), true);
    assert.equal(await holder.release(), true);
  });

  it("lockTask wraps a function so each call holds the lock", async () => {
    const dewey = new Dewey({ logger: silent });
    const states: boolean[] = [];
    const add = dewey.lockTask("adder", async (a: number, b: number) => {
      states.push(await dewey.lock("adder").isLocked());
      return a + b;
    });
    assert.equal(await add(1, 2), 3);
    assert.deepEqual(states, [true]);
    assert.equal(await dewey.lock("adder").isLocked(), false);

    const holder = await dewey.lock("adder").acquire();
    await assert.rejects(add(3, 4), isLockedError("adder"));
    assert.deepEqual(states, [true]);
    await holder.release();
    assert.equal(await add(3, 4), 7);
  });

  it("a task refused by its lock stores TaskLockedException and signals locked", async () => {
    const dewey = new Dewey({ logger: silent });
    const signals: string[] = [];
    dewey.signal((signal) => void signals.push(signal));
    const guarded = dewey.task("guarded", dewey.lockTask("resource", () => "ran"));
    const holder = await dewey.lock("resource").acquire();
    const refused = await guarded();
    const [task] = await dewey.dequeue();
    assert.equal(await dewey.execute(task!), undefined);
    assert.deepEqual(signals, ["enqueued", "executing", "locked"]);
    await assert.rejects(refused.get(), (error: unknown) => {
      assert.ok(error instanceof TaskException);
      assert.equal(error.metadata.name, "TaskLockedException");
      assert.equal(error.metadata.message, "unable to acquire lock resource");
      assert.equal(error.metadata.error, "TaskLockedException: unable to acquire lock resource");
      return true;
    });
    await holder.release();
    const allowed = await guarded();
    const [next] = await dewey.dequeue();
    assert.equal(await dewey.execute(next!), "ran");
    assert.equal(await allowed.get(), "ran");
    assert.equal(await dewey.lock("resource").isLocked(), false);
  });

  it("flushLocks() clears the held locks this instance made and returns exactly their names", async () => {
    const dewey = new Dewey({ logger: silent });
    const a = dewey.lock("a");
    dewey.lock("b");
    const c = dewey.lock("c");
    dewey.lockTask("d", () => 1);
    await a.acquire();
    await c.acquire();
    assert.deepEqual(await dewey.flushLocks(), ["a", "c"]);
    assert.equal(await a.isLocked(), false);
    assert.equal(await c.isLocked(), false);
    assert.deepEqual(await dewey.flushLocks(), []);
    // Flushed locks can be taken again.
    await a.acquire();
    assert.deepEqual(await dewey.flushLocks(), ["a"]);
  });

  it('flushLocks("extra") also clears locks this instance never made', async () => {
    const storage = new MemoryStorage();
    const dewey = new Dewey({ storage, logger: silent });
    // Another process of the same app (same name, same storage) holds "extra".
    const other = new Dewey({ storage, logger: silent });
    await other.lock("extra").acquire();
    await other.lock("untouched").acquire();
    const mine = await dewey.lock("mine").acquire();

    assert.deepEqual(await dewey.flushLocks(" extra ", "missing"), ["mine", "extra"]);
    assert.equal(await other.lock("extra").isLocked(), false);
    assert.equal(await other.lock("untouched").isLocked(), true);
    assert.equal(await mine.isLocked(), false);
    assert.deepEqual(await dewey.flushLocks("extra"), []);
  });
});

describe("rate limits", () => {
  // 1_700_000_003 s: 3 s into a 10 s window (windows start at multiples of `per`).
  const NOW = new Date(1_700_000_003_000);
  const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);

  function isLimited(key: string, delay: number, retry = true) {
    return (error: unknown) => {
      assert.ok(error instanceof RateLimitExceeded, `expected RateLimitExceeded, got ${error}`);
      assert.ok(error instanceof DeweyError);
      assert.equal(error.key, key);
      assert.equal(error.delay, delay);
      assert.equal(error.retry, retry);
      assert.equal(error.message, `rate limit exceeded for ${key}`);
      return true;
    };
  }

  it("allows `limit` calls per window, then throws with the delay to the next window", async () => {
    const dewey = new Dewey({ logger: silent });
    const api = dewey.rateLimit("api", { limit: 2, per: 10 });
    assert.ok(api instanceof RateLimiter);
    assert.equal(api.name, "api");
    assert.equal(api.limit, 2);
    assert.equal(api.per, 10);
    assert.equal(api.retry, true);
    assert.equal(await api.currentUsage(NOW), 0);
    await api.acquire(NOW);
    await api.acquire(at(1_000));
    assert.equal(await api.currentUsage(NOW), 2);
    await assert.rejects(api.acquire(NOW), isLimited("api", 7));
    // A refused call does not count.
    assert.equal(await api.currentUsage(NOW), 2);
    await assert.rejects(api.acquire(at(6_500)), isLimited("api", 0.5));
    assert.equal(await api.currentUsage(NOW), 2);

    // The next window (now + 10 s) allows again.
    await api.acquire(at(10_000));
    assert.equal(await api.currentUsage(at(10_000)), 1);
    await api.acquire(at(16_500));
    await assert.rejects(api.acquire(at(16_500)), isLimited("api", 0.5));
  });

  it("computes the delay from the exact instant, fractions included", async () => {
    const dewey = new Dewey({ logger: silent });
    const api = dewey.rateLimit("frac", { limit: 1, per: 10 });
    const start = new Date(1_700_000_000_250); // 0.25 s into a window
    await api.acquire(start);
    await assert.rejects(api.acquire(start), isLimited("frac", 9.75));

    const minute = dewey.rateLimit("minute", { limit: 1, per: 60, retry: false });
    assert.equal(minute.retry, false);
    await minute.acquire(NOW); // 1_700_000_003 s; the window ends at 1_700_000_040 s
    await assert.rejects(minute.acquire(NOW), isLimited("minute", 37, false));
  });

  it("limits are independent by name and shared by every limiter of one name", async () => {
    const dewey = new Dewey({ logger: silent });
    const a = dewey.rateLimit("a", { limit: 1, per: 10 });
    const b = dewey.rateLimit("b", { limit: 1, per: 10 });
    await a.acquire(NOW);
    await b.acquire(NOW);
    await assert.rejects(
      dewey.rateLimit("a", { limit: 1, per: 10 }).acquire(NOW),
      isLimited("a", 7),
    );
    assert.equal(await dewey.rateLimit("b", { limit: 5, per: 10 }).currentUsage(NOW), 1);
  });

  it("reset() forgets the current window's count", async () => {
    const dewey = new Dewey({ logger: silent });
    const api = dewey.rateLimit("api", { limit: 2, per: 10 });
    await api.acquire(NOW);
    await api.acquire(NOW);
    await api.reset(NOW);
    assert.equal(await api.currentUsage(NOW), 0);
    await api.acquire(NOW);
    await api.acquire(NOW);
    await assert.rejects(api.acquire(NOW), isLimited("api", 7));
  });

  it("run(fn) and wrap(fn) count each call and do not call fn when over the limit", async () => {
    const dewey = new Dewey({ logger: silent });
    // A window of 1e9 s, so the real clock these use does not cross a boundary.
    const api = dewey.rateLimit("calls", { limit: 3, per: 1e9 });
    let calls = 0;
    assert.equal(await api.run(() => ++calls), 1);
    assert.equal(await api.run(() => Promise.resolve(++calls)), 2);
    const double = api.wrap((n: number) => {
      calls++;
      return n * 2;
    });
    assert.equal(await double(21), 42);
    assert.equal(calls, 3);
    assert.equal(await api.currentUsage(), 3);
    await assert.rejects(api.run(() => ++calls), RateLimitExceeded);
    await assert.rejects(double(1), RateLimitExceeded);
    assert.equal(calls, 3);
    assert.equal(await api.currentUsage(), 3);
    await api.reset();
    assert.equal(await double(5), 10);
  });

  it("a task over the limit is rescheduled to the next window without consuming a retry", async () => {
    const dewey = new Dewey({ logger: silent });
    const signals: string[] = [];
    dewey.signal((signal) => void signals.push(signal));
    const api = dewey.rateLimit("task-api", { limit: 1, per: 10 });
    const call = dewey.task("call", async (n: number) => {
      await api.acquire(NOW);
      return n;
    });
    await call(1);
    const limited = await call(2);
    const [first] = await dewey.dequeue();
    assert.equal(await dewey.execute(first!, { now: NOW }), 1);
    const [second] = await dewey.dequeue();
    signals.length = 0;
    assert.equal(await dewey.execute(second!, { now: NOW }), undefined);
    assert.deepEqual(signals, ["executing", "rate-limited", "retrying", "scheduled"]);
    await assert.rejects(limited.get(), (error: unknown) => {
      assert.ok(error instanceof TaskException);
      assert.equal(error.metadata.name, "RateLimitExceeded");
      assert.equal(error.metadata.retries, 1);
      return true;
    });
    const [scheduled] = await dewey.scheduled();
    assert.equal(scheduled.id, limited.id);
    assert.equal(scheduled.retries, 0);
    assert.equal(scheduled.eta?.getTime(), 1_700_000_010_000);
  });

  it("rejects invalid options", () => {
    const dewey = new Dewey({ logger: silent });
    const bad = [
      { limit: 0, per: 10 },
      { limit: -1, per: 10 },
      { limit: 1.5, per: 10 },
      { limit: Number.NaN, per: 10 },
      { limit: "2", per: 10 },
      { limit: 2, per: 0 },
      { limit: 2, per: -5 },
      { limit: 2, per: Infinity },
      { limit: 2, per: Number.NaN },
      { limit: 2, per: "10" },
      { limit: 2 },
      {},
    ];
    for (const options of [...bad, undefined]) {
      assert.throws(() => dewey.rateLimit("x", options as never), RangeError, String(options));
    }
    assert.throws(() => dewey.rateLimit("", { limit: 1, per: 1 }), TypeError);
  });
});
