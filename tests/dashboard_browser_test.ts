/**
 * The dashboard as a user sees it: Debian's Chromium, driven by `playwright-core`, opens
 * the page of a dashboard on a temp SQLite storage; the counts change when tasks are
 * enqueued and when a consumer runs them; a dead letter is requeued by clicking its
 * button; screenshots are saved under the test's temp directory (and to
 * `docs/dashboard.png` when `DEWEY_DOCS_SCREENSHOT=1`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type Browser, chromium, type Page } from "playwright-core";
import { Consumer } from "../consumer.ts";
import { createDashboard, type Dashboard } from "../src/dashboard/app.ts";
import { type HttpServer, serveHttp } from "../src/dashboard/serve.ts";
import { define, open } from "./fixtures/dashboard_tasks.ts";
import { root } from "./support/cli.ts";

/** The flags the machine notes give for Chromium run as root on a closed network. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const dir = mkdtempSync(join(tmpdir(), "dewey-browser-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("dashboard in Chromium", () => {
  const dewey = open(join(dir, "dash.db"));
  const tasks = define(dewey);
  let board: Dashboard;
  let server: HttpServer;
  let browser: Browser;
  let page: Page;
  const token = "browser-token";

  before(async () => {
    board = createDashboard(dewey, {
      token,
      loopbackOnly: true,
      storageKind: "SqliteStorage",
      exports: { report: tasks.report },
    });
    server = await serveHttp(board.fetch, { port: 0, host: "127.0.0.1" });
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`http://127.0.0.1:${server.port}/?token=${token}`);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await board?.close();
    await dewey.close();
  });

  /** Waits until the text of `selector` is `text` (the page polls every second). */
  async function expectText(selector: string, text: string): Promise<void> {
    // Polled from here: the page's CSP forbids evaluating strings in it.
    const deadline = Date.now() + 15_000;
    let seen: string | null = null;
    while (Date.now() < deadline) {
      seen = await page.locator(selector).textContent();
      if (seen === text) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(seen, text, `${selector} after 15 s`);
  }

  it("keeps the token out of the address bar, in memory only", async () => {
    await expectText("#count-pending", "0");
    assert.equal(new URL(page.url()).search, "");
  });

  it("shows counts that change as tasks are enqueued and run", async () => {
    await tasks.add(1, 2);
    await tasks.add(3, 4);
    await tasks.add.schedule([5, 6], { delay: 3600 });
    await expectText("#count-pending", "2");
    await expectText("#count-scheduled", "1");
    await expectText("#count-results", "0");
    const consumer = new Consumer(dewey, { periodic: false, log: { write() {} } });
    const running = consumer.run();
    try {
      await expectText("#count-pending", "0");
      await expectText("#count-results", "2");
      // The live event stream shows the runs, and the consumer is listed.
      await page.waitForSelector("#events .sig-complete", { timeout: 15_000 });
      await page.waitForSelector("#consumers tr[data-id]", { timeout: 15_000 });
    } finally {
      consumer.stop();
      await running;
    }
    await page.screenshot({ path: join(dir, "counts.png") });
    assert.ok(statSync(join(dir, "counts.png")).size > 10_000);
  });

  it("requeues a dead letter when its button is clicked", async () => {
    await dewey.storage.deadLetter(await dewey.serialize(tasks.add.s(7, 8)), "poison: test");
    await dewey.storage.deadLetter("garbage{", "cannot decode message: test");
    await expectText("#count-dead", "2");
    const row = page.locator("#dead tr", { hasText: "poison: test" });
    await row.waitFor({ timeout: 15_000 });
    assert.equal(await row.locator("td").nth(1).textContent(), "add");
    await page.screenshot({ path: join(dir, "dead-letters.png"), fullPage: true });
    if (process.env.DEWEY_DOCS_SCREENSHOT === "1") {
      await page.screenshot({ path: join(root, "docs", "dashboard.png"), fullPage: true });
    }
    await row.locator("button.requeue").click();
    await expectText("#count-dead", "1");
    await expectText("#count-pending", "1");
    const letters = await dewey.deadLetters();
    assert.deepEqual(letters.map((l) => l.reason), ["cannot decode message: test"]);
    assert.equal(await page.locator("#dead tr", { hasText: "poison: test" }).count(), 0);
    assert.ok(existsSync(join(dir, "dead-letters.png")));
  });
});
