/**
 * The tasks of the edge example, shared by both sides: the edge producer
 * (`examples/edge_producer.ts`, in a Worker, enqueuing over Upstash REST) and the consumer
 * (a server process on the same Redis over TCP). Both build their instance with
 * {@linkcode edgeApp}, so task names and the instance name always match; the task bodies
 * are bundled into the Worker too, but only ever run in the consumer.
 *
 * A consumer module for these tasks is three lines (run it with
 * `REDIS_URL=redis://… deno run -A cli.ts consume consumer.ts`):
 *
 * ```ts ignore
 * import { RedisStorage } from "@dewey/dewey/redis";
 * import { edgeApp } from "./edge_tasks.ts";
 * export default edgeApp(new RedisStorage()).dewey; // reads REDIS_URL
 * ```
 *
 * @module
 */

import { Dewey, type Storage } from "../mod.ts";

/** The instance name: the key prefix (`dewey:{edge}:`) both sides must agree on. */
export const EDGE_INSTANCE = "edge";

/** Builds the instance on `storage` and declares its tasks. */
export function edgeApp(storage: Storage) {
  const dewey = new Dewey({ name: EDGE_INSTANCE, storage });

  /** Adds two numbers (runs in the consumer). */
  const add = dewey.task("add", (a: number, b: number) => a + b);

  return { dewey, add };
}
