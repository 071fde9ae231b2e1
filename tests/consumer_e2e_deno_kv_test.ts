/**
 * Deno KV end to end: three real `cli.ts consume` processes (run by the runtime running
 * the tests: Deno with `Deno.openKv`, Bun with `@deno/kv`) on one KV file execute 3,000
 * tasks exactly once each, fed and read by this process through the same task module
 * (`tests/fixtures/e2e_deno_kv_tasks.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "./fixtures/e2e_deno_kv_tasks.ts";
import { type CliProcess, lines, startCli } from "./support/cli.ts";
import { stopConsumer, tail, waitFor } from "./support/e2e.ts";

const FIXTURE = "tests/fixtures/e2e_deno_kv_tasks.ts";
const TASKS = 3000;
const CHUNK = 500;

describe("consumer end to end on Deno KV", () => {
  it(
    "three consumers on one KV file run 3,000 tasks exactly once",
    { timeout: 120_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "dewey-e2e-kv-"));
      const out = join(dir, "ids");
      mkdirSync(out);
      const env = { DEWEY_E2E_KV: join(dir, "queue.kv"), DEWEY_E2E_OUT: out };
      const app = await createApp({ path: env.DEWEY_E2E_KV, out });
      const consumers: CliProcess[] = [];
      try {
        for (let n = 0; n < 3; n++) {
          consumers.push(startCli(["consume", FIXTURE, "-w", "4", "-n", "-S"], env));
        }
        await Promise.all(
          consumers.map((consumer) => consumer.waitForStderr(/Dewey consumer started/, 30_000)),
        );
        const recorded = () =>
          readdirSync(out).map((file) => ({
            file,
            ids: lines(readFileSync(join(out, file), "utf8")).map(Number),
          }));
        const started = Date.now();
        for (let first = 0; first < TASKS; first += CHUNK) {
          await app.record.map(Array.from({ length: CHUNK }, (_, i) => [first + i] as [number]));
        }
        await waitFor(
          `${TASKS} ids recorded and an empty queue`,
          async () =>
            recorded().reduce((n, { ids }) => n + ids.length, 0) >= TASKS &&
            await app.dewey.pendingCount() === 0 && await app.dewey.leasedCount() === 0,
          {
            timeoutMs: 90_000,
            intervalMs: 200,
            describe: () =>
              `recorded per file: ${
                JSON.stringify(recorded().map(({ file, ids }) => [file, ids.length]))
              }\n${consumers.map((c) => tail(c.stderr(), 5)).join("\n")}`,
          },
        );
        const elapsed = Date.now() - started;
        await Promise.all(consumers.map((consumer) => stopConsumer(consumer)));

        const files = recorded();
        const all = files.flatMap(({ ids }) => ids);
        const counts = files.map(({ file, ids }) => `${file}: ${ids.length}`).join(", ");
        assert.equal(all.length, TASKS, `ids recorded (${counts})`);
        assert.deepEqual(all.sort((a, b) => a - b), Array.from({ length: TASKS }, (_, i) => i));
        assert.deepEqual(
          files.map(({ file }) => file).sort(),
          consumers.map((consumer) => `${consumer.child.pid}.ids`).sort(),
          `every consumer did some of the work (${counts})`,
        );
        assert.equal(await app.dewey.pendingCount(), 0);
        assert.equal(await app.dewey.leasedCount(), 0);
        assert.deepEqual(await app.dewey.deadLetters(), []);
        console.log(`3,000 tasks on 3 consumers: ${elapsed} ms (${counts})`);
      } finally {
        for (const consumer of consumers) consumer.kill();
        await Promise.all(consumers.map((consumer) => consumer.exited(10_000).catch(() => null)));
        await app.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
