/**
 * Poison messages in process: messages that decode (signature and codec accept them) but
 * break the task reader — an error tag whose name cannot become a string, arguments
 * nested past the stack — must go to dead letter like any undecodable message, without
 * blocking the queue behind them or losing the scheduled tasks read with them.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Dewey } from "../../mod.ts";

const BASE = { retries: 0, retryDelay: 0, retryBackoff: 0, priority: 0 };
const POISON: [string, string][] = [
  [
    "an error tag whose name has a toString key",
    "1j" + JSON.stringify({
      ...BASE,
      id: "p1",
      name: "add",
      args: [{ $deweyTaskError: [{ toString: 1 }, "m"] }],
    }),
  ],
  [
    "arguments nested 100,000 deep",
    "1j" + JSON.stringify({ ...BASE, id: "p2", name: "add", args: [] })
      .replace('"args":[]', `"args":${"[".repeat(100_000)}${"]".repeat(100_000)}`),
  ],
];

function app() {
  const dewey = new Dewey({ name: "poison" });
  const add = dewey.task("add", (a: number, b: number) => a + b);
  return { dewey, add };
}

describe("poison messages", () => {
  for (const [what, data] of POISON) {
    it(`queue: ${what} goes to dead letter; the next task is delivered`, async () => {
      const { dewey, add } = app();
      await dewey.storage.enqueue(data, 0);
      const good = await add(1, 2);
      let error: unknown;
      let tasks: unknown[] = [];
      try {
        tasks = await dewey.dequeue();
      } catch (e) {
        error = e;
      }
      assert.equal(error, undefined, `dequeue threw ${error}`);
      assert.equal(tasks.length, 1);
      const [task] = tasks as [Parameters<typeof dewey.execute>[0]];
      assert.equal(task.id, good.id);
      const [letter] = await dewey.deadLetters();
      assert.equal(letter?.data, data);
      assert.match(letter.reason, /^cannot decode message: /);
      assert.equal(await dewey.pendingCount(), 0);
    });

    it(`schedule: ${what} goes to dead letter; tasks due with it are kept`, async () => {
      const { dewey, add } = app();
      const now = Date.now();
      const first = await add.schedule([1, 2], { eta: new Date(now + 1000) });
      await dewey.storage.addToSchedule(data, now + 1000);
      const last = await add.schedule([3, 4], { eta: new Date(now + 1000) });
      let error: unknown;
      let due: { id: string }[] = [];
      try {
        due = await dewey.readSchedule(new Date(now + 5000));
      } catch (e) {
        error = e;
      }
      assert.equal(error, undefined, `readSchedule threw ${error}`);
      assert.deepEqual(due.map((task) => task.id), [first.id, last.id]);
      const [letter] = await dewey.deadLetters();
      assert.equal(letter?.data, data);
      assert.match(letter.reason, /^cannot decode scheduled message: /);
    });
  }
});
