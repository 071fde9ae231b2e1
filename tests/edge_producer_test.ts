/**
 * The edge producer end to end: `examples/edge_producer.ts` bundled for the browser
 * platform runs inside workerd (Cloudflare's Workers runtime) and enqueues over Upstash
 * REST (the test proxy in front of a private redis-server); a real `cli.ts consume`
 * process (the runtime running the tests) executes the task from the same Redis over TCP;
 * this process reads the result by the id the Worker answered.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { RedisStorage } from "../redis.ts";
import { edgeApp } from "../examples/edge_tasks.ts";
import { type CliProcess, startCli } from "./support/cli.ts";
import { type RedisServer, startRedisServer } from "./support/redis_server.ts";
import { startUpstashProxy, type UpstashProxy } from "./support/upstash_proxy.ts";
import { bundleWorker, startWorkerd, type Workerd } from "./support/workerd.ts";

const FIXTURE = "tests/fixtures/e2e_redis_tasks.ts";

describe("edge producer in workerd", () => {
  let dir: string;
  let redis: RedisServer;
  let proxy: UpstashProxy;
  let workerd: Workerd;
  let consumer: CliProcess;
  let app: ReturnType<typeof edgeApp>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "dewey-edge-"));
    const bundle = bundleWorker("examples/edge_producer.ts", dir);
    redis = await startRedisServer();
    proxy = await startUpstashProxy({ redisPort: redis.port, token: "edge-token-5678" });
    const started = startWorkerd(dir, basename(bundle), {
      UPSTASH_REDIS_REST_URL: proxy.url,
      UPSTASH_REDIS_REST_TOKEN: proxy.token,
    });
    consumer = startCli(["consume", FIXTURE, "-n", "-S"], {
      DEWEY_E2E_REDIS: redis.url,
      DEWEY_E2E_APP: "edge",
    });
    workerd = await started;
    await consumer.waitForStderr(/Dewey consumer started/, 30_000);
    app = edgeApp(new RedisStorage({ url: redis.url }));
  });

  after(async () => {
    consumer?.kill();
    await consumer?.exited(10_000).catch(() => null);
    await workerd?.stop();
    await app?.dewey.close();
    await proxy?.close();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the bundle holds the REST client and no TCP client", () => {
    const bundle = readFileSync(join(dir, "worker.js"), "utf8");
    assert.ok(bundle.includes("node_modules/@upstash/redis"), "the REST client is bundled");
    assert.ok(!bundle.includes("node_modules/ioredis"), "ioredis is not bundled");
  });

  it("a task enqueued by the Worker runs in the consumer; its result is read here", async () => {
    const response = await fetch(workerd.url, {
      method: "POST",
      body: JSON.stringify({ a: 20, b: 22 }),
    });
    const text = await response.text();
    assert.equal(response.status, 200, `${text}\n${workerd.output()}`);
    const { id } = JSON.parse(text);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(await app.dewey.result(id, { blocking: true, timeout: 10 }), 42);
    await consumer.waitForStderr(new RegExp(`add ${id} executed in`), 10_000);
    assert.equal(await app.dewey.pendingCount(), 0);
  });

  it("later requests reuse the Worker's instance: one REST round trip each", async () => {
    // The first enqueue on a fresh server also loaded the script (EVALSHA, NOSCRIPT, EVAL).
    const before = proxy.requests;
    const ids: string[] = [];
    for (const [a, b] of [[1, 2], [-5, 2.5]]) {
      const response = await fetch(workerd.url, {
        method: "POST",
        body: JSON.stringify({ a, b }),
      });
      assert.equal(response.status, 200, workerd.output());
      ids.push((await response.json()).id);
    }
    assert.equal(proxy.requests - before, 2, "one REST request per enqueue");
    assert.notEqual(ids[0], ids[1]);
    assert.equal(await app.dewey.result(ids[0], { blocking: true, timeout: 10 }), 3);
    assert.equal(await app.dewey.result(ids[1], { blocking: true, timeout: 10 }), -2.5);
  });

  it("answers 400 to a body that is not {a, b} and sends nothing to Redis", async () => {
    const before = proxy.requests;
    const response = await fetch(workerd.url, { method: "POST", body: '{"a": 1}' });
    assert.equal(response.status, 400);
    assert.deepEqual(await response.json(), {
      error: 'POST a JSON body {"a": number, "b": number}',
    });
    assert.equal(proxy.requests, before);
  });
});
