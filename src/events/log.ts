/**
 * The event log's layout in any storage, built from contract calls only: a counter
 * (`~ev`) numbers the records, and record `n` is the key/value entry `~ev:n` holding
 * `{ at, consumer, events }` as JSON, written with a ttl so the log prunes itself.
 *
 * @module
 */

/** The counter that numbers the records. */
export const EVENT_COUNTER = "~ev";

/** The key of record `seq`. */
export function eventKey(seq: number): string {
  return `~ev:${seq}`;
}

/** The key prefix of every record (`allResults` and the dashboard's result count skip it). */
export const EVENT_KEY_PREFIX = "~ev:";

/** One stored record: a consumer's events of one flush. */
export interface EventRecord {
  /** When it was written, epoch milliseconds. */
  at: number;
  /** The id of the consumer that wrote it. */
  consumer: string;
  /** The events, without `seq` and `source` (the reader adds them). */
  events: Record<string, unknown>[];
}

/** Seconds a record is kept. */
export const DEFAULT_EVENT_TTL = 15 * 60;
