/**
 * The command line: parses the arguments, runs the command, and turns errors into one
 * line on stderr (`error: …`) and an exit code: 2 for the user's mistakes, 1 otherwise.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import { describeError } from "../consumer/log.ts";
import { ConfigurationError } from "../errors.ts";
import { parseArguments, usage } from "./args.ts";
import { enqueue, flush, info } from "./commands.ts";
import { consume } from "./consume.ts";
import { deadLetter } from "./dead_letter.ts";
import { dashboard } from "./dashboard.ts";
import { top } from "./top.ts";
import { type CliIo, consoleIo } from "./io.ts";
import { UsageError } from "./load.ts";

/** The package version (deno.json's). */
export const VERSION: string = denoJson.version;

/** The first non-empty line of `text` (import errors can carry a code frame). */
function oneLine(text: string): string {
  return text.split("\n").map((line) => line.trim()).find((line) => line !== "") ?? "";
}

/** A sentence starting lower case, unless it starts with a name (`ARGS_JSON`, `Deno`). */
function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) && !text.startsWith("Deno")
    ? text[0].toLowerCase() + text.slice(1)
    : text;
}

async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArguments(argv);
  if (parsed.kind === "help") {
    io.out(usage(VERSION));
    return 0;
  }
  if (parsed.kind === "version") {
    io.out(`dewey ${VERSION}`);
    return 0;
  }
  if (parsed.kind === "dead-letter") return await deadLetter(parsed, io);
  if (parsed.kind === "dashboard") return await dashboard(parsed, io);
  if (parsed.kind === "top") return await top(parsed, io);
  const { command, module, rest, options } = parsed;
  switch (command) {
    case "consume":
      return await consume(module, options, io);
    case "info":
      return await info(module, options.instance, io);
    case "flush":
      return await flush(module, options.instance, io);
    case "enqueue":
      return await enqueue(module, rest[0], rest[1], options.instance, io);
  }
}

/**
 * Runs the command line `argv` (the arguments after the program name) and resolves with
 * the exit code: 0 success, 2 usage error, 1 unexpected error. Errors are reported as
 * one `error: …` line on `io.err`, never a stack trace.
 */
export async function main(argv: readonly string[], io: CliIo = consoleIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigurationError) {
      io.err(`error: ${lowerFirst(oneLine(error.message))}`);
      return 2;
    }
    io.err(`error: ${oneLine(describeError(error))}`);
    return 1;
  }
}
