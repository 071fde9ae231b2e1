/**
 * `top MODULE [--interval S] [--once]`: a live view of the instance in the terminal — the
 * counts, the live consumers and the latest events — redrawn in place when stdout is a
 * terminal and `NO_COLOR` is unset, else printed as one plain snapshot per interval.
 * `--once` prints one snapshot and exits.
 *
 * @module
 */

import process from "node:process";
import type { Dewey } from "../dewey.ts";
import { ConsumerTracker, type LiveConsumer } from "../events/consumers.ts";
import { readEvents } from "../events/reader.ts";
import { LogSpan } from "../events/span.ts";
import type { DeweyEvent } from "../events/types.ts";
import { onStopSignals } from "../runtime/signals.ts";
import { type Counts, counts } from "../dashboard/views.ts";
import { readOptions } from "./dashboard.ts";
import { type CliIo, isMemoryStorage, storageKind } from "./io.ts";
import { loadInstance, UsageError } from "./load.ts";

/** The command's name on the command line. */
export const TOP = "top";

/** A parsed `top` command line. */
export interface TopCommand {
  /** Tells this command from the others. */
  kind: "top";
  /** The module path or URL. */
  module: string;
  /** Seconds between snapshots. */
  interval: number;
  /** Print one snapshot and exit. */
  once: boolean;
  /** `--instance NAME`. */
  instance?: string;
}

/** The help rows: command, then what it does. */
export const TOP_HELP: readonly [string, string][] = [
  [
    "top MODULE [--interval S] [--once]",
    "live counts, consumers and events in the terminal (every S seconds, default 1)",
  ],
];

const USAGE = "top MODULE [--interval SECONDS] [--once] [--instance NAME]";
/** Events shown. */
const RECENT = 15;
/** Records read back for the first snapshot: enough for every live consumer's heartbeat. */
const BACKLOG_RECORDS = 200;

/** Reads `top MODULE [flags]` (the arguments after the program name). */
export function parseTop(argv: readonly string[]): TopCommand {
  const { positionals, values, set } = readOptions(argv, TOP, ["interval", "instance"], [
    "once",
  ]);
  const [, module, ...rest] = positionals;
  if (module === undefined) throw new UsageError(`${TOP} needs a MODULE: ${USAGE}`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}": ${USAGE}`);
  const raw = values.get("interval") ?? "1";
  const interval = Number(raw);
  if (!/^(\d+\.?\d*|\.\d+)$/.test(raw) || !(interval >= 0.1 && interval <= 3600)) {
    throw new UsageError(`invalid value for --interval: "${raw}" (seconds, 0.1 to 3600)`);
  }
  return { kind: "top", module, interval, once: set.has("once"), instance: values.get("instance") };
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/** `HH:MM:SS.mmm`, local time. */
function clock(ms: number): string {
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${
    String(d.getMilliseconds()).padStart(3, "0")
  }`;
}

/** `42s`, `3m`, `2h`. */
function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h`;
}

/** One line for an event. */
export function eventLine(event: DeweyEvent): string {
  if (event.signal === "heartbeat") return `${clock(event.at)} heartbeat ${event.consumer.id}`;
  if (event.signal === "dropped") {
    return `${clock(event.at)} ${"dropped".padEnd(12)} ${event.count} event(s) lost`;
  }
  const duration = event.duration === undefined ? "" : ` ${event.duration.toFixed(3)}s`;
  const error = event.error === undefined ? "" : ` ${event.error}`;
  return `${clock(event.at)} ${event.signal.padEnd(12)} ${event.task} ${
    event.id.slice(0, 8)
  }${duration}${error}`;
}

/** One line for a consumer. */
function consumerLine(consumer: LiveConsumer, now: number): string {
  const where = `${consumer.host || "?"}${consumer.pid === undefined ? "" : `:${consumer.pid}`}`;
  const running = consumer.current.map((task) => task.task).join(", ") || "idle";
  return `  ${where}  ${consumer.workers} x ${consumer.workerType}  done ${consumer.tasksDone}  ` +
    `running: ${running}  (up ${span(now - consumer.started)})`;
}

/** The snapshot's lines. */
export function snapshot(
  dewey: Dewey,
  kind: string,
  c: Counts,
  consumers: LiveConsumer[],
  recent: DeweyEvent[],
  now: number,
): string[] {
  const lines = [
    `Dewey top: instance "${dewey.name}" (${kind}) at ${new Date(now).toISOString()}`,
    `pending: ${c.pending}  scheduled: ${c.scheduled}  running: ${c.running}  ` +
    `results: ${c.results}  dead letters: ${c.deadLetters}`,
    `consumers: ${consumers.length}`,
    ...consumers.map((consumer) => consumerLine(consumer, now)),
    `recent events:${recent.length ? "" : " none"}`,
    ...recent.map((event) => `  ${eventLine(event)}`),
  ];
  return lines;
}

/** Keeps the latest events and the consumers' heartbeats. */
class Recent {
  readonly consumers = new ConsumerTracker();
  readonly events: DeweyEvent[] = [];

  take(event: DeweyEvent): void {
    this.consumers.update(event);
    if (event.signal === "heartbeat") return;
    this.events.push(event);
    if (this.events.length > RECENT) this.events.shift();
  }
}

/** Runs `top`; resolves with the exit code. */
export async function top(command: TopCommand, io: CliIo): Promise<number> {
  const { dewey } = await loadInstance(command.module, command.instance);
  const abort = new AbortController();
  let removeListeners = () => {};
  let following: Promise<void> | undefined;
  try {
    if (isMemoryStorage(dewey)) {
      io.err("warning: the instance uses a MemoryStorage, which lives in this process only");
    }
    const kind = storageKind(dewey);
    const log = new LogSpan(() => dewey.storage);
    const recent = new Recent();
    // The backlog first, so the first snapshot already has events and consumers.
    let next = 0;
    const backlog = readEvents(
      dewey.storage,
      { from: -BACKLOG_RECORDS, follow: false },
      (n) => (next = n),
    );
    for await (const event of backlog) recent.take(event);
    const print = async () => {
      const now = Date.now();
      const lines = snapshot(
        dewey,
        kind,
        await counts(dewey, log),
        recent.consumers.live(now),
        [...recent.events].reverse(),
        now,
      );
      const redraw = process.stdout.isTTY && !process.env.NO_COLOR && !command.once;
      if (redraw) io.out(`\x1b[H\x1b[2J${lines.join("\n")}`);
      else io.out(`${lines.join("\n")}\n`);
    };
    if (command.once) {
      await print();
      return 0;
    }
    following = (async () => {
      try {
        const events = readEvents(dewey.storage, { from: next, abort: abort.signal });
        for await (const event of events) recent.take(event);
      } catch {
        // The storage failed: the snapshots go on with the counts (or their errors).
      }
    })();
    const stopped = new Promise<void>((resolve) => {
      removeListeners = onStopSignals(() => resolve());
    });
    while (!abort.signal.aborted) {
      try {
        await print();
      } catch (error) {
        io.err(`error: cannot read the storage: ${(error as Error).message}`);
      }
      const timer = new Promise((resolve) => setTimeout(resolve, command.interval * 1000));
      if (await Promise.race([stopped.then(() => true), timer.then(() => false)])) abort.abort();
    }
  } finally {
    abort.abort();
    await following;
    removeListeners();
    await dewey.close();
  }
  return 0;
}
