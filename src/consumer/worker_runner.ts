/**
 * The `worker` worker type: a pool of Web Workers, each importing the user's module, for
 * parallel CPU work in one process. A task past its hard deadline has its worker
 * terminated and replaced. Bun stops a terminated worker at once; Deno 2.9 cannot stop
 * one stuck in code that never yields (its thread keeps running), so on Deno use the
 * `process` type when tasks may loop forever.
 *
 * @module
 */

import { registerRunner } from "./consumer.ts";
import { type Outcome, PendingRun, PoolRunner, type PoolWorker } from "./pool_runner.ts";
import type { ChildReply } from "./protocol.ts";

type WorkerReply = ChildReply | { type: "closed" } | { type: "init-failed"; error: string };

/** A Web Worker running `worker_child.ts`. */
class WorkerThread implements PoolWorker {
  readonly ready: Promise<void>;
  busy = false;
  tasks = 0;
  readonly #worker: Worker;
  #pending?: PendingRun;
  #exited = false;
  #exitListeners: ((code: number | null) => void)[] = [];
  #closed?: () => void;

  constructor(moduleUrl: string, instance: string | undefined, onReply: (r: ChildReply) => void) {
    this.#worker = new Worker(new URL("./worker_child.ts", import.meta.url).href, {
      type: "module",
    });
    let markReady!: () => void;
    let failStart!: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    this.ready.catch(() => {});
    this.#worker.onmessage = (event: MessageEvent<WorkerReply>) => {
      const reply = event.data;
      if (reply.type === "ready") markReady();
      else if (reply.type === "init-failed") {
        failStart(new Error(reply.error));
        this.#exit(1);
      } else if (reply.type === "closed") this.#closed?.();
      else if (reply.type === "done" || reply.type === "failed") {
        if (this.#pending?.seq === reply.seq) {
          this.#pending.settle(
            reply.type === "done" ? { kind: "done" } : { kind: "failed", error: reply.error },
          );
        }
      } else onReply(reply);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault?.();
      failStart(new Error(`worker failed: ${event.message}`));
      this.#exit(1);
    };
    this.#worker.postMessage({ init: { moduleUrl, instance } });
  }

  get exited(): boolean {
    return this.#exited;
  }

  #exit(code: number | null): void {
    if (this.#exited) return;
    this.#exited = true;
    this.#worker.terminate();
    this.#pending?.settle({ kind: "exited", code });
    for (const listener of this.#exitListeners) listener(code);
  }

  /** Sends a message and waits for its outcome, or the hard deadline. */
  async run(seq: number, data: string, hardTimeout?: number): Promise<Outcome> {
    const pending = new PendingRun(seq, hardTimeout);
    this.#pending = pending;
    this.#worker.postMessage({ seq, data });
    const outcome = await pending.outcome;
    this.#pending = undefined;
    return outcome;
  }

  async close(seconds: number): Promise<void> {
    if (this.#exited) return;
    const closed = new Promise<void>((resolve) => (this.#closed = resolve));
    this.#worker.postMessage({ close: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, seconds * 1000)))]);
    clearTimeout(timer);
    this.#exit(0);
  }

  kill(): Promise<void> {
    this.#exit(null);
    return Promise.resolve();
  }

  onExit(listener: (code: number | null) => void): void {
    this.#exitListeners.push(listener);
  }
}

registerRunner(
  "worker",
  (context) =>
    new PoolRunner(
      context,
      (onReply) => new WorkerThread(context.options.module!, context.options.instance, onReply),
    ),
);
