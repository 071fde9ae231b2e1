/**
 * The consumer: runs the tasks of a `Dewey` instance until stopped. Use it from code, or
 * through the command line (`deno run -A cli.ts consume ./tasks.ts`).
 *
 * The `async` worker type runs tasks on this event loop and works everywhere; importing
 * this entry point also registers the `worker` and `process` worker types where the
 * runtime has them.
 *
 * @example
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 * import { Consumer } from "@dewey/dewey/consumer";
 *
 * const dewey = new Dewey();
 * const add = dewey.task("add", (a: number, b: number) => a + b);
 * const consumer = new Consumer(dewey, { periodic: false, log: { write() {} } });
 * const running = consumer.run();
 * const result = await add(1, 2);
 * console.log(await result.get({ blocking: true, timeout: 5 })); // 3
 * consumer.stop();
 * await running;
 * ```
 *
 * @module
 */

// Runtime-specific worker types: each module calls `registerRunner` when imported.
// The worker types that need runtime APIs register themselves on import.
import "./src/consumer/worker_runner.ts";
import "./src/consumer/process_runner.ts";
import "./src/runtime/process_info.ts";
import { registerLogFile } from "./src/consumer/consumer.ts";
import { openLogFile } from "./src/runtime/log_file.ts";

registerLogFile((file) => openLogFile(file));

export { Consumer } from "./src/consumer/consumer.ts";
export type {
  ConsumerLog,
  ConsumerOptions,
  ResolvedConsumerOptions,
  WorkerType,
} from "./src/consumer/options.ts";
