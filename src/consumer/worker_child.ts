/**
 * A `worker` worker (a Web Worker): imports the user's module when told to, then executes
 * the messages its consumer posts, one at a time. Started by the consumer, not by hand.
 *
 * @module
 */

import { loadInstance } from "../cli/load.ts";
import type { Dewey } from "../dewey.ts";
import type { ChildReply, RunRequest } from "./protocol.ts";

type Incoming = { init: { moduleUrl: string; instance?: string } } | { close: true } | RunRequest;

interface WorkerScope {
  postMessage(
    message: ChildReply | { type: "closed" } | { type: "init-failed"; error: string },
  ): void;
  onmessage: ((event: MessageEvent<Incoming>) => void) | null;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;
let dewey: Dewey | undefined;
let current: number | undefined;
// Messages are handled strictly in order, one at a time.
let queue: Promise<void> = Promise.resolve();

async function handle(message: Incoming): Promise<void> {
  if ("init" in message) {
    try {
      ({ dewey } = await loadInstance(message.init.moduleUrl, message.init.instance));
    } catch (error) {
      scope.postMessage({ type: "init-failed", error: String(error) });
      return;
    }
    dewey.signal((signal, task, error) => {
      if (current === undefined) return;
      const detail = error instanceof Error ? `${error.name}: ${error.message}` : undefined;
      scope.postMessage({
        type: "signal",
        seq: current,
        signal,
        name: task.name,
        id: task.id,
        error: detail,
      });
    });
    await dewey.runLifecycleHooks("startup");
    scope.postMessage({ type: "ready" });
  } else if ("close" in message) {
    await dewey?.runLifecycleHooks("shutdown");
    await dewey?.close();
    scope.postMessage({ type: "closed" });
    scope.close();
  } else {
    current = message.seq;
    try {
      const [task] = await dewey!.deserialize(message.data);
      await dewey!.execute(task);
      scope.postMessage({ type: "done", seq: message.seq });
    } catch (error) {
      scope.postMessage({ type: "failed", seq: message.seq, error: String(error) });
    }
    current = undefined;
  }
}

scope.onmessage = (event) => {
  queue = queue.then(() => handle(event.data));
};
