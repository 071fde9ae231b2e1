/**
 * `waitForMessage` for databases: waiters this process wakes directly, plus an optional
 * watch for writes made elsewhere (file changes, a LISTEN channel).
 *
 * @module
 */

/** Starts watching for outside writes; gives a stop function, or none if it cannot watch. */
export type Watch = (onChange: () => void) => Promise<(() => void) | undefined>;

/** Waiters on one storage object. */
export class Waiters {
  readonly #waiters = new Set<() => void>();

  /** Ends every pending wait (a message was added here, or the storage is closing). */
  wakeAll(): void {
    // Each waiter removes itself, so iterate over a copy.
    for (const wake of [...this.#waiters]) wake();
  }

  /**
   * Resolves on {@linkcode Waiters.wakeAll}, when `watch` reports a change, when `ready`
   * finds a message already waiting, after `timeout` seconds, or when `signal` aborts.
   */
  wait(
    timeout: number,
    signal: AbortSignal | undefined,
    ready: () => Promise<boolean>,
    watch?: Watch,
  ): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let done = false;
      let unwatch: (() => void) | undefined;
      const wake = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", wake);
        this.#waiters.delete(wake);
        unwatch?.();
        resolve();
      };
      const timer = startTimer(timeout, wake);
      this.#waiters.add(wake);
      signal?.addEventListener("abort", wake);
      // Watch first, then look: a write landing between the two is seen by the look, one
      // landing after it by the watch, so none is slept through.
      (async () => {
        const stop = await watch?.(wake);
        if (done) stop?.();
        else unwatch = stop;
        if (!done && await ready()) wake();
      })().catch(wake); // a failing database: let the caller's next dequeue report it
    });
  }
}

/** setTimeout's delay is a 32-bit signed integer; longer delays would fire at once. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;

/** A timer for `seconds`, or none for an infinite wait. */
function startTimer(
  seconds: number,
  callback: () => void,
): ReturnType<typeof setTimeout> | undefined {
  if (seconds === Infinity) return undefined;
  return setTimeout(callback, Math.min(Math.max(0, seconds * 1000), MAX_TIMER_DELAY));
}
