/**
 * OS signals that ask a process to stop (`SIGINT`, `SIGTERM`), through `node:process`,
 * which Deno and Bun both implement.
 *
 * @module
 */

import process from "node:process";

/** The signals that stop a consumer. */
export type StopSignal = "SIGINT" | "SIGTERM";

const STOP_SIGNALS: readonly StopSignal[] = ["SIGINT", "SIGTERM"];

/**
 * Calls `handler` on every `SIGINT` or `SIGTERM` with the signal's name and how many of
 * them have arrived so far (1 for the first). While installed, the signals no longer end
 * the process. Returns a function that removes the listeners.
 */
export function onStopSignals(handler: (signal: StopSignal, count: number) => void): () => void {
  let count = 0;
  const installed: [StopSignal, () => void][] = [];
  for (const signal of STOP_SIGNALS) {
    const listener = () => handler(signal, ++count);
    try {
      process.on(signal, listener);
      installed.push([signal, listener]);
    } catch {
      // Not every platform has every signal (Windows has no SIGTERM listener in Deno).
    }
  }
  return () => {
    for (const [signal, listener] of installed) process.off(signal, listener);
  };
}

/** Ends the process at once with `code`. */
export function exitNow(code: number): never {
  process.exit(code);
}
