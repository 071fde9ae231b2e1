/**
 * How to start another copy of this runtime on a script: the one place that knows Deno
 * wants `run` and permission flags where Bun takes the script directly.
 *
 * @module
 */

import process from "node:process";

/** The command and arguments that run `script` (a file path) in this runtime. */
export function scriptCommand(script: string, args: string[]): { command: string; args: string[] } {
  if ("Deno" in globalThis) {
    return { command: process.execPath, args: ["run", "-A", "--unstable-kv", script, ...args] };
  }
  return { command: process.execPath, args: [script, ...args] };
}
