/**
 * How many records of the event log are kept: they are keys of the result store, which
 * the dashboard and `top` leave out of the result count.
 *
 * @module
 */

import type { Storage } from "../storage/storage.ts";
import { EVENT_COUNTER } from "./log.ts";
import { firstLive } from "./reader.ts";

/** Counts the kept records, remembering where the oldest was to search less next time. */
export class LogSpan {
  readonly #storage: () => Storage;
  #first = 1;

  constructor(storage: () => Storage) {
    this.#storage = storage;
  }

  /** Records from the oldest kept to the newest (gaps included). */
  async records(): Promise<number> {
    const storage = this.#storage();
    const newest = await storage.incr(EVENT_COUNTER, 0);
    if (this.#first > newest + 1) this.#first = 1; // the storage was flushed
    this.#first = await firstLive(storage, this.#first, newest);
    return newest - this.#first + 1;
  }
}
