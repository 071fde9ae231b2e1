/**
 * The command line's grammar: the commands, every flag (Huey's consumer flags and
 * defaults), strict value parsing, and the usage text generated from the same table.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { ConsumerOptions } from "../consumer/options.ts";
import {
  type ArgToken,
  DEAD_LETTER,
  DEAD_LETTER_FLAG_HELP,
  DEAD_LETTER_HELP,
  type DeadLetterCommand,
  parseDeadLetter,
} from "./dead_letter.ts";
import { DASHBOARD, DASHBOARD_HELP, type DashboardCommand, parseDashboard } from "./dashboard.ts";
import { UsageError } from "./load.ts";
import { parseTop, TOP, TOP_HELP, type TopCommand } from "./top.ts";

/** The commands that take a module. */
export type Command = "consume" | "info" | "flush" | "enqueue";

/** The commands, in the order the usage text lists them. */
export const COMMANDS: readonly Command[] = ["consume", "info", "flush", "enqueue"];

/** Every command name, `dead-letter` (which takes an action first) included. */
const COMMAND_NAMES: readonly string[] = [...COMMANDS, DEAD_LETTER, DASHBOARD, TOP];

/** How a flag's value is read. */
type Kind = "boolean" | "integer" | "number" | "string" | "list" | "choice";

/** One flag of the command line. */
export interface FlagSpec {
  /** Long name, without the dashes. */
  long: string;
  /** One-letter name, without the dash. */
  short?: string;
  /** How the value is read (`boolean`: the flag takes none). */
  kind: Kind;
  /** Allowed values of a `choice` flag. */
  choices?: readonly string[];
  /** The value's placeholder in the usage text. */
  metavar?: string;
  /** `consume` only, or every command. */
  scope: "consume" | "all";
  /** The `ConsumerOptions` key it sets (named in validation messages). */
  key?: keyof ConsumerOptions;
  /** The value a boolean flag stores under `key`. */
  stores?: boolean;
  /** One line of help. */
  help: string;
  /** The default, as shown in the usage text. */
  default?: string;
}

/** Every flag. The consume flags mirror Huey's consumer (`huey_consumer.py`). */
export const FLAGS: readonly FlagSpec[] = [
  {
    long: "workers",
    short: "w",
    kind: "integer",
    metavar: "N",
    scope: "consume",
    key: "workers",
    help: "tasks run at once (async) or workers started",
    default: "1",
  },
  {
    long: "worker-type",
    short: "k",
    kind: "choice",
    choices: ["async", "worker", "process"],
    metavar: "TYPE",
    scope: "consume",
    key: "workerType",
    help: "async (event loop), worker or process",
    default: "async",
  },
  {
    long: "no-periodic",
    short: "n",
    kind: "boolean",
    scope: "consume",
    key: "periodic",
    stores: false,
    help: "do not enqueue periodic tasks",
  },
  {
    long: "delay",
    short: "d",
    kind: "number",
    metavar: "SECONDS",
    scope: "consume",
    key: "delay",
    help: "first polling delay when the queue is empty",
    default: "0.1",
  },
  {
    long: "max-delay",
    short: "m",
    kind: "number",
    metavar: "SECONDS",
    scope: "consume",
    key: "maxDelay",
    help: "longest polling delay",
    default: "10",
  },
  {
    long: "backoff",
    short: "b",
    kind: "number",
    metavar: "FACTOR",
    scope: "consume",
    key: "backoff",
    help: "polling delay growth factor, at least 1",
    default: "1.15",
  },
  {
    long: "scheduler-interval",
    short: "s",
    kind: "number",
    metavar: "SECONDS",
    scope: "consume",
    key: "schedulerInterval",
    help: "seconds between schedule reads; must divide 60",
    default: "1",
  },
  {
    long: "health-check-interval",
    short: "c",
    kind: "number",
    metavar: "SECONDS",
    scope: "consume",
    key: "healthCheckInterval",
    help: "unused: dead workers are replaced at once",
    default: "10",
  },
  {
    long: "disable-health-check",
    short: "C",
    kind: "boolean",
    scope: "consume",
    key: "checkWorkerHealth",
    stores: false,
    help: "unused, kept from Huey (see -c)",
  },
  {
    long: "max-tasks",
    short: "M",
    kind: "integer",
    metavar: "N",
    scope: "consume",
    key: "maxTasks",
    help: "recycle a worker/process worker after N tasks",
    default: "none",
  },
  {
    long: "flush-locks",
    short: "f",
    kind: "boolean",
    scope: "consume",
    key: "flushLocks",
    stores: true,
    help: "clear the instance's locks at start",
  },
  {
    long: "extra-locks",
    short: "L",
    kind: "list",
    metavar: "A,B",
    scope: "consume",
    key: "extraLocks",
    help: "more locks to clear at start (implies -f)",
    default: "none",
  },
  {
    long: "logfile",
    short: "l",
    kind: "string",
    metavar: "FILE",
    scope: "consume",
    key: "logfile",
    help: "append log lines to FILE",
    default: "stderr",
  },
  {
    long: "verbose",
    short: "v",
    kind: "boolean",
    scope: "consume",
    key: "verbose",
    stores: true,
    help: "log debug lines too",
  },
  {
    long: "quiet",
    short: "q",
    kind: "boolean",
    scope: "consume",
    key: "quiet",
    stores: true,
    help: "log only warnings and errors",
  },
  {
    long: "simple",
    short: "S",
    kind: "boolean",
    scope: "consume",
    key: "simple",
    stores: true,
    help: "short log lines: HH:MM:SS message",
  },
  {
    long: "utc",
    kind: "boolean",
    scope: "consume",
    key: "utc",
    stores: true,
    help: "read cron schedules in UTC",
    default: "the instance's utc",
  },
  {
    long: "localtime",
    kind: "boolean",
    scope: "consume",
    key: "utc",
    stores: false,
    help: "read cron schedules in local time",
  },
  {
    long: "events",
    kind: "boolean",
    scope: "consume",
    key: "events",
    stores: true,
    help: "publish task events and heartbeats (for dashboard and top)",
    default: "the instance's events",
  },
  {
    long: "metrics-port",
    kind: "integer",
    metavar: "PORT",
    scope: "consume",
    key: "metricsPort",
    help: "serve Prometheus metrics on 127.0.0.1:PORT/metrics",
    default: "none",
  },
  {
    long: "instance",
    kind: "string",
    metavar: "NAME",
    scope: "all",
    key: "instance",
    help: "the module's exported Dewey instance to use",
  },
  { long: "help", short: "h", kind: "boolean", scope: "all", help: "print this help" },
  { long: "version", kind: "boolean", scope: "all", help: "print the version" },
];

/** A flag's names as the user sees them: `-w/--workers` or `--utc`. */
export function flagLabel(flag: FlagSpec): string {
  return flag.short ? `-${flag.short}/--${flag.long}` : `--${flag.long}`;
}

/** What the command line asks for. */
export type ParsedArgs =
  | { kind: "help" }
  | { kind: "version" }
  | {
    kind: "command";
    command: Command;
    /** The module path or URL. */
    module: string;
    /** The positionals after the module (enqueue's NAME and ARGS_JSON). */
    rest: string[];
    /** The options the flags set (consume's; `instance` for every command). */
    options: ConsumerOptions;
  }
  | DeadLetterCommand
  | DashboardCommand
  | TopCommand;

const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseValue(flag: FlagSpec, raw: string): unknown {
  const label = flagLabel(flag);
  switch (flag.kind) {
    case "integer":
      if (!INTEGER.test(raw)) {
        throw new UsageError(`invalid value for ${label}: "${raw}" is not an integer`);
      }
      return Number(raw);
    case "number":
      if (!NUMBER.test(raw)) {
        throw new UsageError(`invalid value for ${label}: "${raw}" is not a number`);
      }
      return Number(raw);
    case "choice":
      if (!flag.choices!.includes(raw)) {
        throw new UsageError(
          `invalid value for ${label}: "${raw}" (expected ${flag.choices!.join(", ")})`,
        );
      }
      return raw;
    case "list": {
      const names = raw.split(",").map((name) => name.trim());
      if (names.some((name) => name === "")) {
        throw new UsageError(`invalid value for ${label}: "${raw}" has an empty name`);
      }
      return names;
    }
    default:
      if (raw === "") throw new UsageError(`invalid value for ${label}: empty`);
      return raw;
  }
}

const ARITY: Record<Command, { min: number; max: number; usage: string }> = {
  consume: { min: 1, max: 1, usage: "consume MODULE [options]" },
  info: { min: 1, max: 1, usage: "info MODULE [--instance NAME]" },
  flush: { min: 1, max: 1, usage: "flush MODULE [--instance NAME]" },
  enqueue: { min: 2, max: 3, usage: "enqueue MODULE NAME [ARGS_JSON] [--instance NAME]" },
};

/**
 * Parses the arguments after the program name. `-h/--help` and `--version` win over
 * everything else; any other problem throws a `UsageError` naming the flag or argument.
 */
export function parseArguments(argv: readonly string[]): ParsedArgs {
  const parseOptions: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const flag of FLAGS) {
    parseOptions[flag.long] = {
      type: flag.kind === "boolean" ? "boolean" : "string",
      ...(flag.short ? { short: flag.short } : {}),
    };
  }
  const { tokens } = parseArgs({
    args: [...argv],
    options: parseOptions,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const isOption = (t: (typeof tokens)[number], long: string) =>
    t.kind === "option" && t.name === long;
  if (tokens.some((t) => isOption(t, "help"))) return { kind: "help" };
  if (tokens.some((t) => isOption(t, "version"))) return { kind: "version" };
  const first = tokens.find((t) => t.kind === "positional");
  if (first?.kind === "positional" && first.value === DEAD_LETTER) {
    return parseDeadLetter(tokens as ArgToken[]);
  }
  if (first?.kind === "positional" && first.value === DASHBOARD) return parseDashboard(argv);
  if (first?.kind === "positional" && first.value === TOP) return parseTop(argv);

  const positionals: string[] = [];
  const seen: { flag: FlagSpec; raw: string; value: unknown }[] = [];
  for (const token of tokens) {
    if (token.kind === "positional") positionals.push(token.value);
    if (token.kind !== "option") continue;
    const flag = FLAGS.find((f) => f.long === token.name);
    if (!flag) throw new UsageError(`unknown option "${token.rawName}" (see --help)`);
    if (flag.kind === "boolean") {
      if (token.value !== undefined) {
        throw new UsageError(`option ${flagLabel(flag)} takes no value`);
      }
      seen.push({ flag, raw: token.rawName, value: flag.stores });
    } else {
      if (token.value === undefined) {
        throw new UsageError(`option ${flagLabel(flag)} needs a value`);
      }
      seen.push({ flag, raw: token.rawName, value: parseValue(flag, token.value) });
    }
  }

  const [name, ...args] = positionals;
  if (name === undefined) {
    throw new UsageError(`missing command (${COMMAND_NAMES.join(", ")}; see --help)`);
  }
  if (!(COMMANDS as readonly string[]).includes(name)) {
    throw new UsageError(`unknown command "${name}" (expected ${COMMAND_NAMES.join(", ")})`);
  }
  const command = name as Command;
  const arity = ARITY[command];
  if (args.length === 0) throw new UsageError(`${command} needs a MODULE: ${arity.usage}`);
  if (args.length < arity.min) {
    throw new UsageError(`${command} needs a task NAME: ${arity.usage}`);
  }
  if (args.length > arity.max) {
    throw new UsageError(`unexpected argument "${args[arity.max]}": ${arity.usage}`);
  }

  const options: Record<string, unknown> = {};
  for (const { flag, raw, value } of seen) {
    if (flag.scope === "consume" && command !== "consume") {
      throw new UsageError(`option "${raw}" is for consume, not ${command}`);
    }
    if (!flag.key) continue;
    if (flag.kind === "list") {
      options[flag.key] = [...(options[flag.key] as string[] | undefined) ?? [], ...value as []];
    } else {
      options[flag.key] = value; // a repeated flag: the last one wins, as with argparse
    }
  }
  return { kind: "command", command, module: args[0], rest: args.slice(1), options };
}

/**
 * Rewrites a `resolveConsumerOptions` message in command-line terms: the option keys it
 * quotes (`"backoff"`) become flags (`-b/--backoff`).
 */
export function inFlagTerms(message: string): string {
  let text = message;
  for (const flag of FLAGS) {
    if (flag.key && flag.stores !== false) {
      text = text.replaceAll(`"${flag.key}"`, flagLabel(flag));
    }
  }
  return text.replace(/^Invalid /, "invalid ");
}

/** The text of `--help`. */
export function usage(version: string): string {
  // Two columns, the right one wrapped to keep lines within 100 characters.
  const row = (left: string, right: string) => {
    const lines: string[] = [];
    let line = `  ${left.padEnd(36)} `;
    for (const word of right.split(" ")) {
      if (line.length + word.length > 100 && line.trim() !== left.trim()) {
        lines.push(line.trimEnd());
        line = " ".repeat(39);
      }
      line += `${word} `;
    }
    lines.push(line.trimEnd());
    return lines.join("\n");
  };
  const flagRow = (flag: FlagSpec) => {
    const names = flag.short ? `-${flag.short}, --${flag.long}` : `    --${flag.long}`;
    const left = flag.metavar ? `${names} ${flag.metavar}` : names;
    return row(left, flag.default ? `${flag.help} (default: ${flag.default})` : flag.help);
  };
  return [
    `Dewey ${version}: a background task queue in the tradition of Python's Huey.`,
    "",
    "Usage:",
    "  deno run -A cli.ts COMMAND MODULE [options]",
    "  bun cli.ts COMMAND MODULE [options]",
    "",
    "Commands:",
    row("consume MODULE [options]", "run a consumer for the module's Dewey instance"),
    row("info MODULE", "print the queue, schedule, result and dead-letter counts"),
    row("flush MODULE", "remove everything stored under the instance's name"),
    row(
      "enqueue MODULE NAME [ARGS_JSON]",
      "enqueue task NAME with ARGS_JSON, a JSON array (default: [])",
    ),
    ...DEAD_LETTER_HELP.map(([left, right]) => row(left, right)),
    ...DASHBOARD_HELP.map(([left, right]) => row(left, right)),
    ...TOP_HELP.map(([left, right]) => row(left, right)),
    "",
    "MODULE is a file path or file: URL. Its Dewey instance is the default export, else its",
    "only exported Dewey, else the one named by --instance.",
    "",
    "Options of every command:",
    ...FLAGS.filter((flag) => flag.scope === "all").map(flagRow),
    "",
    "Options of consume:",
    ...FLAGS.filter((flag) => flag.scope === "consume").map(flagRow),
    "",
    "Options of dead-letter:",
    ...DEAD_LETTER_FLAG_HELP.map(([left, right]) => row(left, right)),
    "",
    "SIGINT or SIGTERM stops the consumer once running tasks finish; a second one",
    "interrupts them. Exit codes: 0 done, 2 usage error, 1 unexpected error or no dead",
    "letter with the given id.",
  ].join("\n");
}
