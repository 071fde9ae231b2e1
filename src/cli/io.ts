/**
 * Where the command line writes, and the checks its commands share.
 *
 * @module
 */

import type { Dewey } from "../dewey.ts";
import { MemoryStorage } from "../storage/memory.ts";

/** Output of the command line: results on `out`, warnings and errors on `err`. */
export interface CliIo {
  /** Writes one line of results (stdout). */
  out(line: string): void;
  /** Writes one line of warnings or errors (stderr). */
  err(line: string): void;
}

/** stdout and stderr. */
export const consoleIo: CliIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/** The storage's class name (never its options, which may hold credentials). */
export function storageKind(dewey: Dewey): string {
  return dewey.storage.constructor?.name || "unknown";
}

/** Whether the instance keeps its data in this process only. */
export function isMemoryStorage(dewey: Dewey): boolean {
  // The name too: the module may use another copy of the library.
  return dewey.storage instanceof MemoryStorage || storageKind(dewey) === "MemoryStorage";
}
