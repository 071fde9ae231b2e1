/**
 * Dewey: a background task queue for TypeScript in the tradition of Python's Huey.
 *
 * Wrap a function with `dewey.task(name, fn)`, call it, and get a `Result` back while a
 * consumer process runs it. This entry point is the runtime-agnostic core: it uses Web
 * APIs and pure npm packages only, so producers run unchanged on Deno, Bun, Node and edge
 * runtimes. Storages for SQLite/PostgreSQL, Redis and Deno KV, and the consumer, live in
 * their own entry points.
 *
 * @example
 * ```ts
 * import { Dewey } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true }); // in-process, for the example
 * const add = dewey.task("add", (a: number, b: number) => a + b);
 * const result = await add(1, 2);
 * console.log(await result.get()); // 3
 * ```
 *
 * @module
 */

export {
  type DeadLetter,
  Dewey,
  type DeweyOptions,
  type LifecycleHook,
  type Logger,
} from "./src/dewey.ts";
export type { PeriodicTaskWrapper, TaskOptions, TaskWrapper } from "./src/task_wrapper.ts";
export { Task, type TaskCallOptions, type TaskSource } from "./src/task.ts";
export type { PostExecuteHook, PreExecuteHook, TaskContext } from "./src/executor.ts";
export {
  type AsCompletedOptions,
  ChordResult,
  type GetOptions,
  type RescheduleOptions,
  Result,
  ResultGroup,
  type RevokeOptions,
} from "./src/result.ts";
export { type CanvasMember, Chord, chord, Group, group } from "./src/canvas.ts";
export {
  type CronSchedule,
  cronSchedule,
  type Crontab,
  crontab,
  type CrontabFields,
  type CrontabOptions,
  type ScheduleLike,
  toSchedule,
} from "./src/crontab.ts";
export { type Codec, defaultCodec, MessageSigner, StructuredCodec } from "./src/codec.ts";
export {
  CancelExecution,
  ConfigurationError,
  DecodeError,
  DeweyError,
  type ErrorMetadata,
  RateLimitExceeded,
  ResultTimeout,
  type RetryOptions,
  RetryTask,
  TaskError,
  TaskException,
  TaskLockedException,
  TaskTimeout,
} from "./src/errors.ts";
export { Signal, type SignalHandler, type SignalName } from "./src/signals.ts";
export {
  type ConsumerInfo,
  type DeweyEvent,
  type DroppedEvent,
  type EventSignal,
  type EventsOptions,
  type HeartbeatEvent,
  type LiveConsumer,
  liveConsumers,
  type TaskEvent,
} from "./src/events.ts";
export { type Gauge, metricsHandler, TaskMetrics } from "./src/consumer/metrics.ts";
export { type LockOptions, TaskLock } from "./src/locks.ts";
export { RateLimiter, type RateLimitOptions } from "./src/rate_limit.ts";
export type {
  AckEffects,
  DeadLetterEntry,
  LeasedMessage,
  QueueItem,
  Storage,
} from "./src/storage/storage.ts";
export { MemoryStorage, type MemoryStorageOptions } from "./src/storage/memory.ts";
export { BlackHoleStorage } from "./src/storage/black_hole.ts";
export { Consumer } from "./src/consumer/consumer.ts";
export type {
  ConsumerLog,
  ConsumerOptions,
  ResolvedConsumerOptions,
  WorkerType,
} from "./src/consumer/options.ts";
