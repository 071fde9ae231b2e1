/**
 * DenoKvStorage: the conformance suite on a temporary KV file (under Deno through
 * `Deno.openKv(path)`, under Bun through `@deno/kv`'s `openKv`), the same suite run by
 * Node through `@deno/kv`, and what is particular to KV: its size limits, claims by two
 * connections to one file, files shared between Deno and Bun, lazy expiry, watch keys
 * (records from before them, reads in batches, keys left out when they do not fit), and
 * the error where `Deno.openKv` is missing.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openKv } from "@deno/kv";
import { type DenoKvLike, DenoKvStorage, type KvKey } from "../deno_kv.ts";
import { storageConformance } from "./storage_conformance.ts";

const isBun = "Bun" in globalThis;
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name: string) => join(root, "node_modules", ".bin", name);

const dir = mkdtempSync(join(tmpdir(), "dewey-kv-"));
const opened: DenoKvLike[] = [];
after(() => {
  for (const kv of opened) kv.close();
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
/** A path for a KV file of its own. */
function freshPath(): string {
  return join(dir, `test-${files++}.kv`);
}

/** Never called: Dewey stores bytes only, which KV does not V8-serialize. */
const refuseV8 = (): never => {
  throw new TypeError("V8 serialization is not used by Dewey");
};

/** Opens a KV file through npm's `@deno/kv` (its SQLite build, also under Deno). */
async function openNpmKv(path: string): Promise<DenoKvLike> {
  const kv = await openKv(path, {
    encodeV8: refuseV8,
    decodeV8: refuseV8,
    implementation: "sqlite",
  });
  opened.push(kv);
  return kv;
}

/** Opens a KV file the runtime's own way: `Deno.openKv` under Deno, `@deno/kv` under Bun. */
async function openFile(path: string): Promise<DenoKvLike> {
  if (isBun) return await openNpmKv(path);
  const kv = await Deno.openKv(path);
  opened.push(kv);
  return kv;
}

/** A bound storage: on `path` (Deno) or on a database opened for it (Bun). */
async function open(path: string, name = "app"): Promise<DenoKvStorage> {
  const storage = isBun
    ? new DenoKvStorage({ kv: await openFile(path) })
    : new DenoKvStorage({ path });
  storage.bind(name);
  return storage;
}

// One file for the whole suite, so names share a database as they would in production.
const shared = freshPath();
storageConformance(isBun ? "DenoKvStorage (@deno/kv on Bun)" : "DenoKvStorage (Deno.openKv)", {
  async create(name) {
    const storage = await open(shared, name);
    await storage.flushAll();
    return storage;
  },
  destroy: (storage) => storage.close(),
  watchesKeys: true,
});

/** Runs `command args…` to its end; its exit code and output. */
function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk);
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk);
    child.on("error", reject);
    child.on("close", (code: number | null) => resolve({ code, stdout, stderr }));
  });
}

const entry = new URL("../deno_kv.ts", import.meta.url).href;

/**
 * Runs `code` in the other runtime (Bun under `deno test`, Deno under `bun test`) with
 * `storage` open on `path` under "app"; its stdout.
 */
async function inOtherRuntime(path: string, code: string): Promise<string> {
  const open = isBun
    ? `const storage = new DenoKvStorage({ path: ${JSON.stringify(path)} });`
    : `const { openKv } = await import("@deno/kv");
       const refuse = () => { throw new TypeError("not used"); };
       const kv = await openKv(${JSON.stringify(path)}, { encodeV8: refuse, decodeV8: refuse });
       const storage = new DenoKvStorage({ kv });`;
  const script = `import { DenoKvStorage } from ${JSON.stringify(entry)};
    ${open}
    storage.bind("app");
    ${code}
    await storage.close();`;
  const { code: status, stdout, stderr } = isBun
    ? await run(bin("deno"), ["eval", "--ext=ts", script])
    : await run(bin("bun"), ["-e", script]);
  assert.equal(status, 0, stderr);
  return stdout;
}

describe("DenoKvStorage on KV", () => {
  it("refuses a message over the limit with its size, and stores one at the limit", async () => {
    const s = await open(freshPath());
    try {
      await assert.rejects(s.enqueue("x".repeat(65_025), 0), {
        name: "RangeError",
        message: "Cannot enqueue a message of 65025 bytes: Deno KV takes at most 65024 bytes " +
          "per message (a 64 KiB value, less 512 bytes for the lease kept with it)",
      });
      // Sizes are UTF-8 bytes: 32,513 × "é" is 65,026 bytes.
      await assert.rejects(s.enqueue("é".repeat(32_513), 0), /a message of 65026 bytes/);
      await assert.rejects(
        s.enqueueMany([{ data: "fits", priority: 0 }, { data: "y".repeat(70_000), priority: 0 }]),
        /^RangeError: Cannot enqueue a message of 70000 bytes/,
      );
      await assert.rejects(s.addToSchedule("z".repeat(65_025), 1000), {
        name: "RangeError",
        message: "Cannot schedule a message of 65025 bytes: Deno KV takes at most 65024 bytes " +
          "per message (a 64 KiB value, less 512 bytes for the lease kept with it)",
      });
      await assert.rejects(s.putData("big", "v".repeat(65_281)), {
        name: "RangeError",
        message: 'Cannot store a value of 65281 bytes under "big": Deno KV takes at most ' +
          "65280 bytes per value (a 64 KiB value, less 256 bytes for its expiry)",
      });
      assert.equal(await s.queueSize(), 0);
      assert.equal(await s.scheduleSize(), 0);

      // At the limit, with the largest lease bookkeeping: a long priority and deadline.
      const largest = "m".repeat(65_024);
      await s.enqueue(largest, -1.2345678901234567e-300);
      const leased = await s.dequeue(0.123456789, 1.2345678901234567e15);
      assert.equal(leased?.data, largest);
      assert.equal(await s.requeueExpired(1e16), 1);
      const again = await s.dequeue(30);
      assert.equal(again?.data, largest);
      assert.equal(again?.expiredLeases, 1);
      await s.ack(again!.lease, { put: { key: "result", value: "r".repeat(65_280) } });
      assert.equal((await s.peekData("result"))?.length, 65_280);
      await s.addToSchedule(largest, 1000);
      assert.deepEqual(await s.readSchedule(1000), [largest]);
    } finally {
      await s.close();
    }
  });

  it("two connections to one file never lease one message twice", async () => {
    const path = freshPath();
    const storages = await Promise.all([0, 1, 2, 3].map(() => open(path)));
    try {
      const sent = Array.from({ length: 240 }, (_, i) => `m${i}`);
      await storages[0].enqueueMany(sent.map((data) => ({ data, priority: i(data) % 3 })));
      // Each storage serializes its own calls; the four contend through KV's checks.
      const batches = await Promise.all(
        Array.from({ length: 40 }, (_, n) => storages[n % 4].dequeueMany(3, 30)),
      );
      const got = batches.flat().map((leased) => leased.data);
      assert.equal(got.length, 120);
      assert.equal(new Set(got).size, 120);
      const rest = await Promise.all(storages.map((s) => s.dequeueMany(200, 30)));
      const all = [...got, ...rest.flat().map((leased) => leased.data)];
      assert.deepEqual(all.sort(), sent.slice().sort());
      assert.equal(await storages[1].leasedCount(), 240);
      assert.equal(await storages[2].queueSize(), 0);
    } finally {
      for (const s of storages) await s.close();
    }
  });

  it("dequeueMany past ten claims per commit keeps dequeue order", async () => {
    const s = await open(freshPath());
    try {
      await s.enqueueMany(
        Array.from({ length: 30 }, (_, n) => ({ data: `p${n % 3}-${n}`, priority: n % 3 })),
      );
      const leased = await s.dequeueMany(25, 30, 1000);
      const expected = [2, 1, 0].flatMap((p) =>
        Array.from({ length: 10 }, (_, k) => `p${p}-${3 * k + p}`)
      );
      assert.deepEqual(leased.map((m) => m.data), expected.slice(0, 25));
      assert.deepEqual(await s.enqueuedItems(), expected.slice(25));
    } finally {
      await s.close();
    }
  });

  it("bulk writes and flushes split across atomic operations", async () => {
    const s = await open(freshPath());
    try {
      const items = Array.from({ length: 2500 }, (_, n) => ({ data: `b${n}`, priority: 0 }));
      await s.enqueueMany(items);
      assert.equal(await s.queueSize(), 2500);
      assert.deepEqual(await s.enqueuedItems(3), ["b0", "b1", "b2"]);
      assert.equal((await s.dequeueMany(1500, 30, 1000)).length, 1500);
      for (let n = 0; n < 1200; n++) await s.addToSchedule(`s${n}`, 1000 + (n % 7));
      const due = await s.readSchedule(2000);
      assert.equal(due.length, 1200);
      assert.deepEqual(due.slice(0, 3), ["s0", "s7", "s14"]);
      await s.flushQueue();
      assert.equal(await s.queueSize(), 0);
      assert.equal(await s.leasedCount(), 0);
    } finally {
      await s.close();
    }
  });

  it("writes issued together share commits; one that fails fails alone", async () => {
    const s = await open(freshPath());
    try {
      await Promise.all(Array.from({ length: 200 }, (_, n) => s.enqueue(`w${n}`, 0)));
      assert.deepEqual(
        await s.enqueuedItems(),
        Array.from({ length: 200 }, (_, n) => `w${n}`),
      );
      const outcomes = await Promise.allSettled([
        s.putData("a", "1"),
        s.putData("k".repeat(3000), "key over KV's 2 KiB limit"),
        s.putData("b", "2"),
      ]);
      assert.deepEqual(outcomes.map((outcome) => outcome.status), [
        "fulfilled",
        "rejected",
        "fulfilled",
      ]);
      assert.deepEqual(await s.resultItems(), new Map([["a", "1"], ["b", "2"]]));
      // The same while a dequeue's claim carries the writes.
      await s.enqueue("job", 0);
      const during = await Promise.allSettled([
        s.dequeue(30),
        s.putData("c", "3"),
        s.putData("k".repeat(3000), "key over KV's 2 KiB limit"),
      ]);
      assert.deepEqual(during.map((outcome) => outcome.status), [
        "fulfilled",
        "fulfilled",
        "rejected",
      ]);
      assert.equal(await s.leasedCount(), 1);
      assert.equal(await s.peekData("c"), "3");
    } finally {
      await s.close();
    }
  });

  it("an ack issued during a dequeue shares the claim's commit", async () => {
    const path = freshPath();
    const kv = counting(await openFile(path));
    const s = new DenoKvStorage({ kv });
    try {
      await s.enqueueMany([{ data: "first", priority: 0 }, { data: "second", priority: 0 }]);
      const first = await s.dequeue(30);
      kv.commits = 0;
      // The consumer frees a slot, dequeues, and acks the finished task right after.
      const [second] = await Promise.all([
        s.dequeue(30),
        s.ack(first!.lease, { put: { key: "first-result", value: "1" } }),
      ]);
      assert.equal(kv.commits, 1);
      assert.equal(second?.data, "second");
      assert.equal(await s.peekData("first-result"), "1");
      assert.equal(await s.leasedCount(), 1);
    } finally {
      await s.close();
    }
  });

  it("writes carried by a claim that lost its race are committed after it", async () => {
    const path = freshPath();
    const kv = await openFile(path);
    let readDone!: () => void;
    const listed = new Promise<void>((resolve) => (readDone = resolve));
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    // The loser reads the queue, then waits while the winner takes the message.
    const slowKv: DenoKvLike = {
      get: (key) => kv.get(key),
      getMany: (keys) => kv.getMany(keys),
      atomic: () => kv.atomic(),
      close: () => kv.close(),
      list: (selector, options) => ({
        async *[Symbol.asyncIterator]() {
          const entries = [];
          for await (const entry of kv.list(selector, options)) entries.push(entry);
          readDone();
          await gate;
          yield* entries;
        },
      }),
    };
    const loser = new DenoKvStorage({ kv: slowKv });
    const winner = new DenoKvStorage({ kv });
    try {
      await winner.enqueueMany([{ data: "only", priority: 0 }, { data: "held", priority: 0 }]);
      const held = await winner.dequeue(30);
      assert.equal(held?.data, "only");
      const losing = loser.dequeue(30);
      const acking = loser.ack(held!.lease, { put: { key: "r", value: "stored" } });
      await listed;
      const won = await winner.dequeue(30);
      letGo();
      assert.equal(won?.data, "held");
      assert.equal(await losing, undefined);
      await acking;
      assert.equal(await winner.peekData("r"), "stored");
      assert.equal(await winner.leasedCount(), 1);
    } finally {
      await loser.close();
      await winner.close();
    }
  });

  it("a key or counter past its ttl counts as absent before KV deletes it", async () => {
    let now = Date.now();
    const storage = new DenoKvStorage({ kv: await openFile(freshPath()), clock: () => now });
    try {
      await storage.putData("lock", "first", 10);
      assert.equal(await storage.incr("window", 5, 10), 5);
      now += 9_999;
      assert.equal(await storage.putIfEmpty("lock", "second", 10), false);
      assert.equal(await storage.incr("window"), 6);
      now += 1;
      assert.equal(await storage.hasData("lock"), false);
      assert.equal(await storage.resultCount(), 0);
      assert.equal(await storage.popData("lock"), undefined);
      assert.equal(await storage.deleteData("lock"), false);
      assert.equal(await storage.putIfEmpty("lock", "second", 10), true);
      assert.equal(await storage.peekData("lock"), "second");
      assert.equal(await storage.incr("window"), 1);
    } finally {
      await storage.close();
    }
  });

  it("dequeues records stored before watch keys existed, without watched", async () => {
    const path = freshPath();
    const kv = await openFile(path);
    const s = new DenoKvStorage({ kv });
    s.bind("app");
    try {
      // As the code before watch keys wrote them: a waiting message and a lease, no "w".
      const bytes = (text: string) => new TextEncoder().encode(text);
      const origin = "0123456789abcdef";
      await kv.atomic()
        .set(["dewey", "app", "q", 0, 1, origin], bytes('{"x":0}\nwaiting'))
        .set(
          ["dewey", "app", "l", "old-lease"],
          bytes(`{"q":[0,2,"${origin}"],"t":1000,"x":0}\nleased`),
        )
        .commit();
      const waiting = await s.dequeue(30);
      // Exactly these fields: no `watched`.
      assert.deepEqual(waiting, { data: "waiting", lease: waiting?.lease, expiredLeases: 0 });
      assert.equal(await s.requeueExpired(1000), 1);
      const requeued = await s.dequeue(30);
      assert.deepEqual(requeued, { data: "leased", lease: requeued?.lease, expiredLeases: 1 });
      await s.ack(waiting!.lease);
      await s.ack(requeued!.lease);
      assert.equal(await s.queueSize() + await s.leasedCount(), 0);
    } finally {
      await s.close();
    }
  });

  it("reads watch keys after the claim, ten per getMany, expiry as peekData", async () => {
    let now = Date.now();
    const kv = counting(await openFile(freshPath()));
    const s = new DenoKvStorage({ kv, clock: () => now });
    try {
      await s.putData("~rt:work", "by name");
      await s.putData("short", "lived", 10);
      const ids = Array.from({ length: 12 }, (_, n) => `~r:${n}`);
      await s.putData(ids[3], "revoked");
      await s.enqueueMany(
        ids.map((id, n) => ({ data: `m${n}`, priority: 0, watch: [id, "~rt:work"] })),
      );
      await s.enqueue("expiring", -1, ["short"]);
      now += 10_000;
      kv.log = [];
      const leased = await s.dequeueMany(13, 30);
      // Two claims (ten checks per commit), then 14 distinct keys read once each, in two calls.
      assert.deepEqual(kv.log, ["commit", "commit", "getMany 10", "getMany 4"]);
      assert.deepEqual(
        leased.map((m) => [m.data, m.watched]),
        [
          ...ids.map((id, n) => [
            `m${n}`,
            new Map([[id, n === 3 ? "revoked" : undefined], ["~rt:work", "by name"]]),
          ]),
          ["expiring", new Map([["short", undefined]])],
        ],
      );
    } finally {
      await s.close();
    }
  });

  it("leaves out watch keys that do not fit; the message is leased without", async () => {
    const s = await open(freshPath());
    try {
      await s.putData("k", "v");
      // KV reads keys of up to 2 KiB: a longer one cannot be read with the lease.
      await s.enqueue("long key", 0, ["k", "x".repeat(2_100)]);
      // At the message limit, keys would leave the lease too little room.
      const largest = "m".repeat(65_024);
      await s.enqueue(largest, 0, ["k"]);
      // Just under it, keys that fit are kept.
      const near = "n".repeat(65_000);
      await s.enqueue(near, 0, ["k"]);
      const leased = await s.dequeueMany(3, 30);
      assert.deepEqual(leased.map((m) => [m.data.length, m.watched]), [
        [8, undefined],
        [65_024, undefined],
        [65_000, new Map([["k", "v"]])],
      ]);
      assert.equal(await s.requeueExpired(Date.now() + 60_000), 3);
      assert.deepEqual((await s.dequeueMany(3, 30)).map((m) => [m.expiredLeases, m.watched]), [
        [1, undefined],
        [1, undefined],
        [1, new Map([["k", "v"]])],
      ]);
    } finally {
      await s.close();
    }
  });

  it("a failed read of watch keys returns the messages leased, without watched", async () => {
    const kv = await openFile(freshPath());
    const failing: DenoKvLike = {
      get: (key) => kv.get(key),
      getMany: () => Promise.reject(new Error("read failed")),
      list: (selector, options) => kv.list(selector, options),
      atomic: () => kv.atomic(),
      close: () => kv.close(),
    };
    const s = new DenoKvStorage({ kv: failing });
    try {
      await s.enqueue("m", 0, ["~r:1", "~rt:work"]);
      const leased = await s.dequeue(30);
      assert.deepEqual(leased, { data: "m", lease: leased?.lease, expiredLeases: 0 });
      assert.equal(await s.leasedCount(), 1);
    } finally {
      await s.close();
    }
  });

  it("keeps strings that UTF-8 cannot carry", async () => {
    const s = await open(freshPath());
    try {
      const lone = "a\ud800b\udfffc";
      await s.enqueue(lone, 0);
      await s.putData("k", lone);
      assert.equal((await s.dequeue(30))?.data, lone);
      assert.equal(await s.peekData("k"), lone);
    } finally {
      await s.close();
    }
  });

  it("an enqueue wakes a waiting storage on the same database at once", async () => {
    const path = freshPath();
    const kv = await openFile(path);
    // Storages on one database object; under Deno also two that each open the same path.
    const pairs = [[new DenoKvStorage({ kv }), new DenoKvStorage({ kv })]];
    if (!isBun) pairs.push([await open(path, "dewey"), await open(path, "dewey")]);
    for (const [consumer, producer] of pairs) {
      try {
        const started = performance.now();
        const waiting = consumer.waitForMessage(5);
        await producer.enqueue("wake", 0);
        await waiting;
        assert.ok(performance.now() - started < 1000, "woken by the enqueue, not the timeout");
        const result = consumer.waitForData("result", 5);
        await producer.putData("result", "done");
        assert.equal(await result, true);
        await producer.flushAll();
      } finally {
        await consumer.close();
        await producer.close();
      }
    }
  });

  it("shares a file with the other runtime (Deno and Bun through @deno/kv)", async () => {
    const path = freshPath();
    const s = await open(path);
    try {
      await s.enqueue("from this runtime é🎉", 1);
      await s.putData("key", "value");
      await s.incr("count", -3);
      const output = await inOtherRuntime(
        path,
        `const leased = await storage.dequeue(30);
         console.log(JSON.stringify([leased.data, await storage.peekData("key"),
           await storage.incr("count", 1)]));
         await storage.ack(leased.lease, { put: { key: "answer", value: "ünïcode ✓" } });
         await storage.enqueue("from the other runtime", 0);`,
      );
      assert.deepEqual(JSON.parse(output), ["from this runtime é🎉", "value", -2]);
      assert.equal(await s.peekData("answer"), "ünïcode ✓");
      assert.equal(await s.leasedCount(), 0);
      assert.deepEqual(await s.enqueuedItems(), ["from the other runtime"]);
    } finally {
      await s.close();
    }
  });

  it("takes @deno/kv's database in place of Deno.Kv", async () => {
    const path = freshPath();
    const npm = new DenoKvStorage({ kv: await openNpmKv(path) });
    const own = await open(path, "dewey");
    try {
      await npm.enqueue("through @deno/kv", 0);
      const leased = await own.dequeue(30);
      assert.equal(leased?.data, "through @deno/kv");
      await own.ack(leased!.lease, { put: { key: "r", value: "back" } });
      assert.equal(await npm.peekData("r"), "back");
    } finally {
      await npm.close();
      await own.close();
    }
  });

  it("refuses both path and kv", async () => {
    const kv = await openFile(freshPath());
    assert.throws(() => new DenoKvStorage({ path: "x.kv", kv }), {
      name: "TypeError",
      message: 'Cannot use both "path" and "kv": pass one',
    });
  });

  it("says how to get Deno.openKv where it is missing", async () => {
    const script = `import { DenoKvStorage } from ${JSON.stringify(entry)};
      try { new DenoKvStorage({ path: "never.kv" }); } catch (error) {
        console.log(error.name + ": " + error.message);
      }`;
    // Deno without the kv unstable feature (no --unstable-kv, deno.json not read).
    const deno = await run(bin("deno"), ["eval", "--no-config", "--ext=ts", script]);
    assert.equal(
      deno.stdout,
      'TypeError: Deno.openKv is missing; run with --unstable-kv or set "unstable": ["kv"] ' +
        "in deno.json\n",
      deno.stderr,
    );
    const bun = await run(bin("bun"), ["-e", script]);
    assert.equal(
      bun.stdout,
      "TypeError: Deno.openKv is missing: this runtime is not Deno; pass an open database " +
        `as "kv", e.g. from openKv(path) of npm's @deno/kv\n`,
      bun.stderr,
    );
  });
});

describe("DenoKvStorage on Node", () => {
  it("passes the conformance suite on Node through @deno/kv", { timeout: 120_000 }, async () => {
    // Node 20 runs no TypeScript: Bun bundles the suite first. Inside the repository, so
    // that Node finds @deno/kv (left out of the bundle: it loads a native module).
    mkdirSync(join(root, ".tmp"), { recursive: true });
    const work = mkdtempSync(join(root, ".tmp", "kv-node-"));
    try {
      const source = join(work, "conformance.ts");
      writeFileSync(
        source,
        `import { after } from "node:test";
        import { openKv } from "@deno/kv";
        import { DenoKvStorage } from ${JSON.stringify(join(root, "deno_kv.ts"))};
        import { storageConformance } from ${
          JSON.stringify(join(root, "tests", "storage_conformance.ts"))
        };
        const kv = await openKv(${JSON.stringify(join(work, "node.kv"))});
        after(() => kv.close());
        storageConformance("DenoKvStorage (@deno/kv on Node)", {
          async create(name) {
            const storage = new DenoKvStorage({ kv });
            storage.bind(name);
            await storage.flushAll();
            return storage;
          },
          destroy: (storage) => storage.close(),
          watchesKeys: true,
        });`,
      );
      const bundle = join(work, "conformance.mjs");
      const built = await run(bin("bun"), [
        "build",
        source,
        "--target=node",
        "--external=@deno/kv",
        `--outfile=${bundle}`,
      ]);
      assert.equal(built.code, 0, built.stderr);
      const node = await run("node", ["--test-reporter=tap", bundle]);
      const count = (what: string) =>
        Number(node.stdout.match(new RegExp(`^# ${what} (\\d+)$`, "m"))?.[1]);
      const report = `${
        node.stdout.split("\n").filter((line) => /^\s*not ok|^# /.test(line)).join("\n")
      }\n${node.stderr}`;
      assert.equal(count("fail"), 0, report);
      assert.equal(count("skipped") + count("todo") + count("cancelled"), 0, report);
      assert.ok(count("pass") >= 60, report);
      assert.equal(count("pass"), count("tests"), report);
      assert.equal(node.code, 0, report);
      assert.match(node.stdout, /^# Subtest: DenoKvStorage \(@deno\/kv on Node\)$/m);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

/**
 * `kv` with a count of the atomic operations committed through it, and a log of commits
 * and `getMany` calls (`"commit"`, `"getMany <keys>"`) in the order they were made.
 */
function counting(kv: DenoKvLike): DenoKvLike & { commits: number; log: string[] } {
  const wrapped = {
    commits: 0,
    log: [] as string[],
    get: kv.get.bind(kv),
    getMany(keys: readonly KvKey[]) {
      wrapped.log.push(`getMany ${keys.length}`);
      return kv.getMany(keys);
    },
    list: kv.list.bind(kv),
    close: kv.close.bind(kv),
    atomic() {
      const atomic = kv.atomic();
      const commit = atomic.commit.bind(atomic);
      atomic.commit = () => {
        wrapped.commits++;
        wrapped.log.push("commit");
        return commit();
      };
      return atomic;
    },
  };
  return wrapped;
}

/** The number in a message name, `m12` → 12. */
function i(data: string): number {
  return Number(data.slice(1));
}
