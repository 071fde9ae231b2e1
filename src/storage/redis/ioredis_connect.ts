/**
 * The only module that imports ioredis. The TCP executor loads it with a dynamic import
 * whose specifier is not a literal, so bundlers for the browser or edge never follow it
 * and an Upstash-only program never loads `node:net`.
 *
 * @module
 */

import { Redis } from "ioredis";
import type { IoredisClient } from "./tcp_executor.ts";

/**
 * Connection settings, chosen so that a lost server never hangs a caller and never stops
 * a consumer for good:
 * - `retryStrategy`: reconnect forever, backing off from 100 ms to at most 2 s, so a
 *   consumer resumes by itself once Redis is back (ioredis's default also retries forever,
 *   but backs off to 5 s);
 * - `enableOfflineQueue` (on, the default): a command sent while the connection is being
 *   (re)established waits for it instead of failing at once; this is what lets the first
 *   command go out before the initial connect completes;
 * - `maxRetriesPerRequest: 1`: ...but only through one failed reconnection attempt; then
 *   it rejects (`MaxRetriesPerRequestError`, reworded by the executor to name the server)
 *   instead of queueing through ioredis's default of 20 attempts, about a minute and a half
 *   of backoff. A command in flight when the link drops is resent after the reconnect,
 *   under the same limit.
 * - `connectTimeout` 5 s: a server that accepts no connection counts as down that soon;
 * - `enableAutoPipelining` off: the executor batches commands sent together into one write
 *   itself (in a microtask, not a `setImmediate` later), and unlike ioredis's
 *   auto-pipelining it does not hold a batch back until the previous batch's replies are
 *   in, so an ack and the next dequeue are in flight together.
 */
const OPTIONS = {
  retryStrategy: (attempt: number): number => Math.min(100 * 2 ** (attempt - 1), 2000),
  enableOfflineQueue: true,
  maxRetriesPerRequest: 1,
  connectTimeout: 5000,
  enableAutoPipelining: false,
};

/** Opens an ioredis connection to `url` (`redis://` or `rediss://`). */
export function connect(url: string): IoredisClient {
  return new Redis(url, OPTIONS);
}
