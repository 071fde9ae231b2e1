import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Kysely, sql } from "kysely";
import { SqliteStorage, SqlStorage } from "../sqlite.ts";
import { storageConformance } from "./storage_conformance.ts";

const dir = mkdtempSync(join(tmpdir(), "dewey-sqlite-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** A path for a database file of its own. */
function freshPath(): string {
  return join(dir, `test-${files++}.db`);
}

/** The Kysely instance under a storage, for queries of its own. */
function kysely(storage: SqlStorage): Kysely<unknown> {
  return storage.db as Kysely<unknown>;
}

/** A bound storage on `path`. */
function open(path: string, name = "app", options = {}): SqliteStorage {
  const storage = new SqliteStorage({ path, ...options });
  storage.bind(name);
  return storage;
}

// One file for the whole suite, so names share a database as they would in production.
const shared = freshPath();
storageConformance("SqliteStorage", {
  async create(name) {
    const storage = open(shared, name);
    await storage.flushAll();
    return storage;
  },
  destroy: (storage) => storage.close(),
  watchesKeys: true,
});

const root = fileURLToPath(new URL("..", import.meta.url));
/** The test's own runtime, so a child process runs the same SQLite driver. */
const runtime = "Bun" in globalThis
  ? { command: join(root, "node_modules", ".bin", "bun"), args: ["-e"] }
  : { command: join(root, "node_modules", ".bin", "deno"), args: ["eval", "--ext=ts"] };

/**
 * Runs `code` in a child process of the test's runtime with `SqliteStorage` imported and `storage` open on
 * `path` under "app"; resolves with its stdout lines once it exits. `onLine` sees each
 * line as it arrives.
 */
function child(path: string, code: string, onLine?: (line: string) => void): Promise<string[]> {
  const script = `
    import { SqliteStorage } from ${JSON.stringify(new URL("../sqlite.ts", import.meta.url).href)};
    const storage = new SqliteStorage({ path: ${JSON.stringify(path)} });
    storage.bind("app");
    ${code}
    await storage.close();`;
  return new Promise((resolve, reject) => {
    const process = spawn(runtime.command, [...runtime.args, script], { cwd: root });
    const lines: string[] = [];
    let stderr = "";
    let partial = "";
    process.stdout.on("data", (chunk: Uint8Array) => {
      const parts = (partial + new TextDecoder().decode(chunk)).split("\n");
      partial = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        onLine?.(line);
      }
    });
    process.stderr.on("data", (chunk: Uint8Array) => stderr += new TextDecoder().decode(chunk));
    process.on("error", reject);
    process.on("close", (status: number | null) => {
      if (status === 0) resolve(lines);
      else reject(new Error(`child exited with ${status}: ${stderr}`));
    });
  });
}

describe("SqliteStorage specifics", () => {
  it("records the schema version in <name>_meta", async () => {
    const storage = open(freshPath(), "my-app");
    try {
      await storage.queueSize();
      // "my-app" is not an identifier, so its tables get a hashed prefix.
      const { rows: tables } = await sql<{ name: string }>`select name from sqlite_master
        where type = 'table' and name like 'my_app_%_meta'`.execute(kysely(storage));
      assert.equal(tables.length, 1);
      const { rows } = await sql<{ value: string }>`select value from ${sql.table(tables[0].name)}
        where key = 'schema_version'`.execute(kysely(storage));
      assert.equal(rows[0].value, "3");
    } finally {
      await storage.close();
    }
  });

  it("upgrades a version 1 database, keeping messages in place, results and counters", async () => {
    const path = freshPath();
    // A version 1 database as Dewey 0.1 wrote it (its queue has no expired_leases column).
    const old = open(path);
    const db = kysely(old);
    await sql`create table app_meta (key text primary key, value text not null)`.execute(db);
    await sql`insert into app_meta values ('schema_version', '1')`.execute(db);
    await sql`create table app_queue (id integer primary key autoincrement,
      priority real not null, data text not null, lease_id text, leased_until bigint)`
      .execute(db);
    await sql`insert into app_queue (priority, data) values (0, 'first'), (0, 'second')`
      .execute(db);
    await sql`create table app_kv (key text primary key, value text not null,
      expires_at bigint)`.execute(db);
    await sql`insert into app_kv values ('result', 'stored', null)`.execute(db);
    await sql`create table app_counters (key text primary key, value bigint not null,
      expires_at bigint)`.execute(db);
    await sql`insert into app_counters values ('count', 41, null)`.execute(db);
    await old.close();
    const storage = open(path);
    try {
      const [first, second] = await storage.dequeueMany(2, 30, 1000);
      assert.deepEqual([first.data, second.data], ["first", "second"]);
      assert.deepEqual([first.expiredLeases, second.expiredLeases], [0, 0]);
      assert.equal(await storage.requeueExpired(31_000), 2);
      assert.equal((await storage.dequeue(30, 31_000))?.expiredLeases, 1);
      assert.equal(await storage.peekData("result"), "stored");
      assert.equal(await storage.incr("count"), 42);
      const { rows } = await sql<{ value: string }>`select value from app_meta
        where key = 'schema_version'`.execute(kysely(storage));
      assert.equal(rows[0].value, "3");
    } finally {
      await storage.close();
    }
  });

  it("upgrades a version 2 database: old messages have no watch keys, new ones do", async () => {
    const path = freshPath();
    // A version 2 database (its queue has no watch column), with one message waiting and
    // one leased until 31 s.
    const old = open(path);
    const db = kysely(old);
    await sql`create table app_meta (key text primary key, value text not null)`.execute(db);
    await sql`insert into app_meta values ('schema_version', '2')`.execute(db);
    await sql`create table app_queue (id integer primary key autoincrement,
      priority real not null, data text not null, lease_id text, leased_until bigint,
      expired_leases integer not null default 0)`.execute(db);
    await sql`insert into app_queue (priority, data, lease_id, leased_until)
      values (0, 'leased', 'old-lease', 31000), (0, 'waiting', null, null)`.execute(db);
    await sql`create table app_kv (key text primary key, value text not null,
      expires_at bigint) without rowid`.execute(db);
    await sql`insert into app_kv values ('flag', 'up', null)`.execute(db);
    await sql`create table app_counters (key text primary key, value bigint not null,
      expires_at bigint) without rowid`.execute(db);
    await old.close();
    const storage = open(path);
    try {
      const waiting = await storage.dequeue(30, 31_000);
      assert.equal(waiting?.data, "waiting");
      assert.equal(waiting?.watched, undefined);
      assert.equal(await storage.requeueExpired(31_000), 1);
      const requeued = await storage.dequeue(30, 31_000);
      assert.deepEqual([requeued?.data, requeued?.expiredLeases, requeued?.watched], [
        "leased",
        1,
        undefined,
      ]);
      await storage.enqueue("new", 0, ["flag", "absent"]);
      const fresh = await storage.dequeue(30, 31_000);
      assert.equal(fresh?.data, "new");
      assert.deepEqual(fresh?.watched, new Map([["flag", "up"], ["absent", undefined]]));
      const { rows } = await sql<{ value: string }>`select value from app_meta
        where key = 'schema_version'`.execute(kysely(storage));
      assert.equal(rows[0].value, "3");
    } finally {
      await storage.close();
    }
  });

  it("watch keys are read at lease time, expiring by the clock", async () => {
    const owner = open(freshPath());
    let time = 1_000_000;
    const storage = new SqlStorage({ db: owner.db, clock: () => time });
    storage.bind("watch");
    try {
      await storage.putData("short", "s", 10);
      await storage.putData("kept", "k");
      await storage.enqueueMany([
        { data: "a", priority: 0, watch: ["short", "kept"] },
        { data: "b", priority: 0, watch: [] },
        { data: "c", priority: 0, watch: ["short", "kept"] },
      ]);
      const [a, b] = await storage.dequeueMany(2, 30);
      assert.deepEqual(a.watched, new Map([["short", "s"], ["kept", "k"]]));
      assert.equal(b.watched, undefined, "an empty list is no watch keys");
      time += 10_000; // "short" expires now
      await storage.putData("kept", "changed");
      const c = await storage.dequeue(30);
      assert.deepEqual(c?.watched, new Map([["short", undefined], ["kept", "changed"]]));
      const { rows } = await sql<{ data: string; watch: string | null }>`
        select data, watch from watch_queue order by id`.execute(kysely(owner));
      assert.deepEqual(rows.map((row) => ({ ...row })), [
        { data: "a", watch: '["short","kept"]' },
        { data: "b", watch: null },
        { data: "c", watch: '["short","kept"]' },
      ]);
    } finally {
      await owner.close();
    }
  });

  it("refuses tables from a newer schema version", async () => {
    const path = freshPath();
    const storage = open(path);
    await storage.queueSize();
    await sql`update app_meta set value = '99' where key = 'schema_version'`.execute(
      kysely(storage),
    );
    await storage.close();
    const newer = open(path);
    try {
      await assert.rejects(newer.queueSize(), /schema version 99 is newer/);
    } finally {
      await newer.close();
    }
  });

  it("reopening a file keeps its data", async () => {
    const path = freshPath();
    const first = open(path);
    await first.enqueue("queued", 1);
    await first.addToSchedule("scheduled", 5000);
    await first.putData("key", "value");
    await first.incr("counter", 4);
    const deadId = await first.deadLetter("dead", "reason", 1000);
    await first.close();

    const second = open(path);
    try {
      assert.deepEqual(await second.enqueuedItems(), ["queued"]);
      assert.deepEqual(await second.scheduledItems(), ["scheduled"]);
      assert.equal(await second.peekData("key"), "value");
      assert.equal(await second.incr("counter", 0), 4);
      assert.deepEqual((await second.deadLetters()).map((entry) => entry.id), [deadId]);
    } finally {
      await second.close();
    }
  });

  it("names that differ only in unsafe characters get tables of their own", async () => {
    const path = freshPath();
    const dashed = open(path, "a-b");
    const underscored = open(path, "a_b");
    try {
      await dashed.enqueue("dashed", 0);
      assert.equal(await underscored.queueSize(), 0);
    } finally {
      await dashed.close();
      await underscored.close();
    }
  });

  it("two storages on one file (two connections): 2 × 500 concurrent dequeues", async () => {
    const path = freshPath();
    const a = open(path);
    const b = open(path);
    try {
      const sent = Array.from({ length: 1000 }, (_, i) => `m${i}`);
      await a.enqueueMany(sent.map((data) => ({ data, priority: 0 })));
      const leased = await Promise.all(
        Array.from({ length: 500 }, () => [a.dequeue(30), b.dequeue(30)]).flat(),
      );
      const got = leased.map((message) => message?.data);
      assert.equal(new Set(got).size, 1000);
      assert.deepEqual(got.sort(), sent.sort());
      assert.equal(await b.leasedCount(), 1000);
      // Transactions from both at once take turns instead of deadlocking on SQLite's lock.
      await Promise.all([a.requeueDeadLetter("none"), b.flushAll(), a.flushAll()]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("two processes dequeuing one queue never lease a message twice", async () => {
    const path = freshPath();
    const storage = open(path);
    try {
      const sent = Array.from({ length: 2000 }, (_, i) => `m${i}`);
      await storage.enqueueMany(sent.map((data) => ({ data, priority: 0 })));
      let go!: () => void;
      const ready = new Promise<void>((resolve) => go = resolve);
      const theirs = child(
        path,
        `await storage.queueSize();
        console.log("ready");
        // Start together with the parent, so both really dequeue at once.
        while (!(await storage.hasData("go"))) await new Promise((r) => setTimeout(r, 1));
        const got = [];
        for (let m = await storage.dequeue(30); m; m = await storage.dequeue(30)) {
          got.push(m.data);
          if (got.length === 1) await storage.putData("child-leased", "1");
        }
        console.log(JSON.stringify(got));`,
        (line) => line === "ready" && go(),
      );
      await ready;
      await storage.putData("go", "1");
      const mine: string[] = [];
      for (let m = await storage.dequeue(30); m; m = await storage.dequeue(30)) {
        mine.push(m.data);
        // A fast parent could drain the queue before the child starts; after 100 it waits
        // for the child's first lease, so the rest is dequeued by both at once.
        if (mine.length === 100) {
          while (!(await storage.hasData("child-leased"))) {
            await new Promise((r) => setTimeout(r, 1));
          }
        }
      }
      const lines = await theirs;
      const other: string[] = JSON.parse(lines.at(-1)!);
      assert.ok(mine.length > 0 && other.length > 0, `${mine.length} + ${other.length}`);
      assert.deepEqual([...mine, ...other].sort(), sent.sort());
      assert.equal(await storage.leasedCount(), 2000);
    } finally {
      await storage.close();
    }
  });

  it("four processes opening a new file at once all switch it to WAL", async () => {
    // The switch to WAL is not covered by the busy timeout; it must be retried.
    for (let round = 0; round < 3; round++) {
      const path = freshPath();
      const children = Array.from(
        { length: 4 },
        () => child(path, `await storage.enqueue("x", 0); console.log("ok");`),
      );
      assert.deepEqual(await Promise.all(children), [["ok"], ["ok"], ["ok"], ["ok"]]);
      const storage = new SqliteStorage({ path });
      storage.bind("app");
      assert.equal(await storage.queueSize(), 4);
      await storage.close();
    }
  });

  it("a failing operation in a group commit fails alone; the others are stored", async () => {
    const storage = open(freshPath(), "app");
    await storage.putData("warm", "up"); // opens the file, so the next calls share a batch
    // Concurrent calls share one transaction; a NOT NULL violation sits in the middle.
    const outcomes = await Promise.allSettled([
      storage.putData("a", "1"),
      storage.putData("b", null as unknown as string),
      storage.putData("c", "3"),
      storage.enqueue("message", 0),
    ]);
    assert.deepEqual(outcomes.map((o) => o.status), [
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    assert.equal(await storage.peekData("a"), "1");
    assert.equal(await storage.hasData("b"), false);
    assert.equal(await storage.peekData("c"), "3");
    assert.equal(await storage.queueSize(), 1);
    await storage.close();
  });

  it("synchronous defaults to normal; full sets the pragma", async () => {
    const path = freshPath();
    const normal = open(path);
    const full = open(path, "app", { synchronous: "full" });
    try {
      // 1 = NORMAL, 2 = FULL; the pragma is per connection.
      const read = async (s: SqliteStorage) =>
        (await sql<{ synchronous: number }>`pragma synchronous`.execute(kysely(s))).rows[0]
          .synchronous;
      assert.equal(await read(normal), 1);
      assert.equal(await read(full), 2);
      const { rows } = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(
        kysely(normal),
      );
      assert.equal(rows[0].journal_mode, "wal");
    } finally {
      await normal.close();
      await full.close();
    }
    assert.throws(() => new SqliteStorage({ path, synchronous: "off" as "full" }), TypeError);
  });

  it("waitForMessage wakes for another process's enqueue without polling", async () => {
    const path = freshPath();
    const storage = open(path);
    try {
      await storage.queueSize(); // the tables exist before the child starts
      const theirs = child(
        path,
        `await storage.queueSize();
        await new Promise((resolve) => setTimeout(resolve, 300));
        await storage.enqueue("from the child", 0);
        console.log(Date.now());`,
      );
      const started = Date.now();
      let wakes = 0;
      let leased = await storage.dequeue(30);
      while (leased === undefined) {
        // Other writes (the child's schema check) may wake it too; each wake costs a dequeue.
        await storage.waitForMessage(5);
        wakes++;
        leased = await storage.dequeue(30);
      }
      const received = Date.now();
      const enqueuedAt = Number((await theirs).at(-1));
      assert.equal(leased.data, "from the child");
      assert.ok(
        received - started < 4000,
        `took ${received - started} ms: the timeout, not a wake`,
      );
      assert.ok(received - enqueuedAt < 1000, `woke ${received - enqueuedAt} ms after the enqueue`);
      assert.ok(wakes < 10, `${wakes} wakes`);
    } finally {
      await storage.close();
    }
  });

  it("waitForData wakes for another process's put without polling", async () => {
    const path = freshPath();
    const storage = open(path);
    try {
      await storage.hasData("result"); // the tables exist before the child starts
      const theirs = child(
        path,
        `await storage.hasData("result");
        await new Promise((resolve) => setTimeout(resolve, 300));
        await storage.putData("result", "from the child");
        console.log(Date.now());`,
      );
      const started = Date.now();
      const found = await storage.waitForData("result", 5);
      const received = Date.now();
      const putAt = Number((await theirs).at(-1));
      assert.equal(found, true);
      assert.equal(await storage.peekData("result"), "from the child");
      assert.ok(received - started < 1500, `took ${received - started} ms`);
      assert.ok(received - putAt < 200, `woke ${received - putAt} ms after the put`);
    } finally {
      await storage.close();
    }
  });

  it("close ends a pending waitForData with false", async () => {
    const storage = open(freshPath());
    await storage.hasData("k");
    const started = Date.now();
    const waiting = storage.waitForData("k");
    await new Promise((resolve) => setTimeout(resolve, 20));
    await storage.close();
    assert.equal(await waiting, false);
    assert.ok(Date.now() - started < 1000);
  });

  it("close ends a pending wait", async () => {
    const storage = open(freshPath());
    await storage.queueSize();
    const started = Date.now();
    const waiting = storage.waitForMessage(10);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await storage.close();
    await waiting;
    assert.ok(Date.now() - started < 1000);
  });

  it("ttl expiry follows the clock option", async () => {
    const owner = open(freshPath());
    let time = 1_000_000;
    const storage = new SqlStorage({ db: owner.db, clock: () => time });
    storage.bind("ttl");
    try {
      await storage.putData("k", "v", 10);
      await storage.putData("kept", "v");
      await storage.putIfEmpty("lock", "first", 10);
      assert.equal(await storage.incr("window", 1, 10), 1);
      time += 9_999;
      assert.equal(await storage.peekData("k"), "v");
      assert.equal(await storage.putIfEmpty("lock", "second"), false);
      assert.equal(await storage.incr("window"), 2);
      time += 1;
      assert.equal(await storage.peekData("k"), undefined);
      assert.equal(await storage.hasData("k"), false);
      assert.equal(await storage.resultCount(), 1);
      assert.deepEqual(await storage.resultItems(), new Map([["kept", "v"]]));
      assert.equal(await storage.popData("k"), undefined);
      assert.equal(await storage.deleteData("lock", "first"), false);
      assert.equal(await storage.putIfEmpty("lock", "second"), true);
      assert.equal(await storage.peekData("lock"), "second");
      assert.equal(await storage.incr("window"), 1, "an expired counter starts again");
      time += 60_000;
      assert.equal(await storage.incr("window"), 2, "without a ttl it no longer expires");
      await assert.rejects(storage.putData("k", "v", 0), RangeError);
      await assert.rejects(storage.incr("c", 0.5), RangeError);
    } finally {
      await owner.close();
    }
  });

  it("rejects invalid arguments like MemoryStorage", async () => {
    const storage = open(freshPath());
    try {
      await assert.rejects(storage.enqueue("x", NaN), RangeError);
      await assert.rejects(
        storage.enqueueMany([{ data: "ok", priority: 0 }, { data: "bad", priority: Infinity }]),
        RangeError,
      );
      assert.equal(await storage.queueSize(), 0);
      await assert.rejects(storage.dequeue(NaN), RangeError);
      await assert.rejects(storage.addToSchedule("x", NaN), RangeError);
      await assert.rejects(storage.enqueuedItems(-1), RangeError);
      await assert.rejects(storage.waitForMessage(NaN), RangeError);
    } finally {
      await storage.close();
    }
  });

  it("enqueueMany over several batches keeps FIFO order", async () => {
    const storage = open(freshPath());
    try {
      const sent = Array.from({ length: 2500 }, (_, i) => ({ data: `m${i}`, priority: i % 3 }));
      await storage.enqueueMany(sent);
      const expected = sent.slice().sort((a, b) => b.priority - a.priority).map((m) => m.data);
      assert.deepEqual(await storage.enqueuedItems(), expected);
    } finally {
      await storage.close();
    }
  });
});

describe("SqlStorage", () => {
  it("detects SQLite and leaves the caller's Kysely open on close", async () => {
    const owner = open(freshPath());
    try {
      const storage = new SqlStorage({ db: owner.db });
      assert.equal(storage.dialect, "sqlite");
      storage.bind("other");
      await storage.enqueue("m", 0);
      await storage.close();
      assert.equal(await owner.queueSize(), 0, "another name");
      const { rows } = await sql`select data from other_queue`.execute(kysely(owner));
      assert.equal(rows.length, 1);
    } finally {
      await owner.close();
    }
  });

  it("asks for the dialect when the adapter is not Kysely's own", () => {
    const db = new Kysely<unknown>({
      dialect: {
        createAdapter: () => ({}) as never,
        createDriver: () => ({}) as never,
        createIntrospector: () => ({}) as never,
        createQueryCompiler: () => ({}) as never,
      },
    });
    assert.throws(() => new SqlStorage({ db }), /pass dialect/);
    assert.equal(new SqlStorage({ db, dialect: "postgres" }).dialect, "postgres");
  });
});
