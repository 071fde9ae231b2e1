/**
 * A consumer log that appends lines to a file (the `logfile` option and `-l`).
 *
 * @module
 */

import { appendFileSync } from "node:fs";
import type { ConsumerLog } from "../consumer/options.ts";

/**
 * Opens `file` for appending log lines; throws a `TypeError` saying why when it cannot be
 * written now. A write that fails later is reported once through `warn`, and the line
 * goes to `fallback` instead, so nothing is lost silently.
 */
export function openLogFile(
  file: string,
  warn: (message: string) => void = (message) => console.error(message),
  fallback: (line: string) => void = (line) => console.error(line),
): ConsumerLog {
  try {
    appendFileSync(file, "");
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reason = code === "ENOENT"
      ? "its directory does not exist"
      : code === "EACCES" || code === "EPERM"
      ? "permission denied"
      : code === "EISDIR"
      ? "it is a directory"
      : (error as Error).message;
    throw new TypeError(`cannot write the log file ${file}: ${reason}`);
  }
  let failed = false;
  return {
    write(line) {
      try {
        appendFileSync(file, `${line}\n`);
      } catch (error) {
        if (!failed) warn(`warning: cannot write to ${file}: ${(error as Error).message}`);
        failed = true;
        fallback(line);
      }
    },
  };
}
