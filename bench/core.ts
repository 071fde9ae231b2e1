/**
 * Core benchmark (`deno task bench`, or `bun bench/core.ts`): the codec next to plain JSON
 * in the same run, and task calls per second through the executor in immediate mode and
 * through the queue (enqueue, dequeue, execute) on the memory storage. Prints a Markdown
 * table.
 *
 * @module
 */

import { Dewey } from "../mod.ts";
import { measureAsync, type Row, toMarkdown } from "./_measure.ts";
import { benchCodec } from "./codec.ts";

/** Task calls per second through the executor: immediate mode and the memory queue. */
export async function benchTasks(): Promise<Row[]> {
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const immediate = new Dewey({ name: "bench_immediate", immediate: true, logger: quiet });
  const addNow = immediate.task("add", (a: number, b: number) => a + b);
  const direct = await measureAsync(() => Promise.resolve(addNow.callLocal(1, 2)));
  const immediateCalls = await measureAsync(async () => (await (await addNow(1, 2)).get())!);

  const queued = new Dewey({ name: "bench_queue", logger: quiet });
  const addQueued = queued.task("add", (a: number, b: number) => a + b);
  const roundTrips = await measureAsync(async () => {
    const result = await addQueued(1, 2);
    const [task] = await queued.dequeue();
    await queued.execute(task!);
    return (await result.get())!;
  });
  return [
    { name: "plain function call (callLocal), awaited", opsPerSec: direct },
    {
      name: "immediate mode: add(1, 2) + get()",
      opsPerSec: immediateCalls,
      note: `${(direct / immediateCalls).toFixed(1)}× the time of a plain call`,
    },
    {
      name: "memory queue: enqueue + dequeue + execute + get",
      opsPerSec: roundTrips,
      note: `${(immediateCalls / roundTrips).toFixed(2)}× the time of immediate mode`,
    },
  ];
}

if (import.meta.main) {
  const runtime = navigator.userAgent;
  console.log(`## Dewey core benchmark (${runtime})\n`);
  console.log(toMarkdown([...await benchCodec(), ...await benchTasks()]));
}
