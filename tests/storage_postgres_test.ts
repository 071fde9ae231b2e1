import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { SqlStorage } from "../sqlite.ts";
import { storageConformance } from "./storage_conformance.ts";

/** The server, without a database name; trust auth as user postgres by default. */
const server = process.env.DEWEY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432";
/** A database of this run's own, dropped at the end. */
const database = `dewey_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;

let created: Promise<void> | undefined;
/**
 * Creates the test database once. Every test awaits it, so with no server each test fails
 * with this message instead of being skipped.
 */
function createDatabase(): Promise<void> {
  created ??= (async () => {
    const admin = new pg.Client({ connectionString: `${server}/postgres` });
    try {
      await admin.connect();
    } catch (error) {
      throw new Error(
        `PostgreSQL is not reachable at ${server} (${(error as Error).message}); start it or ` +
          `set DEWEY_TEST_POSTGRES to a server URL without a database name`,
      );
    }
    try {
      await admin.query(`create database ${database}`);
    } finally {
      await admin.end();
    }
  })();
  return created;
}

interface Connection {
  pool: pg.Pool;
  db: Kysely<unknown>;
}

const connections: Connection[] = [];
/** A pool and a Kysely on the test database, destroyed at the end of the run. */
function connect(): Connection {
  const pool = new pg.Pool({ connectionString: `${server}/${database}`, max: 10 });
  const connection = { pool, db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) }) };
  connections.push(connection);
  return connection;
}

after(async () => {
  for (const { db } of connections) await db.destroy();
  if (created === undefined) return;
  await created.catch(() => {}); // nothing to drop if it failed
  const admin = new pg.Client({ connectionString: `${server}/postgres` });
  await admin.connect();
  // pool.end() resolves before its connections are gone; a forced drop would then kill them
  // mid-close, and pg reports that as an unhandled error. Wait for them (up to 5 s) first.
  for (let i = 0; i < 100; i++) {
    const { rows } = await admin.query(
      "select count(*)::int as n from pg_stat_activity where datname = $1",
      [database],
    );
    if (rows[0].n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await admin.query(`drop database if exists ${database} with (force)`);
  await admin.end();
});

/** A bound, empty storage for `name` on `connection`. */
async function storageOn(connection: Connection, name: string): Promise<SqlStorage> {
  await createDatabase();
  const storage = new SqlStorage({ db: connection.db, listen: connection.pool });
  storage.bind(name);
  await storage.flushAll();
  return storage;
}

let main: Connection | undefined;
storageConformance("SqlStorage on PostgreSQL", {
  create: (name) => storageOn(main ??= connect(), name),
  destroy: (storage) => storage.close(),
  watchesKeys: true,
});

describe("SqlStorage on PostgreSQL specifics", () => {
  it("detects the dialect and records the schema version", async () => {
    const connection = main ??= connect();
    const storage = await storageOn(connection, "version");
    try {
      assert.equal(storage.dialect, "postgres");
      const { rows } = await sql<{ value: string }>`select value from version_meta
        where key = 'schema_version'`.execute(connection.db);
      assert.equal(rows[0].value, "3");
    } finally {
      await storage.close();
    }
  });

  it("upgrades a version 2 database: old messages have no watch keys, new ones do", async () => {
    const connection = main ??= connect();
    await createDatabase();
    const db = connection.db;
    // A version 2 database (its queue has no watch column), with one message waiting.
    await sql`create table upgrade_meta (key text primary key, value text not null)`.execute(db);
    await sql`insert into upgrade_meta values ('schema_version', '2')`.execute(db);
    await sql`create table upgrade_queue (id bigserial primary key,
      priority double precision not null, data text not null, lease_id text,
      leased_until bigint, expired_leases integer not null default 0)`.execute(db);
    await sql`insert into upgrade_queue (priority, data) values (0, 'waiting')`.execute(db);
    await sql`create table upgrade_kv (key text primary key, value text not null,
      expires_at bigint)`.execute(db);
    await sql`insert into upgrade_kv values ('flag', 'up', null)`.execute(db);
    const storage = new SqlStorage({ db });
    storage.bind("upgrade");
    try {
      const waiting = await storage.dequeue(30);
      assert.deepEqual([waiting?.data, waiting?.watched], ["waiting", undefined]);
      await storage.enqueue("new", 0, ["flag", "absent"]);
      const fresh = await storage.dequeue(30);
      assert.equal(fresh?.data, "new");
      assert.deepEqual(fresh?.watched, new Map([["flag", "up"], ["absent", undefined]]));
      const { rows } = await sql<{ value: string }>`select value from upgrade_meta
        where key = 'schema_version'`.execute(db);
      assert.equal(rows[0].value, "3");
    } finally {
      await storage.close();
    }
  });

  it("watch keys are read at lease time, expiring by the clock", async () => {
    const connection = main ??= connect();
    await createDatabase();
    let time = 1_000_000;
    const storage = new SqlStorage({ db: connection.db, clock: () => time });
    storage.bind("watch_clock");
    try {
      await storage.flushAll();
      await storage.putData("short", "s", 10);
      await storage.putData("kept", "k");
      const watch = ["short", "kept"];
      await storage.enqueueMany([
        { data: "a", priority: 0, watch },
        { data: "b", priority: 0, watch: [] },
        { data: "c", priority: 0, watch },
      ]);
      const [a, b] = await storage.dequeueMany(2, 30);
      assert.deepEqual(a.watched, new Map([["short", "s"], ["kept", "k"]]));
      assert.equal(b.watched, undefined, "an empty list is no watch keys");
      time += 10_000; // "short" expires now
      await storage.putData("kept", "changed");
      const [c] = await storage.dequeueMany(5, 30);
      assert.deepEqual(c.watched, new Map([["short", undefined], ["kept", "changed"]]));
    } finally {
      await storage.close();
    }
  });

  it("two pools: 2 × 500 concurrent dequeues never lease a message twice", async () => {
    const a = await storageOn(connect(), "race");
    const b = await storageOn(connect(), "race");
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
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("two pools: concurrent readSchedule calls never both take an entry", async () => {
    const a = await storageOn(connect(), "schedule_race");
    const b = await storageOn(connect(), "schedule_race");
    try {
      const sent = Array.from({ length: 200 }, (_, i) => `s${i}`);
      for (const [i, data] of sent.entries()) await a.addToSchedule(data, 1000 + (i % 7));
      const taken = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).readSchedule(5000)),
      );
      assert.deepEqual(taken.flat().sort(), sent.slice().sort());
      for (const batch of taken) {
        const etas = batch.map((data) => 1000 + (Number(data.slice(1)) % 7));
        assert.deepEqual(etas, etas.slice().sort((x, y) => x - y), "soonest first");
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("waitForMessage wakes on another connection's enqueue through LISTEN", async () => {
    const waiter = await storageOn(connect(), "listen");
    const sender = await storageOn(connect(), "listen");
    try {
      await waiter.queueSize();
      const started = performance.now();
      const waiting = waiter.waitForMessage(5);
      // Let the LISTEN connection come up first, as a consumer's would long before.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const sentAt = performance.now();
      await sender.enqueue("hello", 0);
      await waiting;
      const woke = performance.now();
      assert.ok(woke - started < 4000, "woken, not timed out");
      assert.ok(woke - sentAt < 1000, `woke ${woke - sentAt} ms after the enqueue`);
      assert.equal((await waiter.dequeue(30))?.data, "hello");
    } finally {
      await waiter.close();
      await sender.close();
    }
  });

  it("waitForMessage without listen still wakes for its own enqueues", async () => {
    const connection = main ??= connect();
    await createDatabase();
    const storage = new SqlStorage({ db: connection.db });
    storage.bind("no_listen");
    try {
      await storage.flushAll();
      const started = performance.now();
      const waiting = storage.waitForMessage(5);
      await storage.enqueue("m", 0);
      await waiting;
      assert.ok(performance.now() - started < 1000);
    } finally {
      await storage.close();
    }
  });
});
