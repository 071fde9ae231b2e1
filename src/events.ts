/**
 * Live events: what consumers publish about every signal and about themselves, through
 * an event log kept in the instance's storage (any storage: memory, SQLite, PostgreSQL,
 * Redis, Deno KV), and how any process reads it (`dewey.events()`).
 *
 * Publishing is off unless the instance has `events: true` or the consumer runs with
 * `events: true` (`--events`). A consumer buffers its events and writes them as one record
 * every 250 ms, so it costs two storage writes per flush rather than per task; records
 * expire after 15 minutes.
 *
 * @module
 */

export type {
  ConsumerInfo,
  DeweyEvent,
  DroppedEvent,
  EventSignal,
  EventsOptions,
  HeartbeatEvent,
  TaskEvent,
} from "./events/types.ts";
export { readEvents } from "./events/reader.ts";
export { ConsumerTracker, type LiveConsumer, liveConsumers } from "./events/consumers.ts";
export {
  EventPublisher,
  type EventTask,
  type PublisherOptions,
  registerProcessInfo,
} from "./events/publisher.ts";
