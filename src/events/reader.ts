/**
 * The reading side of the event log: follows records `~ev:<n>` in order with `peekData`,
 * going past expired ones, waiting for new ones with the storage's `waitForData` where it
 * has one (polling with a short backoff otherwise).
 *
 * @module
 */

import type { Storage } from "../storage/storage.ts";
import { EVENT_COUNTER, eventKey } from "./log.ts";
import type { DeweyEvent, EventSignal, EventsOptions } from "./types.ts";

function checkSeconds(name: string, value: number | undefined): void {
  if (value !== undefined && !(typeof value === "number" && value > 0 && value < Infinity)) {
    throw new RangeError(`Invalid "${name}": expected a positive number of seconds`);
  }
}

/** Resolves after `seconds`, or at once when `abort` aborts. */
function pause(seconds: number, abort?: AbortSignal): Promise<void> {
  if (abort?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      abort?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, seconds * 1000);
    abort?.addEventListener("abort", done, { once: true });
  });
}

/**
 * The first sequence number in `[low, high]` whose record is still there, or `high + 1`.
 * Records expire oldest first, so a binary search finds it in a few reads.
 */
export async function firstLive(storage: Storage, low: number, high: number): Promise<number> {
  if (low > high || await storage.hasData(eventKey(low))) return low;
  let lo = low + 1; // `low` is gone
  let hi = high + 1; // "none" unless a record in between is found
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (await storage.hasData(eventKey(mid))) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The events of a record, with `seq` and `source`; `[]` for a malformed record. */
function parseRecord(raw: string, seq: number): DeweyEvent[] {
  try {
    const record = JSON.parse(raw) as { consumer?: unknown; events?: unknown };
    if (!Array.isArray(record.events)) return [];
    const source = typeof record.consumer === "string" ? record.consumer : "";
    return record.events
      .filter((event) => event && typeof event === "object" && typeof event.signal === "string")
      .map((event) => ({ ...event, seq, source }) as DeweyEvent);
  } catch {
    return [];
  }
}

/**
 * Yields the events of `storage`'s log (see {@linkcode EventsOptions}); what
 * `dewey.events()` returns. `progress` is told the next record number each time the
 * reader is done with a record (read to its last event, or gone past).
 */
export async function* readEvents(
  storage: Storage,
  options: EventsOptions = {},
  progress?: (next: number) => void,
): AsyncGenerator<DeweyEvent, void, undefined> {
  if (options === null || typeof options !== "object") {
    throw new TypeError("events() options must be an object");
  }
  const { from, follow = true, abort, pollInterval = 1, gapTimeout = 2 } = options;
  if (from !== undefined && !Number.isSafeInteger(from)) {
    throw new RangeError(`Invalid "from": expected an integer, got ${String(from)}`);
  }
  checkSeconds("pollInterval", pollInterval);
  checkSeconds("gapTimeout", gapTimeout);
  const wanted = options.signal === undefined
    ? undefined
    : new Set<EventSignal>(Array.isArray(options.signal) ? options.signal : [options.signal]);

  let newest = await storage.incr(EVENT_COUNTER, 0);
  let next: number;
  if (from === undefined) next = newest + 1;
  else next = await firstLive(storage, Math.max(1, from < 0 ? newest + 1 + from : from), newest);
  progress?.(next);
  let gapSince: number | undefined;
  let delay = 0.05;

  /** Waits for record `next` (or `seconds`), without outliving `abort`. */
  const waitFor = async (seconds: number) => {
    if (storage.waitForData) {
      await Promise.race([
        storage.waitForData(eventKey(next), seconds),
        pause(seconds, abort),
      ]);
    } else {
      await pause(seconds, abort);
    }
  };

  while (!abort?.aborted) {
    if (next > newest) {
      if (!follow) return;
      await waitFor(Math.min(delay, pollInterval));
      delay = Math.min(delay * 1.5, pollInterval);
      const counter = await storage.incr(EVENT_COUNTER, 0);
      // A smaller counter: the storage was flushed and the log starts over.
      if (counter < newest) next = await firstLive(storage, 1, counter);
      newest = counter;
      progress?.(next);
      continue;
    }
    const raw = await storage.peekData(eventKey(next));
    if (raw === undefined) {
      // Numbered but missing: expired, or still being written by its consumer.
      if (!follow) {
        next++;
        progress?.(next);
        continue;
      }
      const now = performance.now();
      gapSince ??= now;
      const waited = (now - gapSince) / 1000;
      if (waited >= gapTimeout) {
        gapSince = undefined;
        next = await firstLive(storage, next + 1, newest);
        progress?.(next);
      } else {
        await waitFor(Math.min(gapTimeout - waited, pollInterval));
      }
      continue;
    }
    gapSince = undefined;
    delay = 0.05;
    for (const event of parseRecord(raw, next)) {
      if (abort?.aborted) return;
      if (!wanted || wanted.has(event.signal)) yield event;
    }
    next++;
    progress?.(next);
  }
}
