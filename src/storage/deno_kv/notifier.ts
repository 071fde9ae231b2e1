/**
 * In-process wake-ups for {@linkcode DenoKvStorage}: every storage object on one database
 * in this process shares a notifier, so a producer's enqueue wakes a consumer's
 * `waitForMessage` at once, and a result put wakes `waitForData`. Other processes are not
 * told (Deno KV's cross-process `watch` and queue delivery are too slow or unreliable to
 * build on); their consumers notice new messages when they poll.
 *
 * @module
 */

type Listener = () => void;

/** Listeners for one database, by instance name (and key, for data). */
export class Notifier {
  readonly #messages = new Map<string, Set<Listener>>();
  readonly #data = new Map<string, Set<Listener>>();

  /** Calls `listener` whenever a message may have become available under `name`. */
  onMessage(name: string, listener: Listener): () => void {
    return subscribe(this.#messages, name, listener);
  }

  /** Messages were enqueued, released or requeued under `name`. */
  messagesAdded(name: string): void {
    publish(this.#messages, name);
  }

  /** Calls `listener` whenever `key` of `name` is written. */
  onData(name: string, key: string, listener: Listener): () => void {
    return subscribe(this.#data, dataTopic(name, key), listener);
  }

  /** `key` of `name` was written. */
  dataWritten(name: string, key: string): void {
    publish(this.#data, dataTopic(name, key));
  }
}

const byPath = new Map<string, Notifier>();
const byDatabase = new WeakMap<object, Notifier>();

/**
 * The notifier of a database: one per path string for databases the storage opens (so two
 * storages on one path share it), else one per database object passed in.
 */
export function notifierFor(database: string | object): Notifier {
  if (typeof database === "string") {
    let notifier = byPath.get(database);
    if (!notifier) byPath.set(database, notifier = new Notifier());
    return notifier;
  }
  let notifier = byDatabase.get(database);
  if (!notifier) byDatabase.set(database, notifier = new Notifier());
  return notifier;
}

function dataTopic(name: string, key: string): string {
  return `${name}\u0000${key}`;
}

function subscribe(map: Map<string, Set<Listener>>, topic: string, listener: Listener): () => void {
  let listeners = map.get(topic);
  if (!listeners) map.set(topic, listeners = new Set());
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && map.get(topic) === listeners) map.delete(topic);
  };
}

function publish(map: Map<string, Set<Listener>>, topic: string): void {
  const listeners = map.get(topic);
  // A listener may unsubscribe while called: iterate over a copy.
  if (listeners) { for (const listener of [...listeners]) listener(); }
}
