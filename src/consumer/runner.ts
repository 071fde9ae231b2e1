/**
 * How a consumer runs a dequeued task. The `async` runner executes it on this event loop;
 * the `worker` and `process` runners hand it to a pool of isolated workers.
 *
 * @module
 */

import type { Dewey } from "../dewey.ts";
import type { Task } from "../task.ts";
import type { ResolvedConsumerOptions } from "./options.ts";

/** Runs dequeued tasks for a consumer. */
export interface TaskRunner {
  /** Starts the workers (and runs their startup hooks). */
  start(): Promise<void>;
  /**
   * Runs a dequeued task to the end: executed, result stored, lease acknowledged. May
   * reject only for problems outside the task (the storage went away).
   */
  run(task: Task): Promise<void>;
  /** Stops the workers (and runs their shutdown hooks). */
  stop(graceful: boolean): Promise<void>;
}

/**
 * `async` workers: up to `workers` tasks at once on this event loop, through the
 * executor (Huey's greenlet workers). Timeouts are cooperative.
 */
export class AsyncRunner implements TaskRunner {
  readonly #dewey: Dewey;
  readonly #workers: number;

  constructor(dewey: Dewey, options: ResolvedConsumerOptions) {
    this.#dewey = dewey;
    this.#workers = options.workers;
  }

  async start(): Promise<void> {
    // Startup hooks run once per worker, as in Huey.
    for (let i = 0; i < this.#workers; i++) await this.#dewey.runLifecycleHooks("startup");
  }

  async run(task: Task): Promise<void> {
    await this.#dewey.execute(task);
  }

  async stop(_graceful: boolean): Promise<void> {
    for (let i = 0; i < this.#workers; i++) await this.#dewey.runLifecycleHooks("shutdown");
  }
}
