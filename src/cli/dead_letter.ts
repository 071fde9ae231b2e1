/**
 * The `dead-letter` commands: `list` the messages set aside (never their data unless
 * asked: a message may carry a secret), `requeue` one or all of them, `purge` them.
 *
 * ```sh
 * deno run -A cli.ts dead-letter list ./tasks.ts
 * deno run -A cli.ts dead-letter requeue ./tasks.ts 6f1c…   # or --all
 * deno run -A cli.ts dead-letter purge ./tasks.ts
 * ```
 *
 * `list` prints one tab-separated line per entry, oldest first: id, time (ISO 8601, UTC),
 * reason, and a preview — the task name when the message decodes to a task message, and
 * the size in bytes; `--show-data` adds the message itself as a JSON string. Control
 * characters in reasons and names are escaped, so each entry stays on one line. An
 * unknown id for `requeue` prints `error: no dead letter with id "…"` and exits 1 (the
 * command was well formed, the entry was not there); usage errors exit 2.
 *
 * @module
 */

import { defaultCodec } from "../codec.ts";
import type { Dewey } from "../dewey.ts";
import { type CliIo, isMemoryStorage } from "./io.ts";
import { loadInstance, UsageError } from "./load.ts";

/** The command's name on the command line. */
export const DEAD_LETTER = "dead-letter";

/** What `dead-letter` does. */
export type DeadLetterAction = "list" | "requeue" | "purge";

const ACTIONS: readonly DeadLetterAction[] = ["list", "requeue", "purge"];

const USAGE: Record<DeadLetterAction, string> = {
  list: "dead-letter list MODULE [--show-data] [--instance NAME]",
  requeue: "dead-letter requeue MODULE ID|--all [--instance NAME]",
  purge: "dead-letter purge MODULE [--instance NAME]",
};

/** A parsed `dead-letter` command line. */
export interface DeadLetterCommand {
  /** Tells this command from the others. */
  kind: "dead-letter";
  /** The action. */
  action: DeadLetterAction;
  /** The module path or URL. */
  module: string;
  /** `requeue`: the entry's id (unless `all`). */
  id?: string;
  /** `requeue --all`. */
  all: boolean;
  /** `list --show-data`. */
  showData: boolean;
  /** `--instance NAME`. */
  instance?: string;
}

/** The tokens of `node:util`'s `parseArgs` that this parser reads. */
export type ArgToken =
  | { kind: "positional"; value: string }
  | { kind: "option"; name: string; rawName: string; value?: string }
  | { kind: "option-terminator" };

/** The help rows: command, then what it does. */
export const DEAD_LETTER_HELP: readonly [string, string][] = [
  ["dead-letter list MODULE", "print the dead letters: id, time, reason, task name and size"],
  ["dead-letter requeue MODULE ID|--all", "move one dead letter (or all) back to the queue"],
  ["dead-letter purge MODULE", "remove every dead letter"],
];

/** The help rows of the dead-letter flags. */
export const DEAD_LETTER_FLAG_HELP: readonly [string, string][] = [
  ["    --show-data", "list: also print each message as stored (it may hold secrets)"],
  ["    --all", "requeue: every dead letter"],
];

/**
 * Reads `dead-letter ACTION MODULE [ID] [flags]` from `parseArgs` tokens (the command
 * name included). Throws a `UsageError` naming what is wrong.
 */
export function parseDeadLetter(tokens: readonly ArgToken[]): DeadLetterCommand {
  const positionals: string[] = [];
  const flags = new Map<string, { raw: string; value?: string }>();
  for (const token of tokens) {
    if (token.kind === "positional") positionals.push(token.value);
    else if (token.kind === "option") {
      flags.set(token.name, { raw: token.rawName, value: token.value });
      if (!["all", "show-data", "instance"].includes(token.name)) {
        throw new UsageError(`unknown option "${token.rawName}" for ${DEAD_LETTER} (see --help)`);
      }
    }
  }
  const [, action, module, ...rest] = positionals;
  if (action === undefined) {
    throw new UsageError(`${DEAD_LETTER} needs an action (${ACTIONS.join(", ")}; see --help)`);
  }
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw new UsageError(
      `unknown ${DEAD_LETTER} action "${action}" (expected ${ACTIONS.join(", ")})`,
    );
  }
  const act = action as DeadLetterAction;
  const usage = USAGE[act];
  if (module === undefined) throw new UsageError(`${DEAD_LETTER} ${act} needs a MODULE: ${usage}`);

  for (const [name, { raw, value }] of flags) {
    if (name === "instance") {
      if (value === undefined || value === "") {
        throw new UsageError(`option --instance needs a value`);
      }
      continue;
    }
    if (value !== undefined) throw new UsageError(`option --${name} takes no value`);
    const owner = name === "all" ? "requeue" : "list";
    if (act !== owner) {
      throw new UsageError(`option "${raw}" is for ${DEAD_LETTER} ${owner}, not ${act}`);
    }
  }
  const all = flags.has("all");
  const maxRest = act === "requeue" && !all ? 1 : 0;
  if (rest.length > maxRest) {
    throw new UsageError(`unexpected argument "${rest[maxRest]}": ${usage}`);
  }
  if (act === "requeue" && !all && rest.length === 0) {
    throw new UsageError(`${DEAD_LETTER} requeue needs an ID or --all: ${usage}`);
  }
  return {
    kind: "dead-letter",
    action: act,
    module,
    id: act === "requeue" && !all ? rest[0] : undefined,
    all,
    showData: flags.has("show-data"),
    instance: flags.get("instance")?.value,
  };
}

/** `text` on one line: control characters escaped as in JSON, at most `max` characters. */
function printable(text: string, max = 300): string {
  // deno-lint-ignore no-control-regex
  const escaped = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    if (c === "\n") return "\\n";
    if (c === "\t") return "\\t";
    if (c === "\r") return "\\r";
    return `\\u${code.toString(16).padStart(4, "0")}`;
  });
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}

/** The message's envelope: without the `~mac.` prefix of a signed message. */
function envelope(data: string): string {
  if (!data.startsWith("~")) return data;
  const dot = data.indexOf(".");
  return dot === -1 ? data : data.slice(dot + 1);
}

/**
 * The task name a message carries, or `undefined`. Decoded through the instance when it
 * can (its codec, its signature check); otherwise read from the envelope with the default
 * codec, without trusting it: a name is shown, never run.
 */
async function taskName(dewey: Dewey, data: string): Promise<string | undefined> {
  try {
    const [task] = await dewey.deserialize(data);
    return task.name;
  } catch {
    // Not decodable by the instance (why is in the reason): try the bare envelope.
  }
  try {
    const message = defaultCodec.decode(envelope(data)) as { name?: unknown } | null;
    const name = typeof message === "object" && message !== null ? message.name : undefined;
    return typeof name === "string" && name !== "" ? name : undefined;
  } catch {
    return undefined;
  }
}

const encoder = new TextEncoder();

/** `1 dead letter`, `2 dead letters`. */
function letters(count: number): string {
  return `${count} dead letter${count === 1 ? "" : "s"}`;
}

async function list(dewey: Dewey, showData: boolean, io: CliIo): Promise<number> {
  for (const entry of await dewey.deadLetters()) {
    const name = await taskName(dewey, entry.data);
    const size = `${encoder.encode(entry.data).length} bytes`;
    const preview = name === undefined ? size : `task ${printable(name, 60)}, ${size}`;
    const at = isNaN(+entry.at) ? "?" : entry.at.toISOString();
    const fields = [printable(entry.id, 100), at, printable(entry.reason), preview];
    if (showData) fields.push(JSON.stringify(entry.data));
    io.out(fields.join("\t"));
  }
  return 0;
}

async function requeue(
  dewey: Dewey,
  command: DeadLetterCommand,
  io: CliIo,
): Promise<number> {
  if (command.all) {
    let requeued = 0;
    for (const entry of await dewey.deadLetters()) {
      // Another process may requeue or purge meanwhile: count what this one moved.
      if (await dewey.requeueDeadLetter(entry.id)) requeued++;
    }
    io.out(`requeued ${letters(requeued)}`);
    return 0;
  }
  const id = command.id!;
  if (!await dewey.requeueDeadLetter(id)) {
    io.err(`error: no dead letter with id ${JSON.stringify(printable(id, 100))}`);
    return 1;
  }
  io.out(`requeued ${printable(id, 100)}`);
  return 0;
}

/**
 * Runs a parsed `dead-letter` command and resolves with the exit code: 0 done, 1 when
 * `requeue ID` finds no such entry. Load errors throw as for the other commands.
 */
export async function deadLetter(command: DeadLetterCommand, io: CliIo): Promise<number> {
  const { dewey } = await loadInstance(command.module, command.instance);
  try {
    if (isMemoryStorage(dewey)) {
      io.err("warning: the instance uses a MemoryStorage, which lives in this process only");
    }
    switch (command.action) {
      case "list":
        return await list(dewey, command.showData, io);
      case "requeue":
        return await requeue(dewey, command, io);
      case "purge":
        io.out(`purged ${letters(await dewey.purgeDeadLetters())}`);
        return 0;
    }
  } finally {
    await dewey.close();
  }
}
