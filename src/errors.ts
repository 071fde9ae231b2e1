/**
 * Dewey's error classes: what callers catch, and the control-flow exceptions a task
 * throws to steer the executor (retry, cancel, lock, rate limit, timeout).
 *
 * @module
 */

/**
 * Base class of every Dewey error.
 *
 * @example
 * ```ts
 * import { DeweyError, ResultTimeout } from "@dewey/dewey";
 * console.log(new ResultTimeout() instanceof DeweyError); // true
 * ```
 */
export class DeweyError extends Error {
  /** Creates the error; `name` is the subclass name. */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Details stored for a failed task, as `TaskException.metadata`.
 *
 * @example
 * ```ts
 * import { Dewey, type ErrorMetadata, TaskException } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true });
 * const parse = dewey.task("parse", (json: string) => JSON.parse(json));
 * const result = await parse("{oops");
 * try {
 *   await result.get();
 * } catch (e) {
 *   if (e instanceof TaskException) {
 *     const metadata: ErrorMetadata = e.metadata;
 *     console.log(metadata.name, metadata.taskId === result.id); // "SyntaxError" true
 *   }
 * }
 * ```
 */
export interface ErrorMetadata {
  /** `String(error)`, e.g. `"TypeError: boom"`. */
  error: string;
  /** The error's `name`. */
  name: string;
  /** The error's `message`. */
  message: string;
  /** The error's stack, when it had one. */
  stack?: string;
  /** Id of the task that failed. */
  taskId: string;
  /** The task's remaining retries before this failure's decrement. */
  retries: number;
}

/**
 * Thrown by `Result.get()` (and `dewey.result()`) when the task failed.
 *
 * @example
 * ```ts
 * import { Dewey, TaskException } from "@dewey/dewey";
 * const dewey = new Dewey({ immediate: true });
 * const fail = dewey.task("fail", () => { throw new TypeError("boom"); });
 * try {
 *   await (await fail()).get();
 * } catch (e) {
 *   if (e instanceof TaskException) console.log(e.metadata.error); // "TypeError: boom"
 * }
 * ```
 */
export class TaskException extends DeweyError {
  /** What was stored about the failure. */
  readonly metadata: ErrorMetadata;
  /** Creates the exception from stored metadata. */
  constructor(metadata: ErrorMetadata) {
    super(metadata.error || "unknown error");
    this.metadata = metadata;
  }
}

/**
 * A task's error as handed to an `error` handler task or a chord callback: the original
 * `name`, `message` and `stack`, carried as plain data across the wire.
 *
 * @example
 * ```ts
 * import { TaskError } from "@dewey/dewey";
 * const e = TaskError.from(new RangeError("too big"));
 * console.log(e.name, e.message); // "RangeError" "too big"
 * ```
 */
export class TaskError extends Error {
  /** Builds a `TaskError` from anything a task threw. */
  static from(error: unknown): TaskError {
    if (error instanceof TaskError) return error;
    if (error instanceof Error) {
      return new TaskError(error.name, error.message, error.stack);
    }
    return new TaskError("Error", String(error));
  }

  /** Creates the error with the given name, message and stack. */
  constructor(name: string, message: string, stack?: string) {
    super(message);
    this.name = name;
    // The stack of the original error, not of this reconstruction.
    Object.defineProperty(this, "stack", {
      value: stack,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}

/**
 * Thrown by a blocking `get` that ran out of time.
 *
 * @example
 * ```ts
 * import { ResultTimeout } from "@dewey/dewey";
 * console.log(new ResultTimeout().message); // "timed out waiting for result"
 * ```
 */
export class ResultTimeout extends DeweyError {
  /** Creates the error. */
  constructor(message = "timed out waiting for result") {
    super(message);
  }
}

/**
 * Options of {@linkcode RetryTask}.
 *
 * @example
 * ```ts
 * import { Dewey, type RetryOptions, RetryTask } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true });
 * const inAMinute: RetryOptions = { delay: 60 };
 * const poll = dewey.task("poll-export", (ready: boolean) => {
 *   if (!ready) throw new RetryTask(inAMinute);
 *   return "done";
 * });
 * await poll(false);
 * console.log(await dewey.scheduledCount()); // 1 (the retry, due in a minute)
 * ```
 */
export interface RetryOptions {
  /** Seconds to wait before the retry. */
  delay?: number;
  /** When to retry. */
  eta?: Date;
}

/**
 * Thrown by a task to be retried, whatever its `retries`, without consuming a retry.
 *
 * @example
 * ```ts
 * import { Dewey, RetryTask } from "@dewey/dewey";
 * const dewey = new Dewey();
 * dewey.task("poll", () => {
 *   throw new RetryTask({ delay: 10 }); // run again in 10 s
 * });
 * ```
 */
export class RetryTask extends DeweyError {
  /** Seconds until the retry, if given. */
  readonly delay?: number;
  /** When to retry, if given. */
  readonly eta?: Date;
  /** Creates the exception. */
  constructor(options: RetryOptions = {}) {
    super("retry requested");
    this.delay = options.delay;
    this.eta = options.eta;
  }
}

/**
 * Thrown by a pre-execute hook to skip a task, or by a task to stop with a stored error.
 * `retry: true` retries it, `false` never does, unset retries only if it has retries left.
 *
 * @example
 * ```ts
 * import { CancelExecution, Dewey } from "@dewey/dewey";
 * const dewey = new Dewey();
 * dewey.preExecute((task) => {
 *   if (task.name === "maintenance") throw new CancelExecution();
 * });
 * ```
 */
export class CancelExecution extends DeweyError {
  /** Whether the task should be retried. */
  readonly retry?: boolean;
  /** Creates the exception. */
  constructor(options: { retry?: boolean } = {}) {
    super("execution canceled");
    this.retry = options.retry;
  }
}

/**
 * Thrown when a lock is already held.
 *
 * @example
 * ```ts
 * import { TaskLockedException } from "@dewey/dewey";
 * console.log(new TaskLockedException("reports").message); // "unable to acquire lock reports"
 * ```
 */
export class TaskLockedException extends DeweyError {
  /** Name of the lock. */
  readonly lock: string;
  /** Creates the exception for lock `lock`. */
  constructor(lock: string) {
    super(`unable to acquire lock ${lock}`);
    this.lock = lock;
  }
}

/**
 * Thrown when a rate limit is exceeded. With `retry`, the executor reschedules the task
 * to the start of the next window without consuming a retry.
 *
 * @example
 * ```ts
 * import { RateLimitExceeded } from "@dewey/dewey";
 * const e = new RateLimitExceeded("api", 4.5, true);
 * console.log(e.key, e.delay, e.retry); // "api" 4.5 true
 * ```
 */
export class RateLimitExceeded extends DeweyError {
  /** Name of the rate limit. */
  readonly key: string;
  /** Seconds until the next window. */
  readonly delay: number;
  /** Whether a task hitting it is retried at the next window. */
  readonly retry: boolean;
  /** Creates the exception. */
  constructor(key: string, delay: number, retry = true) {
    super(`rate limit exceeded for ${key}`);
    this.key = key;
    this.delay = delay;
    this.retry = retry;
  }
}

/**
 * A task ran past its timeout.
 *
 * @example
 * ```ts
 * import { TaskTimeout } from "@dewey/dewey";
 * console.log(new TaskTimeout(2).message); // "timeout (2s)"
 * ```
 */
export class TaskTimeout extends DeweyError {
  /** Creates the exception for a timeout of `seconds`. */
  constructor(seconds?: number) {
    super(seconds === undefined ? "timeout" : `timeout (${seconds}s)`);
  }
}

/**
 * The instance or a task is configured wrongly (e.g. a duplicate task name).
 *
 * @example
 * ```ts
 * import { ConfigurationError, Dewey } from "@dewey/dewey";
 * const dewey = new Dewey();
 * dewey.task("add", (a: number, b: number) => a + b);
 * try {
 *   dewey.task("add", (a: number) => a);
 * } catch (e) {
 *   console.log(e instanceof ConfigurationError); // true
 * }
 * ```
 */
export class ConfigurationError extends DeweyError {}

/**
 * A stored message could not be decoded or verified. The consumer moves such messages to
 * dead letter with this error's message as the reason.
 *
 * @example
 * ```ts
 * import { DecodeError } from "@dewey/dewey";
 * console.log(new DecodeError("unknown envelope version").name); // "DecodeError"
 * ```
 */
export class DecodeError extends DeweyError {}
