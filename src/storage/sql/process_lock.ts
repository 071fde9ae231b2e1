/**
 * A lock per key shared by the whole process (a JavaScript realm): callers queue in
 * arrival order. SQLite connections to one file in one process take it around each use,
 * because SQLite's busy wait is synchronous: a connection waiting for a lock held by
 * another connection in the same thread blocks the only thread that could release it.
 *
 * @module
 */

/** The tail of each key's queue; a key without waiters has no entry. */
const tails = new Map<string, Promise<void>>();

/** Waits for `key`, then holds it until the returned function is called. */
export async function lockKey(key: string): Promise<() => void> {
  const previous = tails.get(key) ?? Promise.resolve();
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  tails.set(key, held);
  await previous;
  return () => {
    if (tails.get(key) === held) tails.delete(key);
    release();
  };
}
