/**
 * Runs work one at a time per key within this process. Operations that read, then commit
 * with a check (a counter's increment, a dequeue's claim) would otherwise fail each
 * other's checks and retry over and over when a caller runs many at once; in turn, they
 * commit on the first try. Other processes are still handled by the checks.
 *
 * @module
 */

/** Per-key queues of work. */
export class Serial {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Runs `work` after every earlier `run` with the same `key` has settled. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.then(() => {}, () => {});
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
