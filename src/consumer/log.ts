/**
 * The consumer's log lines: Huey's formats (`[time] LEVEL:dewey:worker:message`, or
 * `HH:MM:SS message` with `simple`), filtered by `verbose`/`quiet`.
 *
 * @module
 */

import type { ConsumerLog } from "./options.ts";

/** Log levels, least to most severe. */
export type Level = "DEBUG" | "INFO" | "WARNING" | "ERROR";

const RANK: Record<Level, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 };

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** Formats and filters log lines for one consumer. */
export class ConsumerLogger {
  readonly #out: ConsumerLog;
  readonly #threshold: number;
  readonly #simple: boolean;

  constructor(out: ConsumerLog, options: { verbose: boolean; quiet: boolean; simple: boolean }) {
    this.#out = out;
    this.#threshold = options.verbose ? RANK.DEBUG : options.quiet ? RANK.WARNING : RANK.INFO;
    this.#simple = options.simple;
  }

  /** The second the cached `#date` and `#time` are for (epoch seconds). */
  #second = -1;
  #date = "";
  #time = "";

  log(level: Level, source: string, message: string): void {
    if (RANK[level] < this.#threshold) return;
    const ms = Date.now();
    // Consumers log two lines per task: the date and time are formatted once a second.
    const second = Math.floor(ms / 1000);
    if (second !== this.#second) {
      const now = new Date(ms);
      this.#second = second;
      this.#date = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
      this.#time = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
    }
    if (this.#simple) {
      this.#out.write(`${this.#time} ${message}`);
      return;
    }
    this.#out.write(
      `[${this.#date} ${this.#time},${
        pad(ms - second * 1000, 3)
      }] ${level}:dewey:${source}:${message}`,
    );
  }

  debug(source: string, message: string): void {
    this.log("DEBUG", source, message);
  }

  info(source: string, message: string): void {
    this.log("INFO", source, message);
  }

  warn(source: string, message: string): void {
    this.log("WARNING", source, message);
  }

  error(source: string, message: string): void {
    this.log("ERROR", source, message);
  }
}

/** One line for an error: its name and message, never its data. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
