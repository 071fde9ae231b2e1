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
      let trailing: ReturnType<typeof setTimeout> | undefined;
      const wake = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(trailing);
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
        if (!done && await ready()) return wake();
        // The change that woke the previous wait may have been seen before its commit
        // was published (see DataWaiters); a second look a moment later catches it.
        if (stop === undefined || done) return;
        trailing = setTimeout(() => {
          ready().then((found) => found && wake(), wake);
        }, TRAILING_CHECK_MS);
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

/** How often a data wait rechecks on its own, in ms: `first`, then ×`factor` up to `max`. */
export interface Backoff {
  first: number;
  factor: number;
  max: number;
}

/**
 * `waitForData` for databases: each wait rechecks its key when this process writes that
 * key ({@linkcode DataWaiters.wake}), when `watch` reports an outside write, and on a
 * backoff timer (a safety net, or the only way to notice outside writes without a watch).
 * Rechecks never overlap: wakes during one are folded into a single recheck after it.
 */
export class DataWaiters {
  readonly #waiters = new Map<string, Set<Wait>>();

  /** Rechecks the waits on `key` (this process wrote it). */
  wake(key: string): void {
    for (const wait of [...this.#waiters.get(key) ?? []]) wait.recheck();
  }

  /** Ends every pending wait with `false` (the storage is closing). */
  closeAll(): void {
    for (const waits of [...this.#waiters.values()]) {
      for (const wait of [...waits]) wait.finish(false);
    }
  }

  /**
   * Resolves `true` once `check` does, `false` after `timeout` seconds (`Infinity`: never)
   * or on {@linkcode DataWaiters.closeAll}; rejects if `check` fails. A check in flight
   * when the timeout passes still decides the outcome.
   */
  wait(
    key: string,
    timeout: number,
    check: () => Promise<boolean>,
    watch: Watch | undefined,
    backoff: (watching: boolean) => Backoff,
  ): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let done = false;
      let checking = false;
      let again = false;
      let expired = false;
      let unwatch: (() => void) | undefined;
      let poll: ReturnType<typeof setTimeout> | undefined;
      let schedule = backoff(false);
      let delay = schedule.first;
      const waits = this.#waiters.get(key) ?? new Set<Wait>();
      this.#waiters.set(key, waits);
      let trailing: ReturnType<typeof setTimeout> | undefined;
      const settle = (): void => {
        done = true;
        clearTimeout(timer);
        clearTimeout(poll);
        clearTimeout(trailing);
        waits.delete(wait);
        if (waits.size === 0 && this.#waiters.get(key) === waits) this.#waiters.delete(key);
        unwatch?.();
      };
      const wait: Wait = {
        finish(found) {
          if (done) return;
          settle();
          resolve(found);
        },
        recheck() {
          if (done) return;
          if (checking) {
            again = true;
            return;
          }
          checking = true;
          again = false;
          clearTimeout(poll);
          check().then((found) => {
            checking = false;
            if (found || expired) return wait.finish(found);
            if (again) return wait.recheck();
            if (done) return;
            poll = setTimeout(() => wait.recheck(), delay);
            delay = Math.min(delay * schedule.factor, schedule.max);
          }, (error) => {
            checking = false;
            if (done) return;
            settle();
            reject(error);
          });
        },
      };
      const timer = startTimer(timeout, () => {
        expired = true;
        if (!checking) wait.finish(false);
      });
      waits.add(wait);
      wait.recheck(); // at once, while the watch starts
      // A file change can be seen before its commit is: SQLite writes the frames (the
      // events) before it publishes the commit in shared memory (no event). So a change
      // also gets a trailing check, a moment later.
      const changed = (): void => {
        wait.recheck();
        if (trailing !== undefined || done) return;
        trailing = setTimeout(() => {
          trailing = undefined;
          wait.recheck();
        }, TRAILING_CHECK_MS);
      };
      watch?.(changed).then((stop) => {
        if (stop === undefined) return;
        if (done) return stop();
        unwatch = stop;
        schedule = backoff(true);
        delay = Math.max(delay, schedule.first);
        // A write that landed before the watch began is seen by this check.
        wait.recheck();
      }, () => {}); // no watch: the backoff timer carries on alone
    });
  }
}

/** Milliseconds after a file change before the check that catches a late-published commit. */
const TRAILING_CHECK_MS = 10;

interface Wait {
  finish(found: boolean): void;
  recheck(): void;
}
