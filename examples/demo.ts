/**
 * The README demo. Until the consumer lands (issue 3) it runs the example tasks in
 * immediate mode: the same executor a consumer uses, in this process.
 *
 * @module
 */

import { chord, Signal } from "../mod.ts";
import { add, dewey, flaky, total } from "./tasks.ts";

dewey.immediate = true;
dewey.signal(
  (signal, task, error) => {
    const detail = error instanceof Error ? ` (${error.message})` : "";
    console.log(`  signal ${signal.padEnd(9)} ${task.name} ${task.id.slice(0, 8)}${detail}`);
  },
  Signal.EXECUTING,
  Signal.COMPLETE,
  Signal.ERROR,
  Signal.RETRYING,
);

console.log("add(1, 2)");
const sum = await add(1, 2);
console.log("  result:", await sum.get());

console.log("a pipeline: add(1, 2) → add(_, 3) → add(_, 4)");
const stages = await dewey.enqueue(add.s(1, 2).then(add, 3).then(add, 4));
console.log("  results:", await stages.get());

console.log("a flaky task with retries: 3");
const flakyResult = await flaky();
console.log("  result:", await flakyResult.get());

console.log("a chord: total([add(1, 1), add(2, 2), add(3, 3)])");
const chordResult = await dewey.enqueue(chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)], total));
console.log("  result:", await chordResult.get());

await dewey.close();
