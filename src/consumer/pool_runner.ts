/**
 * The pool behind the `worker` and `process` worker types.
 *
 * @module
 */

import type { Dewey } from "../dewey.ts";
import { TaskTimeout } from "../errors.ts";
import type { Task } from "../task.ts";
import type { RunnerContext } from "./consumer.ts";
import type { ChildReply } from "./protocol.ts";
import type { TaskRunner } from "./runner.ts";

/** Seconds past a task's timeout before its worker is stopped (its own timeout goes first). */
const KILL_GRACE = 0.5;

/** How a message sent to a worker ended. */
export type Outcome =
  | { kind: "done" }
  | { kind: "failed"; error: string }
  | { kind: "timeout" }
  | { kind: "exited"; code: number | null };

/** The one message a worker is running: settles once, with its outcome or at the deadline. */
export class PendingRun {
  /** The message's sequence number (replies name it). */
  readonly seq: number;
  /** Resolves with the outcome. */
  readonly outcome: Promise<Outcome>;
  #resolve!: (outcome: Outcome) => void;
  #timer?: ReturnType<typeof setTimeout>;

  constructor(seq: number, hardTimeout?: number) {
    this.seq = seq;
    this.outcome = new Promise((resolve) => (this.#resolve = resolve));
    if (hardTimeout !== undefined) {
      this.#timer = setTimeout(() => this.settle({ kind: "timeout" }), hardTimeout * 1000);
    }
  }

  settle(outcome: Outcome): void {
    clearTimeout(this.#timer);
    this.#resolve(outcome);
  }
}

/** One isolated worker: a child process or a Web Worker. */
export interface PoolWorker {
  /** Resolves once the worker imported the user's module; rejects if it cannot. */
  readonly ready: Promise<void>;
  /** Whether it has stopped. */
  readonly exited: boolean;
  /** Running a message now. */
  busy: boolean;
  /** Messages it finished. */
  tasks: number;
  /** Sends a message; resolves with its outcome, or `timeout` at the hard deadline. */
  run(seq: number, data: string, hardTimeout?: number): Promise<Outcome>;
  /** Lets it finish and stop; stops it if it has not within `seconds`. */
  close(seconds: number): Promise<void>;
  /** Stops it now. */
  kill(): Promise<void>;
  /** Calls `listener` when it stops. */
  onExit(listener: (code: number | null) => void): void;
}

/**
 * Runs tasks in a pool of isolated workers (processes or Web Workers): the consumer keeps
 * the queue work; a worker executes one message at a time; a task past its hard deadline
 * is recorded as `TaskTimeout` and its worker killed and replaced.
 */
export class PoolRunner implements TaskRunner {
  readonly #dewey: Dewey;
  readonly #context: RunnerContext;
  readonly #start: (onReply: (reply: ChildReply) => void) => PoolWorker;
  #pool: PoolWorker[] = [];
  #seq = 0;
  #stopping = false;

  constructor(
    context: RunnerContext,
    start: (onReply: (reply: ChildReply) => void) => PoolWorker,
  ) {
    this.#dewey = context.dewey;
    this.#context = context;
    this.#start = start;
  }

  #spawn(): PoolWorker {
    const worker = this.#start((reply) => {
      if (reply.type !== "signal") return;
      this.#context.logSignal(reply.signal, { name: reply.name, id: reply.id }, reply.error);
    });
    worker.onExit((code) => {
      // A worker that died between tasks is replaced at once (the health check).
      if (this.#stopping || worker.busy || !this.#pool.includes(worker)) return;
      this.#context.logger.warn("worker", `Worker exited (code ${code}); replacing it`);
      this.#replace(worker);
    });
    return worker;
  }

  #replace(worker: PoolWorker): PoolWorker {
    const fresh = this.#spawn();
    this.#pool = this.#pool.map((w) => (w === worker ? fresh : w));
    return fresh;
  }

  async start(): Promise<void> {
    this.#pool = Array.from({ length: this.#context.options.workers }, () => this.#spawn());
    await Promise.all(this.#pool.map((worker) => worker.ready));
  }

  async run(task: Task): Promise<void> {
    const worker = this.#pool.find((w) => !w.busy && !w.exited) ??
      this.#replace(this.#pool.find((w) => !w.busy)!);
    worker.busy = true;
    try {
      await worker.ready;
      const timeout = task.timeout !== undefined && task.timeout > 0 ? task.timeout : undefined;
      const outcome = await worker.run(
        ++this.#seq,
        await this.#dewey.serialize(task),
        timeout === undefined ? undefined : timeout + KILL_GRACE,
      );
      await this.#settle(worker, task, outcome, timeout);
    } finally {
      worker.busy = false;
    }
  }

  async #settle(
    worker: PoolWorker,
    task: Task,
    outcome: Outcome,
    timeout: number | undefined,
  ): Promise<void> {
    const dewey = this.#dewey;
    const log = this.#context.logger;
    switch (outcome.kind) {
      case "done": {
        await dewey.acknowledge(task);
        worker.tasks += 1;
        const maxTasks = this.#context.options.maxTasks;
        if (maxTasks !== undefined && worker.tasks >= maxTasks && !this.#stopping) {
          log.info("worker", `Recycling a worker after ${worker.tasks} tasks`);
          this.#replace(worker);
          void worker.close(10);
        }
        return;
      }
      case "failed":
        // Outside the task (its storage went away, say): keep the lease, so the task
        // returns to the queue when the lease expires.
        log.error("worker", `Worker could not run ${task.name} ${task.id}: ${outcome.error}`);
        return;
      case "timeout":
        log.error(
          "worker",
          `${task.name} ${task.id} passed its ${timeout}s timeout: stopping its worker`,
        );
        this.#replace(worker);
        await worker.kill();
        await dewey.failTask(task, new TaskTimeout(timeout));
        await dewey.acknowledge(task);
        return;
      case "exited":
        log.error(
          "worker",
          `Worker died (code ${outcome.code}) running ${task.name} ${task.id}`,
        );
        this.#replace(worker);
        await dewey.failTask(
          task,
          new Error(`worker exited with code ${outcome.code} while running the task`),
        );
        await dewey.acknowledge(task);
        return;
    }
  }

  async stop(graceful: boolean): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.#pool.map((worker) => graceful ? worker.close(10) : worker.kill()),
    );
  }
}
