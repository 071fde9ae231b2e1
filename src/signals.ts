/**
 * Signals: named events the executor and the producer emit as a task moves through its
 * life (`enqueued`, `executing`, `complete`, …), delivered to handlers registered with
 * `dewey.signal(...)`.
 *
 * @module
 */

import type { Task } from "./task.ts";

/**
 * The signal names, as constants.
 *
 * @example
 * ```ts
 * import { Dewey, Signal } from "@dewey/dewey";
 * const dewey = new Dewey();
 * dewey.signal((signal, task) => console.log(signal, task.id), Signal.COMPLETE, Signal.ERROR);
 * ```
 */
export const Signal = {
  /** A task was put on the queue (producer side, or a retry / follow-up). */
  ENQUEUED: "enqueued",
  /** A task was put in the schedule to run later. */
  SCHEDULED: "scheduled",
  /** A task is about to run. */
  EXECUTING: "executing",
  /** A task finished successfully (after its result was stored). */
  COMPLETE: "complete",
  /** A task threw an unhandled error; the handler gets the error as third argument. */
  ERROR: "error",
  /** A failed task is about to be retried. */
  RETRYING: "retrying",
  /** A revoked task was discarded. */
  REVOKED: "revoked",
  /** An expired task was discarded. */
  EXPIRED: "expired",
  /** A task was canceled (pre-execute hook or `CancelExecution`). */
  CANCELED: "canceled",
  /** A task could not take its lock. */
  LOCKED: "locked",
  /** A task ran past its timeout. */
  TIMEOUT: "timeout",
  /** A task hit a rate limit. */
  RATE_LIMITED: "rate-limited",
  /** A task was still running when the consumer stopped at once. */
  INTERRUPTED: "interrupted",
} as const;

/**
 * One of the signal names, e.g. `"complete"`.
 *
 * @example
 * ```ts
 * import { Dewey, Signal, type SignalName } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true });
 * const problems: SignalName[] = [Signal.ERROR, Signal.TIMEOUT, "expired"];
 * let count = 0;
 * dewey.signal(() => {
 *   count++;
 * }, ...problems);
 * const fail = dewey.task("fail", () => {
 *   throw new Error("boom");
 * });
 * await fail();
 * console.log(count); // 1
 * ```
 */
export type SignalName = typeof Signal[keyof typeof Signal];

/**
 * A signal handler: gets the signal name, the task and, for `error`, the error.
 * It may be async; handlers are awaited in registration order.
 *
 * @example
 * ```ts
 * import { Dewey, type SignalHandler } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true });
 * const seen: string[] = [];
 * const audit: SignalHandler = (signal, task) => {
 *   seen.push(`${signal} ${task.name}`);
 * };
 * dewey.signal(audit);
 * const ping = dewey.task("ping", () => "pong");
 * await ping();
 * console.log(seen); // ["enqueued ping", "executing ping", "complete ping"]
 * ```
 */
export type SignalHandler = (
  signal: SignalName,
  task: Task,
  error?: unknown,
) => void | Promise<void>;

const ALL_SIGNALS: ReadonlySet<string> = new Set(Object.values(Signal));

interface Subscription {
  handler: SignalHandler;
  /** `undefined` = every signal. */
  signals?: ReadonlySet<SignalName>;
}

/** Delivers signals to handlers; a throwing handler is reported and the rest still run. */
export class SignalBus {
  #subscriptions: Subscription[] = [];
  #onHandlerError: (error: unknown, signal: SignalName) => void;

  constructor(onHandlerError: (error: unknown, signal: SignalName) => void) {
    this.#onHandlerError = onHandlerError;
  }

  /** Whether any handler is registered (lets the hot path skip work). */
  get active(): boolean {
    return this.#subscriptions.length > 0;
  }

  subscribe(handler: SignalHandler, signals: SignalName[]): () => void {
    if (typeof handler !== "function") {
      throw new TypeError("Cannot register a signal handler that is not a function");
    }
    for (const name of signals) {
      if (!ALL_SIGNALS.has(name)) throw new RangeError(`Unknown signal "${name}"`);
    }
    const subscription: Subscription = {
      handler,
      signals: signals.length ? new Set(signals) : undefined,
    };
    this.#subscriptions.push(subscription);
    return () => {
      this.#subscriptions = this.#subscriptions.filter((s) => s !== subscription);
    };
  }

  async emit(signal: SignalName, task: Task, error?: unknown): Promise<void> {
    for (const { handler, signals } of this.#subscriptions) {
      if (signals && !signals.has(signal)) continue;
      try {
        if (signal === Signal.ERROR) await handler(signal, task, error);
        else await handler(signal, task);
      } catch (handlerError) {
        this.#onHandlerError(handlerError, signal);
      }
    }
  }
}
