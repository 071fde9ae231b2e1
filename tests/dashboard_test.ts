/**
 * The web dashboard over HTTP: a consumer runs in process on a temp SQLite storage, the
 * dashboard is served by the `node:http` bridge, and every endpoint is called as the page
 * calls it — counts, stats, consumers, events (recent and streamed), scheduled, periodic
 * and dead-letter lists and actions, and `/metrics` with exact lines. A token guards every
 * request (401, nothing changed); off loopback one is required. The command line's
 * `dashboard` and `consume --metrics-port` run in child processes.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Dewey } from "../mod.ts";
import { Consumer } from "../consumer.ts";
import { createDashboard, type Dashboard } from "../src/dashboard/app.ts";
import { type HttpServer, serveHttp } from "../src/dashboard/serve.ts";
import { main } from "../src/cli/main.ts";
import { parseDashboard } from "../src/cli/dashboard.ts";
import { define, NAME, open } from "./fixtures/dashboard_tasks.ts";
import { startCli } from "./support/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "dewey-dash-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const dbPath = () => join(dir, `dash-${files++}.db`);
const silent = { write() {} };
const FIXTURE = "tests/fixtures/dashboard_tasks.ts";

/** A dashboard served on a free loopback port. */
async function serve(
  dewey: Dewey,
  options: { token?: string; exports?: Record<string, unknown> } = {},
): Promise<{ board: Dashboard; server: HttpServer; url: string }> {
  const board = createDashboard(dewey, {
    loopbackOnly: true,
    storageKind: "SqliteStorage",
    ...options,
  });
  const server = await serveHttp(board.fetch, { port: 0, host: "127.0.0.1" });
  return { board, server, url: `http://127.0.0.1:${server.port}` };
}

/** Polls `read` until `done` holds of its value (at most `ms`); returns the last value. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

const json = (response: Response) => response.json();
const post = (url: string, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: "POST",
    body: "{}",
    headers: { "content-type": "application/json", ...headers },
  });

describe("dashboard over HTTP", () => {
  const dewey = open(dbPath());
  const tasks = define(dewey);
  let board: Dashboard;
  let server: HttpServer;
  let base = "";
  let addId = "";
  let scheduledId = "";

  before(async () => {
    ({ board, server, url: base } = await serve(dewey, { exports: { report: tasks.report } }));
    // Two runs through a consumer: one completes, one fails.
    const consumer = new Consumer(dewey, { periodic: false, log: silent });
    const running = consumer.run();
    const live = await until(
      () => fetch(`${base}/api/consumers`).then(json),
      (list: { workers: number; workerType: string; state: string }[]) => list.length === 1,
    );
    assert.equal(live.length, 1);
    assert.equal(live[0].workers, 1);
    assert.equal(live[0].workerType, "async");
    assert.equal(live[0].state, "running");
    const sum = await tasks.add(1, 2);
    addId = sum.id;
    // `preserve`: the results stay stored, for the counts below.
    assert.equal(await sum.get({ blocking: true, timeout: 10, preserve: true }), 3);
    await assert.rejects(
      (await tasks.fail()).get({ blocking: true, timeout: 10, preserve: true }),
    );
    consumer.stop();
    await running;
    // Then a known state: 2 pending, 1 scheduled, 2 dead letters (one readable).
    await tasks.add(2, 3);
    await tasks.add(3, 4);
    scheduledId = (await tasks.add.schedule([4, 5], { delay: 3600 })).id;
    await dewey.storage.deadLetter("garbage{", "cannot decode message: test");
    await dewey.storage.deadLetter(await dewey.serialize(tasks.add.s(7, 8)), "poison");
  });
  after(async () => {
    await server.close();
    await board.close();
    await dewey.close();
  });

  it("serves the page with its security headers", async () => {
    const response = await fetch(`${base}/`);
    assert.equal(response.status, 200);
    const html = await response.text();
    assert.match(html, /<title>Dewey · dash<\/title>/);
    assert.match(html, /id="count-pending"/);
    const csp = response.headers.get("content-security-policy") ?? "";
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce && html.includes(`<script nonce="${nonce}">`), csp);
    assert.equal(response.headers.get("x-frame-options"), "DENY");
    assert.equal(response.headers.get("referrer-policy"), "no-referrer");
  });

  it("counts pending, scheduled, running, results and dead letters", async () => {
    const counts = await fetch(`${base}/api/counts`).then(json);
    // results: add's value and fail's error (the event log's records are left out).
    assert.deepEqual(counts, { pending: 2, scheduled: 1, running: 0, results: 2, deadLetters: 2 });
  });

  it("serves Prometheus metrics with exact lines", async () => {
    const response = await fetch(`${base}/metrics`);
    assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const lines = (await response.text()).split("\n");
    for (
      const line of [
        "# TYPE dewey_tasks_total counter",
        'dewey_tasks_total{instance="dash",task="add",outcome="complete"} 1',
        'dewey_tasks_total{instance="dash",task="fail",outcome="error"} 1',
        "# TYPE dewey_task_duration_seconds histogram",
        'dewey_task_duration_seconds_count{instance="dash",task="add"} 1',
        'dewey_task_duration_seconds_bucket{instance="dash",task="fail",le="+Inf"} 1',
        "# TYPE dewey_queue_depth gauge",
        'dewey_queue_depth{instance="dash"} 2',
        'dewey_schedule_size{instance="dash"} 1',
        'dewey_leased{instance="dash"} 0',
        'dewey_dead_letters{instance="dash"} 2',
        'dewey_consumers{instance="dash"} 0',
        'dewey_events_dropped{instance="dash"} 0',
      ]
    ) assert.ok(lines.includes(line), `missing: ${line}`);
    assert.equal(lines.filter((l) => l.startsWith("dewey_tasks_total{")).length, 2);
    const buckets = lines.filter((l) =>
      l.startsWith('dewey_task_duration_seconds_bucket{instance="dash",task="add"')
    );
    assert.equal(buckets.length, 15);
    assert.match(
      lines.find((l) =>
        l.startsWith('dewey_task_duration_seconds_sum{instance="dash",task="add"}')
      )!,
      / \d/,
    );
  });

  it("gives throughput and errors per task and minute", async () => {
    const stats = await fetch(`${base}/api/stats`).then(json);
    assert.equal(stats.minutes.length, 15);
    assert.equal(stats.minutes[14] - stats.minutes[13], 60_000);
    const sum = (list: number[]) => list.reduce((a, b) => a + b, 0);
    assert.deepEqual(Object.keys(stats.tasks).sort(), ["add", "fail"]);
    assert.equal(sum(stats.tasks.add.done), 1);
    assert.equal(sum(stats.tasks.add.errors), 0);
    assert.equal(sum(stats.tasks.fail.errors), 1);
  });

  it("lists no consumer once the consumer stopped", async () => {
    assert.deepEqual(await fetch(`${base}/api/consumers`).then(json), []);
  });

  it("gives recent events and streams them (server-sent events)", async () => {
    const recent = await fetch(`${base}/api/events/recent`).then(json);
    const mine = recent.filter((e: { id?: string }) => e.id === addId).map((
      e: { signal: string },
    ) => e.signal);
    assert.deepEqual(mine, ["enqueued", "executing", "complete"]);
    const abort = new AbortController();
    const response = await fetch(`${base}/api/events`, { signal: abort.signal });
    assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const reader = response.body!.getReader();
    let text = "";
    while (!text.includes(addId)) text += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    await reader.cancel().catch(() => {});
    const first = text.split("\n").find((line) => line.startsWith("data: "))!;
    assert.equal(typeof JSON.parse(first.slice(6)).signal, "string");
    assert.ok(text.startsWith("retry: 2000\n\n"));
  });

  it("lists scheduled tasks without their arguments unless asked, and revokes and restores", async () => {
    const [listed] = await fetch(`${base}/api/scheduled`).then(json);
    assert.deepEqual(Object.keys(listed).sort(), ["eta", "id", "retries", "revoked", "task"]);
    assert.equal(listed.id, scheduledId);
    assert.equal(listed.task, "add");
    assert.equal(listed.revoked, false);
    const [withData] = await fetch(`${base}/api/scheduled?show=data`).then(json);
    assert.equal(withData.args, "[4,5]");
    const revoked = await post(`${base}/api/scheduled/${scheduledId}/revoke`);
    assert.equal(revoked.status, 200);
    assert.equal(await dewey.isRevoked(scheduledId), true);
    assert.equal((await fetch(`${base}/api/scheduled`).then(json))[0].revoked, true);
    assert.deepEqual(await post(`${base}/api/scheduled/${scheduledId}/restore`).then(json), {
      ok: true,
    });
    assert.equal(await dewey.isRevoked(scheduledId), false);
  });

  it("lists periodic tasks with their next run, and revokes and restores them", async () => {
    const before = new Date();
    const [report] = await fetch(`${base}/api/periodic`).then(json);
    const after = new Date();
    assert.equal(report.task, "report");
    assert.equal(report.schedule, String(tasks.report.cron));
    assert.ok(
      [tasks.report.cron.next(before).getTime(), tasks.report.cron.next(after).getTime()].includes(
        report.next,
      ),
    );
    assert.equal(report.revoked, false);
    assert.equal((await post(`${base}/api/periodic/report/revoke`)).status, 200);
    assert.equal(await tasks.report.isRevoked(), true);
    assert.equal((await fetch(`${base}/api/periodic`).then(json))[0].revoked, true);
    assert.equal((await post(`${base}/api/periodic/report/restore`)).status, 200);
    assert.equal(await tasks.report.isRevoked(), false);
    assert.equal((await post(`${base}/api/periodic/nope/revoke`)).status, 404);
  });

  it("lists dead letters with their reason, requeues one and purges the rest", async () => {
    const letters = await fetch(`${base}/api/dead-letters`).then(json);
    assert.deepEqual(
      letters.map((l: { reason: string; task: string | null }) => [l.reason, l.task]),
      [["cannot decode message: test", null], ["poison", "add"]],
    );
    assert.equal(letters[0].size, 8);
    assert.equal("data" in letters[0], false);
    const shown = await fetch(`${base}/api/dead-letters?show=data`).then(json);
    assert.equal(shown[0].data, '"garbage{"');
    assert.equal((await post(`${base}/api/dead-letters/no-such-id/requeue`)).status, 404);
    assert.equal((await post(`${base}/api/dead-letters/${letters[1].id}/requeue`)).status, 200);
    assert.equal(await dewey.pendingCount(), 3);
    assert.deepEqual(await post(`${base}/api/dead-letters/purge`).then(json), { purged: 1 });
    assert.deepEqual(await dewey.deadLetters(), []);
  });

  it("refuses a POST without a JSON body type, a foreign origin or host, and other methods", async () => {
    await dewey.storage.deadLetter("x", "kept");
    const [letter] = await dewey.deadLetters();
    const url = `${base}/api/dead-letters/${letter.id}/requeue`;
    const form = await fetch(url, {
      method: "POST",
      body: "a=1",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assert.equal(form.status, 415);
    assert.equal((await post(url, { origin: "https://evil.example" })).status, 403);
    const rebound = await board.fetch(
      new Request(`http://evil.example:${server.port}/api/counts`),
    );
    assert.equal(rebound.status, 403);
    assert.equal((await fetch(url, { method: "DELETE" })).status, 405);
    assert.equal((await dewey.deadLetters()).length, 1, "nothing changed");
    await dewey.purgeDeadLetters();
  });
});

describe("dashboard with a token", () => {
  const dewey = open(dbPath());
  const tasks = define(dewey);
  let board: Dashboard;
  let server: HttpServer;
  let base = "";
  before(async () => {
    ({ board, server, url: base } = await serve(dewey, { token: "s3cret" }));
    await dewey.storage.deadLetter("x", "kept");
  });
  after(async () => {
    await server.close();
    await board.close();
    await dewey.close();
  });

  it("answers 401 without the right token, and changes nothing", async () => {
    const [letter] = await dewey.deadLetters();
    const requeue = `${base}/api/dead-letters/${letter.id}/requeue`;
    for (const path of ["/", "/api/counts", "/api/events", "/metrics", "/api/dead-letters"]) {
      assert.equal((await fetch(`${base}${path}`)).status, 401, path);
      assert.equal((await fetch(`${base}${path}?token=wrong`)).status, 401, path);
    }
    assert.equal((await post(requeue)).status, 401);
    assert.equal((await post(requeue, { authorization: "Bearer wrong" })).status, 401);
    assert.equal((await post(`${requeue}?token=s3cret`)).status, 401, "a POST needs the header");
    assert.equal((await post(`${base}/api/dead-letters/purge`)).status, 401);
    assert.equal((await post(`${base}/api/periodic/report/revoke`)).status, 401);
    const body = await (await post(requeue)).json();
    assert.deepEqual(body, { error: "missing or wrong token" });
    assert.equal((await dewey.deadLetters()).length, 1, "nothing changed");
    assert.equal(await dewey.pendingCount(), 0);
    assert.equal(await tasks.report.isRevoked(), false);
  });

  it("lets the right token through: Bearer header, or ?token= for a GET", async () => {
    assert.equal((await fetch(`${base}/?token=s3cret`)).status, 200);
    const counts = await fetch(`${base}/api/counts`, {
      headers: { authorization: "Bearer s3cret" },
    }).then(json);
    assert.equal(counts.deadLetters, 1);
    const [letter] = await dewey.deadLetters();
    const requeued = await post(`${base}/api/dead-letters/${letter.id}/requeue`, {
      authorization: "Bearer s3cret",
    });
    assert.equal(requeued.status, 200);
    assert.equal(await dewey.pendingCount(), 1);
  });
});

describe("dashboard command", () => {
  it("refuses a host off loopback without a token: exit 2, one line", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (line: string) => out.push(line), err: (line: string) => err.push(line) };
    const code = await main(["dashboard", FIXTURE, "--host", "0.0.0.0"], io);
    assert.equal(code, 2);
    assert.deepEqual(out, []);
    assert.deepEqual(err, [
      "error: --host 0.0.0.0 is not a loopback address: set --token or DEWEY_DASHBOARD_TOKEN",
    ]);
    assert.equal(
      parseDashboard(["dashboard", FIXTURE, "--host", "0.0.0.0"], {
        DEWEY_DASHBOARD_TOKEN: "t",
      }).token,
      "t",
    );
    const local = parseDashboard(["dashboard", FIXTURE], {});
    assert.deepEqual([local.host, local.port, local.token], ["127.0.0.1", 8080, undefined]);
    assert.equal(await main(["dashboard", FIXTURE, "--port", "http"], io), 2);
    assert.equal(err.at(-1), 'error: invalid value for --port: "http" is not a port number');
  });

  it("serves the module's instance until SIGTERM", async () => {
    const db = dbPath();
    const dewey = open(db);
    const { add } = define(dewey);
    await add(1, 1);
    const cli = startCli(["dashboard", FIXTURE, "--port", "0"], { DEWEY_DASH_DB: db });
    try {
      await until(() => Promise.resolve(cli.stdout()), (out) => /\/metrics/.test(out), 20_000);
      const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(cli.stdout())?.[0];
      assert.ok(url, cli.stdout() + cli.stderr());
      assert.equal(cli.stdout().split("\n")[0], `Dewey dashboard for "${NAME}": ${url}`);
      assert.deepEqual(await fetch(`${url}api/counts`).then(json), {
        pending: 1,
        scheduled: 0,
        running: 0,
        results: 0,
        deadLetters: 0,
      });
      const periodic = await fetch(`${url}api/periodic`).then(json);
      assert.deepEqual(periodic.map((p: { task: string }) => p.task), ["report"]);
      cli.signal("SIGTERM");
      assert.equal(await cli.exited(), 0);
    } finally {
      cli.kill();
      await dewey.close();
    }
  });
});

describe("consume --metrics-port", () => {
  it("serves the consumer's own metrics", async () => {
    const db = dbPath();
    const dewey = open(db);
    const { add } = define(dewey);
    const cli = startCli(
      ["consume", FIXTURE, "--metrics-port", "0", "--events", "-n", "-q"],
      { DEWEY_DASH_DB: db },
    );
    try {
      await cli.waitForStderr(/metrics: http:\/\/127\.0\.0\.1:\d+\/metrics/);
      const url = /http:\/\/127\.0\.0\.1:\d+\/metrics/.exec(cli.stderr())![0];
      const result = await add(20, 22);
      assert.equal(await result.get({ blocking: true, timeout: 15 }), 42);
      const text = await until(
        () => fetch(url).then((r) => r.text()),
        (body) => body.includes('outcome="complete"} 1'),
      );
      const lines = text.split("\n");
      assert.ok(
        lines.includes('dewey_tasks_total{instance="dash",task="add",outcome="complete"} 1'),
        text,
      );
      assert.ok(
        lines.includes('dewey_task_duration_seconds_count{instance="dash",task="add"} 1'),
        text,
      );
      assert.ok(lines.includes('dewey_queue_depth{instance="dash"} 0'), text);
      assert.equal((await fetch(url.replace("/metrics", "/other"))).status, 404);
      // The consumer published events too (--events): its heartbeat names its process.
      const pids = await until(async () => {
        const found: (number | undefined)[] = [];
        for await (const event of dewey.events({ from: 0, follow: false, signal: "heartbeat" })) {
          if (event.signal === "heartbeat") found.push(event.consumer.pid);
        }
        return found;
      }, (found) => found.length > 0);
      assert.deepEqual([...new Set(pids)], [cli.child.pid]);
      cli.signal("SIGTERM");
      assert.equal(await cli.exited(), 0);
    } finally {
      cli.kill();
      await dewey.close();
    }
  });
});
