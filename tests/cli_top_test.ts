/**
 * `cli.ts top`: `--once` prints one plain-text snapshot of a known state (counts, live
 * consumers, latest events, newest first); without it, a snapshot per interval until
 * SIGTERM (plain text: stdout is not a terminal). Runs in child processes on a temp
 * SQLite file the test fills.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Consumer } from "../consumer.ts";
import type { Dewey } from "../mod.ts";
import "../src/runtime/process_info.ts"; // heartbeats of in-process consumers name this process
import { parseTop } from "../src/cli/top.ts";
import { define, open } from "./fixtures/dashboard_tasks.ts";
import { lines, runCli, startCli } from "./support/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "dewey-top-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const FIXTURE = "tests/fixtures/dashboard_tasks.ts";

/** An instance on a fresh SQLite file, with its tasks. */
function fresh(): { db: string; dewey: Dewey; tasks: ReturnType<typeof define> } {
  const db = join(dir, `top-${files++}.db`);
  const dewey = open(db);
  return { db, dewey, tasks: define(dewey) };
}

const TIME = String.raw`\d\d:\d\d:\d\d\.\d\d\d`;

describe("top", () => {
  it("--once prints the counts, the consumers and the latest events", async () => {
    const { db, dewey, tasks } = fresh();
    const consumer = new Consumer(dewey, { periodic: false, log: { write() {} } });
    const running = consumer.run();
    const sum = await tasks.add(1, 2);
    await sum.get({ blocking: true, timeout: 10, preserve: true });
    const failed = await tasks.fail();
    await assert.rejects(failed.get({ blocking: true, timeout: 10, preserve: true }));
    consumer.stop();
    await running;
    await tasks.add(2, 3);
    await tasks.add(3, 4);
    await tasks.add.schedule([4, 5], { delay: 3600 });
    await dewey.storage.deadLetter("garbage{", "cannot decode message: test");
    await dewey.close();

    const { code, stdout, stderr } = await runCli(["top", FIXTURE, "--once"], {
      DEWEY_DASH_DB: db,
    });
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
    const out = lines(stdout);
    assert.match(
      out[0],
      /^Dewey top: instance "dash" \(SqliteStorage\) at \d{4}-\d\d-\d\dT[\d:.]+Z$/,
    );
    assert.deepEqual(out.slice(1, 4), [
      "pending: 2  scheduled: 1  running: 0  results: 2  dead letters: 1",
      "consumers: 0",
      "recent events:",
    ]);
    const s = sum.id.slice(0, 8);
    const f = failed.id.slice(0, 8);
    const expected = [
      new RegExp(`^  ${TIME} error        fail ${f} \\d+\\.\\d{3}s RangeError: no such thing$`),
      new RegExp(`^  ${TIME} executing    fail ${f}$`),
      new RegExp(`^  ${TIME} enqueued     fail ${f}$`),
      new RegExp(`^  ${TIME} complete     add ${s} \\d+\\.\\d{3}s$`),
      new RegExp(`^  ${TIME} executing    add ${s}$`),
      new RegExp(`^  ${TIME} enqueued     add ${s}$`),
    ];
    assert.equal(out.length, 4 + expected.length, stdout);
    expected.forEach((pattern, i) => assert.match(out[4 + i], pattern));
  });

  it("lists a live consumer with its host, process and workers", async () => {
    const { db, dewey } = fresh();
    const consumer = new Consumer(dewey, { periodic: false, workers: 3, log: { write() {} } });
    const running = consumer.run();
    try {
      // The consumer's first heartbeat is written with its first flush (250 ms).
      let out: string[] = [];
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const result = await runCli(["top", FIXTURE, "--once"], { DEWEY_DASH_DB: db });
        assert.equal(result.code, 0, result.stderr);
        out = lines(result.stdout);
        if (out[2] !== "consumers: 0") break;
      }
      assert.equal(out[2], "consumers: 1");
      const host = hostname().replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      assert.match(
        out[3],
        new RegExp(`^  ${host}:${process.pid}  3 x async  done 0  running: idle  \\(up \\d+s\\)$`),
      );
      assert.equal(out[4], "recent events: none");
    } finally {
      consumer.stop();
      await running;
      await dewey.close();
    }
  });

  it("prints a plain snapshot per interval until SIGTERM", async () => {
    const { db, dewey } = fresh();
    await dewey.close();
    const cli = startCli(["top", FIXTURE, "--interval", "0.2"], { DEWEY_DASH_DB: db });
    try {
      const deadline = Date.now() + 15_000;
      while (cli.stdout().split("Dewey top:").length < 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      cli.signal("SIGTERM");
      assert.equal(await cli.exited(), 0, cli.stderr());
      const out = cli.stdout();
      assert.ok(out.split("Dewey top:").length >= 3, out);
      assert.equal(out.includes("\x1b["), false, "no terminal escapes");
      assert.ok(
        lines(out).includes("pending: 0  scheduled: 0  running: 0  results: 0  dead letters: 0"),
      );
    } finally {
      cli.kill();
    }
  });

  it("reads its options strictly", async () => {
    assert.deepEqual(parseTop(["top", "m.ts"]), {
      kind: "top",
      module: "m.ts",
      interval: 1,
      once: false,
      instance: undefined,
    });
    assert.equal(parseTop(["top", "m.ts", "--interval", "2.5", "--once"]).interval, 2.5);
    assert.throws(() => parseTop(["top"]), /top needs a MODULE/);
    assert.throws(
      () => parseTop(["top", "m.ts", "--interval", "0"]),
      /invalid value for --interval/,
    );
    assert.throws(() => parseTop(["top", "m.ts", "--once=yes"]), /--once takes no value/);
    assert.throws(
      () => parseTop(["top", "m.ts", "--port", "1"]),
      /unknown option "--port" for top/,
    );
    const { code, stderr } = await runCli(["top"]);
    assert.equal(code, 2);
    assert.match(stderr, /^error: top needs a MODULE/);
  });
});
