/**
 * The short commands: `info`, `flush` and `enqueue`.
 *
 * @module
 */

import type { Dewey } from "../dewey.ts";
import { Task } from "../task.ts";
import { type CliIo, isMemoryStorage, storageKind } from "./io.ts";
import { loadInstance, UsageError } from "./load.ts";

const MEMORY_WARNING =
  "warning: the instance uses a MemoryStorage, which lives in this process only";

/** Loads the instance, runs `body`, and closes the storage whatever happens. */
async function withInstance(
  modulePath: string,
  instance: string | undefined,
  io: CliIo,
  body: (dewey: Dewey, exports: Record<string, unknown>) => Promise<void>,
): Promise<number> {
  const { dewey, exports } = await loadInstance(modulePath, instance);
  try {
    if (isMemoryStorage(dewey)) io.err(MEMORY_WARNING);
    await body(dewey, exports);
  } finally {
    await dewey.close();
  }
  return 0;
}

async function counts(dewey: Dewey) {
  const [pending, leased, scheduled, results, deadLetters] = await Promise.all([
    dewey.pendingCount(),
    dewey.leasedCount(),
    dewey.scheduledCount(),
    dewey.resultCount(),
    dewey.deadLetters().then((entries) => entries.length),
  ]);
  return { pending, leased, scheduled, results, deadLetters };
}

/** `info`: one `name: value` line per count, then the registered task names. */
export function info(
  modulePath: string,
  instance: string | undefined,
  io: CliIo,
): Promise<number> {
  return withInstance(modulePath, instance, io, async (dewey) => {
    const c = await counts(dewey);
    io.out(`instance: ${dewey.name}`);
    io.out(`storage: ${storageKind(dewey)}`);
    io.out(`pending: ${c.pending}`);
    io.out(`leased: ${c.leased}`);
    io.out(`scheduled: ${c.scheduled}`);
    io.out(`results: ${c.results}`);
    io.out(`dead letters: ${c.deadLetters}`);
    io.out(`tasks: ${dewey.taskNames.join(", ") || "(none)"}`);
  });
}

/** `flush`: removes everything stored under the instance's name and says what was there. */
export function flush(
  modulePath: string,
  instance: string | undefined,
  io: CliIo,
): Promise<number> {
  return withInstance(modulePath, instance, io, async (dewey) => {
    const c = await counts(dewey);
    await dewey.flush();
    io.out(
      `flushed instance "${dewey.name}" (${storageKind(dewey)}): ${c.pending} pending, ` +
        `${c.leased} leased, ${c.scheduled} scheduled, ${c.results} results, ` +
        `${c.deadLetters} dead letters removed`,
    );
  });
}

/** Parses ARGS_JSON: a JSON array. */
function parseTaskArgs(text: string): unknown[] {
  let args: unknown;
  try {
    args = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`ARGS_JSON is not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(args)) {
    throw new UsageError(`ARGS_JSON must be a JSON array of arguments, e.g. '[1, 2]'`);
  }
  return args;
}

/**
 * The task for `name`, made by the module's exported wrapper when it exports exactly one
 * (so the task's registered options apply); `undefined` otherwise.
 */
function fromExportedWrapper(
  exports: Record<string, unknown>,
  name: string,
  args: unknown[],
): Task | undefined {
  const wrappers = Object.values(exports).filter((value) =>
    typeof value === "function" && value.name === name &&
    typeof (value as { s?: unknown }).s === "function"
  ) as { s(...args: unknown[]): unknown }[];
  if (wrappers.length !== 1) return undefined;
  const task = wrappers[0].s(...args) as Task | undefined;
  // Not `instanceof`: the module may use another copy of the library.
  return typeof task?.id === "string" && task.name === name ? task : undefined;
}

/** `enqueue`: enqueues task `name` with `argsJson` and prints its id. */
export function enqueue(
  modulePath: string,
  name: string,
  argsJson: string | undefined,
  instance: string | undefined,
  io: CliIo,
): Promise<number> {
  const args = parseTaskArgs(argsJson ?? "[]");
  return withInstance(modulePath, instance, io, async (dewey, exports) => {
    const known = dewey.taskNames;
    if (!known.includes(name)) {
      throw new UsageError(
        `unknown task "${name}" (known: ${known.length ? known.join(", ") : "none"})`,
      );
    }
    let task = fromExportedWrapper(exports, name, args);
    if (!task) {
      io.err(
        `warning: ${modulePath} does not export the wrapper of "${name}": ` +
          "enqueued without its registered options (retries, priority, timeout…)",
      );
      task = new Task(name, args);
    }
    await dewey.enqueue(task);
    io.out(task.id);
  });
}
