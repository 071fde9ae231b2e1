/**
 * The `process` worker type: a pool of child processes, each importing the user's module.
 * The consumer keeps the queue work (dequeue, lease, heartbeat, ack); a child executes
 * one message at a time. A task still running at its hard deadline is killed with its
 * process, recorded as `TaskTimeout` (retried if it has retries), and the process is
 * replaced — the only way to stop code that never yields on Deno.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { scriptCommand } from "../runtime/spawn.ts";
import { registerRunner } from "./consumer.ts";
import { type Outcome, PendingRun, PoolRunner, type PoolWorker } from "./pool_runner.ts";
import { type ChildReply, parseReply } from "./protocol.ts";
/** Seconds a new process may take to import the user's module. */
const START_TIMEOUT = 60;

/** A child process running `process_child.ts`. */
class WorkerProcess implements PoolWorker {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  tasks = 0;
  busy = false;
  #pending?: PendingRun;
  #exited = false;
  readonly #exit: Promise<void>;

  constructor(moduleUrl: string, instance: string | undefined, onReply: (r: ChildReply) => void) {
    const script = fileURLToPath(new URL("./process_child.ts", import.meta.url));
    const { command, args } = scriptCommand(script, [moduleUrl, instance ?? ""]);
    this.child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
    let markReady!: () => void;
    let failStart!: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    this.ready.catch(() => {}); // observed by start(); avoid an unhandled rejection
    const timer = setTimeout(
      () => failStart(new Error(`worker process not ready after ${START_TIMEOUT}s`)),
      START_TIMEOUT * 1000,
    );
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      const reply = parseReply(line);
      if (!reply) {
        if (line) process.stdout.write(`${line}\n`); // user output that bypassed console
        return;
      }
      if (reply.type === "ready") {
        clearTimeout(timer);
        markReady();
      } else if (reply.type === "done" || reply.type === "failed") {
        if (this.#pending?.seq === reply.seq) {
          this.#pending.settle(
            reply.type === "done" ? { kind: "done" } : { kind: "failed", error: reply.error },
          );
        }
      } else onReply(reply);
    });
    this.#exit = new Promise((resolve) => {
      this.child.on("exit", (code) => {
        this.#exited = true;
        clearTimeout(timer);
        failStart(new Error(`worker process exited with code ${code} while starting`));
        this.#pending?.settle({ kind: "exited", code });
        resolve();
      });
    });
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Sends a message and waits for its outcome, or the hard deadline. */
  async run(seq: number, data: string, hardTimeout?: number): Promise<Outcome> {
    const pending = new PendingRun(seq, hardTimeout);
    this.#pending = pending;
    this.child.stdin!.write(`${JSON.stringify({ seq, data })}\n`);
    const outcome = await pending.outcome;
    this.#pending = undefined;
    return outcome;
  }

  /** Asks the process to finish and exit; kills it if it has not within `seconds`. */
  async close(seconds: number): Promise<void> {
    if (this.#exited) return;
    this.child.stdin!.end();
    const timer = setTimeout(() => this.kill(), seconds * 1000);
    await this.#exit;
    clearTimeout(timer);
  }

  kill(): Promise<void> {
    if (!this.#exited) this.child.kill("SIGKILL");
    return this.#exit;
  }

  onExit(listener: (code: number | null) => void): void {
    this.child.on("exit", listener);
  }
}

registerRunner(
  "process",
  (context) =>
    new PoolRunner(
      context,
      (onReply) => new WorkerProcess(context.options.module!, context.options.instance, onReply),
    ),
);
