/**
 * Live consumers, as their heartbeats tell: a consumer counts as live until it says it
 * stopped, or until three of its heartbeat intervals pass without one.
 *
 * @module
 */

import type { ConsumerInfo, DeweyEvent } from "./types.ts";

/**
 * A consumer as last heard of.
 *
 * @example
 * ```ts
 * import { type LiveConsumer, liveConsumers } from "@dewey/dewey";
 *
 * const consumers: LiveConsumer[] = await liveConsumers([]);
 * console.log(consumers.length); // 0
 * ```
 */
export interface LiveConsumer extends ConsumerInfo {
  /** When its last heartbeat was taken, epoch milliseconds. */
  seen: number;
}

/** Keeps the last heartbeat of each consumer. */
export class ConsumerTracker {
  readonly #last = new Map<string, LiveConsumer>();

  /** Takes in an event (anything but a heartbeat is ignored). */
  update(event: DeweyEvent): void {
    if (event.signal !== "heartbeat") return;
    const info = event.consumer;
    if (!info || typeof info.id !== "string") return;
    const known = this.#last.get(info.id);
    if (known && known.seen > event.at) return; // an older heartbeat read late
    if (info.state === "stopped") this.#last.delete(info.id);
    else this.#last.set(info.id, { ...info, seen: event.at });
  }

  /** The consumers live at `now` (epoch ms), oldest first; forgets the others. */
  live(now: number = Date.now()): LiveConsumer[] {
    const live: LiveConsumer[] = [];
    for (const [id, consumer] of this.#last) {
      const interval = typeof consumer.interval === "number" ? consumer.interval : 5;
      if (now - consumer.seen > 3 * interval * 1000) this.#last.delete(id);
      else live.push(consumer);
    }
    return live.sort((a, b) => a.started - b.started || a.id.localeCompare(b.id));
  }
}

/**
 * The consumers live at `now`, from the heartbeats among `events` (read to the end: pass
 * a finite iterable, e.g. `dewey.events({ from: -100, follow: false })`, the last 100
 * records, which hold several heartbeats of every live consumer).
 *
 * @example
 * ```ts
 * import { Dewey, liveConsumers } from "@dewey/dewey";
 * import { Consumer } from "@dewey/dewey/consumer";
 *
 * const dewey = new Dewey({ events: true });
 * const consumer = new Consumer(dewey, { workers: 2, periodic: false, log: { write() {} } });
 * const running = consumer.run();
 * await new Promise((resolve) => setTimeout(resolve, 400)); // the first heartbeat is written
 * const [live] = await liveConsumers(dewey.events({ from: -100, follow: false }));
 * console.log(live.workers, live.state); // 2 "running"
 * consumer.stop();
 * await running;
 * console.log((await liveConsumers(dewey.events({ from: -100, follow: false }))).length); // 0
 * ```
 */
export async function liveConsumers(
  events: AsyncIterable<DeweyEvent> | Iterable<DeweyEvent>,
  now: number = Date.now(),
): Promise<LiveConsumer[]> {
  const tracker = new ConsumerTracker();
  for await (const event of events) tracker.update(event);
  return tracker.live(now);
}
