/**
 * The README demo: starts a consumer process on a temporary SQLite file, enqueues tasks
 * from this process (the producer), prints their results, then stops the consumer with
 * SIGTERM and waits for it to exit.
 *
 * `npm run demo` runs it under Deno; `bun examples/demo.ts` under Bun.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const directory = mkdtempSync(join(tmpdir(), "dewey-demo-"));
process.env.DEWEY_DEMO_DB = join(directory, "demo.db");

// The consumer: the same runtime as this script, on the same SQLite file.
const cli = join(root, "cli.ts");
const args = "Deno" in globalThis
  ? ["run", "-A", cli, "consume", join(root, "examples/tasks.ts"), "--workers", "2", "--simple"]
  : [cli, "consume", join(root, "examples/tasks.ts"), "--workers", "2", "--simple"];
const consumer = spawn(process.execPath, args, { stdio: ["ignore", "inherit", "pipe"] });
const exited = new Promise<number | null>((resolve) => consumer.on("exit", resolve));
consumer.stderr!.on("data", (chunk: Uint8Array) => {
  for (const line of new TextDecoder().decode(chunk).split("\n")) {
    if (line) console.log(`  [consumer] ${line}`);
  }
});

try {
  const { chord } = await import("../mod.ts");
  const { add, dewey, flaky, total } = await import("./tasks.ts");
  const wait = { blocking: true, timeout: 20 };

  console.log("producer: add(1, 2)");
  const sum = await add(1, 2);
  console.log("producer: result =", await sum.get(wait));

  console.log("producer: a pipeline add(1, 2) → add(_, 3) → add(_, 4)");
  const stages = await dewey.enqueue(add.s(1, 2).then(add, 3).then(add, 4));
  console.log("producer: results =", await stages.get(wait));

  console.log("producer: a chord total([add(1, 1), add(2, 2), add(3, 3)])");
  const chordResult = await dewey.enqueue(chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)], total));
  console.log("producer: result =", await chordResult.get(wait));

  console.log("producer: a flaky task with 3 retries, 1 s apart");
  const flakyResult = await flaky();
  let value: unknown;
  for (;;) {
    try {
      value = await flakyResult.get(wait);
      break;
    } catch {
      flakyResult.reset(); // an intermediate failure was stored; wait for the retry's result
    }
  }
  console.log("producer: result =", value);
  await dewey.close();
} finally {
  // process.kill, not consumer.kill: Deno's ChildProcess.kill misreports the exit code.
  process.kill(consumer.pid!, "SIGTERM");
  const code = await exited;
  console.log(`consumer exited with code ${code}`);
  rmSync(directory, { recursive: true, force: true });
}
