// RedisStorage: the conformance suite over TCP (ioredis) and over Upstash REST (through
// the test proxy), plus what is Redis's own: result expiry, blocking wake-ups, round
// trips, script-cache fallback, error messages, key isolation and edge bundling. Every
// test talks to a private redis-server on a free port, never to the shared one.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { Redis as UpstashRedis } from "@upstash/redis";
import { Dewey } from "../mod.ts";
import {
  type LuaScript,
  type RedisArg,
  type RedisExecutor,
  type RedisReply,
  RedisStorage,
  tcpExecutor,
  upstashExecutor,
} from "../redis.ts";
import { storageConformance } from "./storage_conformance.ts";
import { freePort, type RedisServer, startRedisServer } from "./support/redis_server.ts";
import { startUpstashProxy, type UpstashProxy } from "./support/upstash_proxy.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

interface Servers {
  redis: RedisServer;
  proxy: UpstashProxy;
  /** A plain ioredis client on the private server, to look at keys directly. */
  raw: Redis;
}

let started: Promise<Servers> | undefined;
/** The private redis-server and the REST proxy in front of it, started once per file. */
function servers(): Promise<Servers> {
  started ??= (async () => {
    const redis = await startRedisServer();
    const proxy = await startUpstashProxy({ redisPort: redis.port, token: "proxy-token-1234" });
    return { redis, proxy, raw: new Redis(redis.url) };
  })();
  return started;
}

after(async () => {
  if (started === undefined) return;
  const { redis, proxy, raw } = await started;
  raw.disconnect();
  await proxy.close();
  await redis.stop();
});

type Transport = "tcp" | "rest";

/** A storage on the private server over `transport`, bound to `name` and emptied. */
async function storageFor(
  transport: Transport,
  name: string,
  options: { expireResults?: number } = {},
): Promise<RedisStorage> {
  const { redis, proxy } = await servers();
  const storage = transport === "tcp"
    ? new RedisStorage({ url: redis.url, ...options })
    : new RedisStorage({ url: proxy.url, token: proxy.token, ...options });
  storage.bind(name);
  await storage.flushAll();
  return storage;
}

for (const transport of ["tcp", "rest"] as const) {
  storageConformance(`RedisStorage over ${transport === "tcp" ? "TCP" : "Upstash REST"}`, {
    create: (name) => storageFor(transport, name),
    async destroy(storage) {
      await storage.flushAll();
      await storage.close();
    },
    watchesKeys: true,
  });
}

/** An executor that counts the round trips it is asked for. */
class CountingExecutor implements RedisExecutor {
  calls = 0;
  constructor(readonly inner: RedisExecutor) {}
  get description(): string {
    return this.inner.description;
  }
  send(args: RedisArg[]): Promise<RedisReply> {
    this.calls++;
    return this.inner.send(args);
  }
  evalScript(script: LuaScript, keys: RedisArg[], args: RedisArg[]): Promise<RedisReply> {
    this.calls++;
    return this.inner.evalScript(script, keys, args);
  }
  pipeline(commands: RedisArg[][]): Promise<(RedisReply | Error)[]> {
    this.calls++;
    return this.inner.pipeline(commands);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A storage named `<name>_<transport>` whose executor counts the calls it makes. */
async function countingStorage(transport: "tcp" | "rest", name: string) {
  const { redis, proxy } = await servers();
  const inner = transport === "tcp"
    ? tcpExecutor(redis.url)
    : upstashExecutor({ url: proxy.url, token: proxy.token });
  const executor = new CountingExecutor(inner);
  const storage = new RedisStorage({ executor });
  storage.bind(`${name}_${transport}`);
  return { storage, executor, proxy };
}

/** Resolves once `count` clients are blocked in BLPOP on the private server. */
async function blockedClients(raw: Redis, count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const list = String(await raw.call("CLIENT", ["LIST"]));
    const blocked = list.split("\n").filter((line) => / cmd=blpop /.test(line)).length;
    if (blocked >= count) return;
    assert.ok(Date.now() < deadline, `expected ${count} blocked client(s), saw ${blocked}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Every key of the private server, sorted. */
async function allKeys(raw: Redis): Promise<string[]> {
  return (await raw.keys("*")).sort();
}

describe("RedisStorage specifics", () => {
  describe("result expiry (expireResults)", () => {
    for (const transport of ["tcp", "rest"] as const) {
      it(`sets a ttl on results only, over ${transport}`, async () => {
        const { raw } = await servers();
        const storage = await storageFor(transport, `expire_${transport}`, {
          expireResults: 60,
        });
        try {
          const key = (suffix: string) => `${storage.prefix}k:${suffix}`;
          await storage.putData("task-id", "result");
          await storage.putData("~r:task-id", "revocation");
          await storage.putData("own-ttl", "v", 5);
          await storage.putIfEmpty("~lock:x", "token", 30);
          await storage.enqueue("job", 0);
          const leased = await storage.dequeue(30);
          assert.ok(leased);
          await storage.ack(leased.lease, { put: { key: "acked-id", value: "done" } });
          await storage.incr("counter", 1);

          const ttl = async (k: string) => Number(await raw.pttl(k));
          for (const result of ["task-id", "acked-id"]) {
            const left = await ttl(key(result));
            assert.ok(left > 55_000 && left <= 60_000, `${result}: pttl ${left}`);
          }
          assert.equal(await ttl(key("~r:task-id")), -1, "a revocation does not expire");
          const own = await ttl(key("own-ttl"));
          assert.ok(own > 0 && own <= 5000, `own ttl kept: ${own}`);
          const lock = await ttl(key("~lock:x"));
          assert.ok(lock > 25_000 && lock <= 30_000, `lock keeps its ttl: ${lock}`);
          assert.equal(await ttl(`${storage.prefix}c:counter`), -1, "counters do not expire");
          assert.equal(await storage.popData("task-id"), "result", "reads still pop");
          assert.equal(await storage.hasData("task-id"), false);
        } finally {
          await storage.flushAll();
          await storage.close();
        }
      });
    }

    it("without expireResults nothing expires", async () => {
      const { raw } = await servers();
      const storage = await storageFor("tcp", "no_expire");
      try {
        await storage.putData("task-id", "result");
        assert.equal(await raw.pttl(`${storage.prefix}k:task-id`), -1);
      } finally {
        await storage.close();
      }
    });

    it("refuses a non-positive expireResults", () => {
      for (const expireResults of [0, -1, Infinity, NaN]) {
        assert.throws(
          () => new RedisStorage({ url: "redis://127.0.0.1:1", expireResults }),
          RangeError,
        );
      }
    });
  });

  describe("blocking wake-ups over TCP", () => {
    it("waitForMessage wakes on an enqueue by another storage, over REST", async () => {
      const { raw } = await servers();
      const waiter = await storageFor("tcp", "wake");
      const sender = await storageFor("rest", "wake");
      try {
        const started = performance.now();
        const waiting = waiter.waitForMessage!(10);
        await blockedClients(raw, 1);
        await sender.enqueue("hello", 0);
        await waiting;
        const elapsed = performance.now() - started;
        assert.ok(elapsed < 5000, `woken by the enqueue, not the 10 s timeout (${elapsed} ms)`);
        assert.equal((await waiter.dequeue(30))?.data, "hello");
      } finally {
        await waiter.close();
        await sender.close();
      }
    });

    it("waitForMessage returns at once when a message is already waiting", async () => {
      const storage = await storageFor("tcp", "waiting");
      try {
        await storage.enqueue("m", 0);
        const started = performance.now();
        await storage.waitForMessage!(10);
        assert.ok(performance.now() - started < 5000);
      } finally {
        await storage.close();
      }
    });

    it("one enqueue wakes one of two blocked consumers; many wake both", async () => {
      const { raw } = await servers();
      const a = await storageFor("tcp", "herd");
      const b = await storageFor("tcp", "herd");
      const sender = await storageFor("tcp", "herd");
      try {
        let woken = 0;
        const waits = [a, b].map((s) => s.waitForMessage!(10).then(() => woken++));
        await blockedClients(raw, 2);
        await sender.enqueue("one", 0);
        await Promise.race(waits);
        // The second waiter is still blocked on the same list.
        await blockedClients(raw, 1);
        assert.equal(woken, 1);
        await sender.enqueueMany([{ data: "two", priority: 0 }, { data: "three", priority: 0 }]);
        await Promise.all(waits);
        assert.equal(woken, 2);
      } finally {
        await Promise.all([a.close(), b.close(), sender.close()]);
      }
    });

    it("waitForMessage ends when its signal aborts, and on close", async () => {
      const { raw } = await servers();
      const storage = await storageFor("tcp", "abort");
      try {
        const controller = new AbortController();
        const started = performance.now();
        const waiting = storage.waitForMessage!(10, controller.signal);
        await blockedClients(raw, 1);
        controller.abort();
        await waiting;
        const closing = storage.waitForMessage!(10);
        await blockedClients(raw, 1);
        await storage.close();
        await closing;
        assert.ok(performance.now() - started < 5000, "neither waited for its timeout");
      } finally {
        await storage.close();
      }
    });

    it("waitForData wakes on a result put by another storage (notifyResult)", async () => {
      const { raw } = await servers();
      const waiter = await storageFor("tcp", "notify");
      const writer = await storageFor("rest", "notify");
      try {
        assert.equal(typeof waiter.waitForData, "function");
        const started = performance.now();
        const waiting = waiter.waitForData!("task-id", 10);
        await blockedClients(raw, 1);
        await writer.enqueue("job", 0);
        const leased = await writer.dequeue(30);
        assert.ok(leased);
        await writer.ack(leased.lease, { put: { key: "task-id", value: "42" } });
        assert.equal(await waiting, true);
        assert.ok(performance.now() - started < 5000, "woken by the put, not the timeout");
        assert.equal(await waiter.popData("task-id"), "42");
        // Two waiters on one key both wake on one put.
        const both = [waiter.waitForData!("other", 10), waiter.waitForData!("other", 10)];
        await blockedClients(raw, 2);
        await writer.putData("other", "v");
        assert.deepEqual(await Promise.all(both), [true, true]);
      } finally {
        await waiter.close();
        await writer.close();
      }
    });

    it("waitForData without notifyResult is absent (callers poll)", async () => {
      const { redis } = await servers();
      const storage = new RedisStorage({ url: redis.url, notifyResult: false });
      assert.equal(storage.waitForData, undefined);
      assert.equal(typeof storage.waitForMessage, "function");
      await storage.close();
    });

    it("REST has neither blocking wait, and refuses notifyResult", async () => {
      const { proxy } = await servers();
      const storage = new RedisStorage({ url: proxy.url, token: proxy.token });
      assert.equal(storage.waitForMessage, undefined);
      assert.equal(storage.waitForData, undefined);
      assert.throws(
        () => new RedisStorage({ url: proxy.url, token: proxy.token, notifyResult: true }),
        TypeError,
      );
    });
  });

  describe("round trips", () => {
    for (const transport of ["tcp", "rest"] as const) {
      it(`one per enqueue and one per enqueueMany, over ${transport}`, async () => {
        const { storage, executor, proxy } = await countingStorage(transport, "trips");
        try {
          await storage.flushAll();
          await storage.enqueue("warm-up", 0); // the server learns the script
          executor.calls = 0;
          const requests = proxy.requests;
          await storage.enqueue("one", 0);
          assert.equal(executor.calls, 1);
          await storage.enqueueMany(
            Array.from({ length: 100 }, (_, i) => ({ data: `m${i}`, priority: i % 3 })),
          );
          assert.equal(executor.calls, 2);
          // Bigger than one script's batch: one pipeline, still one round trip.
          const big = Array.from({ length: 12_000 }, (_, i) => ({ data: `b${i}`, priority: -1 }));
          await storage.enqueueMany(big);
          assert.equal(executor.calls, 3);
          if (transport === "rest") assert.equal(proxy.requests - requests, 3, "HTTP requests");
          assert.equal(await storage.queueSize(), 1 + 1 + 100 + 12_000);
          const items = await storage.enqueuedItems();
          assert.deepEqual(items.slice(-12_000), big.map((item) => item.data), "FIFO kept");
        } finally {
          await storage.flushAll();
          await storage.close();
          await executor.close();
        }
      });

      it(`acks issued together share one script, over ${transport}`, async () => {
        const { storage, executor } = await countingStorage(transport, "acks");
        try {
          await storage.flushAll();
          await storage.enqueueMany(["a", "b", "c"].map((data) => ({ data, priority: 0 })));
          const [a, b, c] = await storage.dequeueMany(3, 30);
          await storage.putData("~r:b", "revoked");
          executor.calls = 0;
          await Promise.all([
            storage.ack(a.lease, { put: { key: "a", value: "A" } }),
            storage.ack(b.lease, { delete: ["~r:b"] }),
            storage.ack(c.lease, { put: { key: "c", value: "C" }, delete: ["gone"] }),
          ]);
          assert.equal(executor.calls, 1);
          assert.equal(await storage.leasedCount(), 0);
          assert.deepEqual(
            [
              await storage.peekData("a"),
              await storage.peekData("~r:b"),
              await storage.peekData("c"),
            ],
            ["A", undefined, "C"],
          );
          // An ack of a lease no longer held still applies its effects.
          await Promise.all([
            storage.ack(a.lease, { put: { key: "late", value: "L" } }),
            storage.ack("unknown", {}),
          ]);
          assert.equal(await storage.peekData("late"), "L");
        } finally {
          await storage.flushAll();
          await storage.close();
          await executor.close();
        }
      });

      it(`scripts run again after the server forgot them, over ${transport}`, async () => {
        const { raw } = await servers();
        const storage = await storageFor(transport, `noscript_${transport}`);
        try {
          await storage.enqueue("before", 0);
          await raw.script("FLUSH");
          await storage.enqueue("after", 0);
          await raw.script("FLUSH");
          await storage.enqueueMany(
            Array.from({ length: 11_000 }, (_, i) => ({ data: `m${i}`, priority: 0 })),
          );
          const items = await storage.enqueuedItems();
          assert.equal(items.length, 11_002);
          assert.deepEqual(items.slice(0, 3), ["before", "after", "m0"]);
          assert.equal(items[11_001], "m10999");
        } finally {
          await storage.flushAll();
          await storage.close();
        }
      });
    }
  });

  describe("connection errors", () => {
    it("a wrong REST token gives one error naming the URL, without the token", async () => {
      const { proxy } = await servers();
      const token = "wrong-secret-token-9876";
      const storage = new RedisStorage({ url: proxy.url, token });
      storage.bind("bad_token");
      const error = await storage.enqueue("m", 0).then(() => undefined, (e: Error) => e);
      assert.ok(error instanceof Error, "the enqueue failed");
      assert.equal(
        error.message,
        `Upstash Redis at ${proxy.url} refused the token: Unauthorized`,
      );
      assert.ok(!error.message.includes(token));
      assert.ok(!String(error.stack).includes(token));
    });

    it("a wrong TCP password gives an error naming the URL, without the password", async () => {
      const server = await startRedisServer({ password: "right-password" });
      const storage = new RedisStorage({ url: `redis://:wrong-password@127.0.0.1:${server.port}` });
      storage.bind("bad_password");
      try {
        const error = await storage.queueSize().then(() => undefined, (e: Error) => e);
        assert.ok(error instanceof Error, "the call failed");
        assert.match(
          error.message,
          new RegExp(`^Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${server.port} refused`),
        );
        assert.ok(!error.message.includes("wrong-password"));
      } finally {
        await storage.close();
        await server.stop();
      }
    });

    it("an unreachable server fails the call with the URL instead of hanging", async () => {
      const port = await freePort();
      const storage = new RedisStorage({ url: `redis://127.0.0.1:${port}/0` });
      storage.bind("down");
      try {
        const error = await storage.enqueue("m", 0).then(() => undefined, (e: Error) => e);
        assert.ok(error instanceof Error);
        assert.match(
          error.message,
          new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${port}/0 is unreachable`),
        );
        assert.equal(
          error.message,
          `Redis at redis://127.0.0.1:${port}/0 is unreachable: connect ECONNREFUSED 127.0.0.1:${port}`,
        );
      } finally {
        await storage.close();
      }
    });

    it("a storage works again once its (append-only) server is back", async () => {
      const server = await startRedisServer({ appendonly: true });
      const storage = new RedisStorage({ url: server.url });
      storage.bind("restart");
      try {
        await storage.enqueue("a", 0);
        await server.stop({ keepDir: true });
        assert.equal(server.running, false);
        await assert.rejects(storage.queueSize(), /is unreachable/);
        await server.restart();
        assert.equal(server.running, true);
        // ioredis reconnects in the background; the first calls may still fail.
        const deadline = Date.now() + 10_000;
        for (;;) {
          try {
            await storage.enqueue("b", 0);
            break;
          } catch (error) {
            if (Date.now() > deadline) throw error;
          }
        }
        assert.deepEqual(await storage.enqueuedItems(), ["a", "b"], "the AOF kept the queue");
      } finally {
        await storage.close();
        await server.stop();
      }
    });
  });

  describe("Upstash clients", () => {
    it("takes an @upstash/redis client, whose JSON parsing does not touch values", async () => {
      const { proxy } = await servers();
      const client = new UpstashRedis({ url: proxy.url, token: proxy.token });
      const storage = new RedisStorage({ client });
      storage.bind("client");
      try {
        assert.equal(storage.executor.description, proxy.url);
        await storage.flushAll();
        for (const value of ['{"a":1}', "1.0", "007", "null", "true", "", "T0s="]) {
          await storage.putData("k", value);
          assert.equal(await storage.peekData("k"), value);
          await storage.enqueue(value, 0);
          assert.equal((await storage.dequeue(30))?.data, value);
        }
      } finally {
        await storage.flushAll();
        await storage.close();
      }
    });

    it("the test proxy answers @upstash/redis as Upstash does", async () => {
      const { proxy, raw } = await servers();
      const client = new UpstashRedis({ url: proxy.url, token: proxy.token });
      try {
        await client.set("proxy:json", { a: [1, "é"] });
        assert.deepEqual(await client.get("proxy:json"), { a: [1, "é"] });
        assert.equal(await client.get("proxy:missing"), null);
        assert.equal(await client.ping(), "PONG");
        assert.equal(await client.type("proxy:json"), "string");
        const pipeline = client.pipeline();
        pipeline.incr("proxy:n");
        pipeline.incr("proxy:n");
        assert.deepEqual(await pipeline.exec(), [1, 2]);
        const multi = client.multi();
        multi.set("proxy:s", "x");
        multi.get("proxy:s");
        assert.deepEqual(await multi.exec(), ["OK", "x"]);
        await client.zadd("proxy:z", { score: 2, member: "b" }, { score: 1, member: "a" });
        assert.deepEqual(await client.zrange("proxy:z", 0, -1, { withScores: true }), [
          "a",
          1,
          "b",
          2,
        ]);
        await raw.script("FLUSH");
        const script = client.createScript<string>("return ARGV[1]");
        assert.equal(await script.exec([], ["hi"]), "hi"); // EVALSHA fails, EVAL runs
        await assert.rejects(client.hget("proxy:json", "f"), /WRONGTYPE/);
        const stranger = new UpstashRedis({ url: proxy.url, token: "not-the-token" });
        await assert.rejects(stranger.get("proxy:json"), /Unauthorized/);
      } finally {
        await raw.del("proxy:json", "proxy:n", "proxy:s", "proxy:z");
      }
    });
  });

  describe("configuration", () => {
    it("reads REDIS_URL, then the Upstash variables, from the environment", async () => {
      const { redis, proxy } = await servers();
      const saved = { ...process.env };
      try {
        delete process.env.REDIS_URL;
        process.env.UPSTASH_REDIS_REST_URL = proxy.url;
        process.env.UPSTASH_REDIS_REST_TOKEN = proxy.token;
        const rest = new RedisStorage();
        assert.equal(rest.executor.description, proxy.url);
        assert.equal(rest.waitForMessage, undefined);
        process.env.REDIS_URL = redis.url;
        const tcp = new RedisStorage();
        assert.equal(tcp.executor.description, redis.url);
        assert.equal(typeof tcp.waitForMessage, "function");
        tcp.bind("env");
        assert.equal(await tcp.queueSize(), 0);
        await tcp.close();
        delete process.env.REDIS_URL;
        delete process.env.UPSTASH_REDIS_REST_URL;
        assert.throws(() => new RedisStorage(), TypeError);
      } finally {
        for (const key of ["REDIS_URL", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN"]) {
          if (saved[key] === undefined) delete process.env[key];
          else process.env[key] = saved[key];
        }
      }
    });

    it("refuses ambiguous or incomplete options", () => {
      const executor = upstashExecutor({ url: "https://example.invalid", token: "t" });
      assert.throws(() => new RedisStorage({ url: "redis://127.0.0.1:1", executor }), TypeError);
      assert.throws(() => new RedisStorage({ url: "https://example.invalid" }), TypeError);
      assert.throws(() => new RedisStorage({ url: "ftp://example.invalid" }), TypeError);
    });
  });

  describe("keys", () => {
    it("live under dewey:{name}: and flushAll removes exactly one name's", async () => {
      const { raw } = await servers();
      const before = await allKeys(raw);
      const a = await storageFor("tcp", "keys a");
      const b = await storageFor("tcp", "keys}b");
      try {
        assert.equal(a.prefix, "dewey:{keys%20a}:");
        assert.equal(b.prefix, "dewey:{keys%7Db}:");
        for (const s of [a, b]) {
          await s.enqueue("queued", 0);
          await s.enqueue("leased", 1);
          await s.dequeue(30);
          await s.addToSchedule("later", Date.now() + 60_000);
          await s.putData("result", "v");
          await s.putIfEmpty("~lock:l", "t", 60);
          await s.incr("count", 2, 60);
          await s.deadLetter("bad", "reason");
        }
        const added = (await allKeys(raw)).filter((key) => !before.includes(key));
        assert.ok(added.length > 0);
        for (const key of added) {
          assert.ok(key.startsWith(a.prefix) || key.startsWith(b.prefix), `stray key ${key}`);
        }
        await a.flushAll();
        const left = (await allKeys(raw)).filter((key) => !before.includes(key));
        assert.deepEqual(left.filter((key) => key.startsWith(a.prefix)), []);
        assert.deepEqual(left, added.filter((key) => key.startsWith(b.prefix)));
      } finally {
        await a.close();
        await b.flushAll();
        await b.close();
      }
    });
  });

  describe("watch keys", () => {
    it("live while their message does: release and expiry keep them, ack and flushQueue remove them", async () => {
      const { raw } = await servers();
      const storage = await storageFor("tcp", "watch_keys");
      const watch = `${storage.prefix}watch`;
      try {
        await storage.enqueue("a", 0, ["x"]);
        await storage.enqueueMany([{ data: "b", priority: 0, watch: ["y"] }, {
          data: "c",
          priority: 0,
        }]);
        assert.equal(await raw.hlen(watch), 2); // c has none
        const [a, b] = await storage.dequeueMany(2, 30);
        await storage.release(b.lease);
        assert.equal(await raw.hlen(watch), 2);
        await storage.ack(a.lease);
        assert.equal(await raw.hlen(watch), 1);
        // A message whose lease expired keeps its keys, and its ack removes them.
        await storage.dequeue(30, 1_000);
        assert.equal(await storage.requeueExpired(10 ** 13), 1);
        const again = await storage.dequeue(30);
        assert.equal(again?.data, "b");
        assert.deepEqual(again?.watched, new Map([["y", undefined]]));
        assert.equal(again?.expiredLeases, 1);
        await storage.ack(again!.lease);
        assert.equal(await raw.hlen(watch), 0);
        await storage.enqueue("d", 0, ["z"]);
        await storage.flushQueue();
        assert.equal(await raw.exists(watch), 0);
      } finally {
        await storage.flushAll();
        await storage.close();
      }
    });
  });

  describe("across executors", () => {
    it("a task enqueued over REST by a Dewey producer runs from a TCP storage", async () => {
      const { redis, proxy } = await servers();
      const producer = new Dewey({
        name: "mixed",
        storage: new RedisStorage({ url: proxy.url, token: proxy.token }),
      });
      const consumer = new Dewey({ name: "mixed", storage: new RedisStorage({ url: redis.url }) });
      try {
        await consumer.flush();
        const add = (dewey: Dewey) => dewey.task("add", (a: number, b: number) => a + b);
        const produced = add(producer);
        add(consumer);
        const result = await produced(20, 22);
        const [task] = await consumer.dequeue();
        assert.ok(task, "the TCP side sees the task");
        assert.equal(task.name, "add");
        assert.equal(await consumer.execute(task), 42);
        assert.equal(await result.get({ blocking: true, timeout: 5 }), 42);
        assert.equal(await consumer.storage.leasedCount(), 0);
      } finally {
        await consumer.flush();
        await producer.close();
        await consumer.close();
      }
    });

    it("two TCP storages racing 2 × 300 dequeues never lease a message twice", async () => {
      const a = await storageFor("tcp", "race");
      const b = await storageFor("tcp", "race");
      try {
        const sent = Array.from({ length: 500 }, (_, i) => `m${i}`);
        await a.enqueueMany(sent.map((data) => ({ data, priority: 0 })));
        const leased = await Promise.all(
          Array.from({ length: 300 }, () => [a.dequeue(30), b.dequeue(30)]).flat(),
        );
        const got = leased.filter((m) => m !== undefined).map((m) => m.data);
        assert.deepEqual(got.sort(), sent.slice().sort());
        assert.equal(await b.leasedCount(), 500);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it("a process using a TCP storage exits after close()", async () => {
      const { redis } = await servers();
      // Inside the project, so that Deno finds its configuration and node_modules.
      mkdirSync(join(ROOT, ".tmp"), { recursive: true });
      const dir = mkdtempSync(join(ROOT, ".tmp", "exit-"));
      try {
        const file = join(dir, "exit.ts");
        writeFileSync(
          file,
          `import { RedisStorage } from ${JSON.stringify(join(ROOT, "redis.ts"))};
          const storage = new RedisStorage({ url: ${JSON.stringify(redis.url)} });
          storage.bind("exit");
          await storage.enqueue("m", 0);
          await storage.waitForMessage!(0.05);
          console.log(await storage.waitForData!("nothing", 0.05));
          await storage.flushAll();
          await storage.close();\n`,
        );
        const deno = "Deno" in globalThis;
        const result = spawnSync(process.execPath, deno ? ["run", "-A", file] : [file], {
          cwd: ROOT,
          timeout: 20_000,
          encoding: "utf8",
        });
        assert.equal(result.status, 0, `exit ${result.status}: ${result.stderr}`);
        assert.equal(result.stdout.trim(), "false");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("edge safety", () => {
    it("an Upstash-only import of redis.ts bundles for the browser without ioredis", () => {
      const dir = mkdtempSync(join(tmpdir(), "dewey-bundle-"));
      try {
        const entry = join(dir, "edge.ts");
        writeFileSync(
          entry,
          `import { RedisStorage } from ${JSON.stringify(join(ROOT, "redis.ts"))};
          export default {
            async fetch(request: Request, env: { URL: string; TOKEN: string }) {
              const storage = new RedisStorage({ url: env.URL, token: env.TOKEN });
              storage.bind("edge");
              await storage.enqueue(await request.text(), 0);
              return new Response("ok");
            },
          };\n`,
        );
        const out = join(dir, "edge.js");
        const bun = join(ROOT, "node_modules", ".bin", "bun");
        const result = spawnSync(
          bun,
          ["build", entry, "--target=browser", "--format=esm", `--outfile=${out}`],
          { cwd: ROOT, encoding: "utf8", timeout: 60_000 },
        );
        assert.equal(result.status, 0, result.stderr);
        const bundle = readFileSync(out, "utf8");
        assert.ok(bundle.includes("node_modules/@upstash/redis"), "the REST client is bundled");
        assert.ok(!bundle.includes("node_modules/ioredis"), "ioredis is not bundled");
        assert.ok(!/["']node:net["']|["']net["']/.test(bundle), "no node:net");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
