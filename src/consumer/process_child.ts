/**
 * A `process` worker: imports the user's module, then executes the messages its consumer
 * sends, one at a time, and says when each is done. Run by the consumer, not by hand:
 * `process_child.ts MODULE_URL [INSTANCE]`.
 *
 * @module
 */

import process from "node:process";
import { createInterface } from "node:readline";
import { loadInstance } from "../cli/load.ts";
import { type ChildReply, replyLine, type RunRequest } from "./protocol.ts";

// stdout carries the protocol: user output goes to stderr.
console.log = console.info = console.debug = console.error;
const send = (reply: ChildReply) => process.stdout.write(replyLine(reply));

const [moduleUrl, instance] = process.argv.slice(2);
const { dewey } = await loadInstance(moduleUrl, instance || undefined);
let current: number | undefined;
dewey.signal((signal, task, error) => {
  if (current === undefined) return;
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : undefined;
  send({ type: "signal", seq: current, signal, name: task.name, id: task.id, error: detail });
});
await dewey.runLifecycleHooks("startup");
send({ type: "ready" });

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const request = JSON.parse(line) as RunRequest;
  current = request.seq;
  try {
    const [task] = await dewey.deserialize(request.data);
    await dewey.execute(task);
    send({ type: "done", seq: request.seq });
  } catch (error) {
    send({ type: "failed", seq: request.seq, error: String(error) });
  }
  current = undefined;
}
await dewey.runLifecycleHooks("shutdown");
await dewey.close();
process.exit(0);
