/**
 * Blocking waits over an executor's blocking pop: for a message (the `notify` list every
 * enqueue, release and requeue pushes a token to) and for a result (a per-key list that
 * writes push to while a waiter is registered). Without polling: an idle consumer costs one
 * blocked connection and wakes within a round trip of an enqueue.
 *
 * @module
 */

import type { RedisArg, RedisExecutor, RedisReply } from "./executor.ts";
import type { ScriptName } from "./scripts.ts";

/** What a wait needs from its storage. */
export interface WaitContext {
  executor: RedisExecutor;
  /** Runs one of the storage's scripts. */
  run(name: ScriptName, args: RedisArg[]): Promise<RedisReply>;
  /** The full Redis key of `suffix` under the storage's prefix. */
  key(suffix: string): string;
  /** Aborts when the storage closes. */
  closing: AbortSignal;
}

/** A result wait blocks in slices this long (seconds), renewing its registration. */
const DATA_SLICE = 30;

/**
 * Resolves when a message may be waiting: at once when one is, else when a token arrives,
 * after `timeout` seconds, or when `signal` (or the storage's closing) aborts. A failing
 * server makes it sleep out the timeout, so a consumer loop does not spin.
 */
export async function waitForMessage(
  context: WaitContext,
  timeout: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = performance.now() + timeout * 1000;
  const abort = anySignal(signal, context.closing);
  try {
    if (abort.signal.aborted || !(timeout > 0)) return;
    if (await context.run("waitCheck", []) === 1) return;
    const left = (deadline - performance.now()) / 1000;
    await context.executor.blockingPop!(context.key("notify"), left, abort.signal);
  } catch {
    await sleep(deadline - performance.now(), abort.signal);
  } finally {
    abort.dispose();
  }
}

/**
 * Resolves `true` once `key` holds a value, `false` after `timeout` seconds (`undefined`:
 * never) or when the storage closes. Registers as a waiter, so that a write to the key
 * pushes a token to the key's list, then blocks on that list.
 */
export async function waitForData(
  context: WaitContext,
  key: string,
  timeout: number | undefined,
): Promise<boolean> {
  const deadline = timeout === undefined ? Infinity : performance.now() + timeout * 1000;
  for (;;) {
    if (context.closing.aborted) return false;
    const left = Math.max(0, (deadline - performance.now()) / 1000);
    if (left < 0.001) return await context.executor.send(["EXISTS", context.key(`k:${key}`)]) === 1;
    const slice = Math.min(left, DATA_SLICE);
    const ttl = Math.ceil((slice + DATA_SLICE) * 1000);
    if (await context.run("waitDataRegister", [key, ttl]) === 1) return true;
    let token: string | undefined;
    try {
      token = await context.executor.blockingPop!(context.key(`rn:${key}`), slice, context.closing);
    } catch {
      await sleep(slice * 1000, context.closing);
    } finally {
      // Not awaited: the caller reads the value at once; the count only steers writers.
      context.run("waitDataUnregister", [key]).catch(() => {});
    }
    if (token !== undefined) return true;
  }
}

/** A signal that aborts with either input; `dispose` detaches it. */
function anySignal(
  a: AbortSignal | undefined,
  b: AbortSignal,
): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  if (a?.aborted || b.aborted) controller.abort();
  a?.addEventListener("abort", abort, { once: true });
  b.addEventListener("abort", abort, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      a?.removeEventListener("abort", abort);
      b.removeEventListener("abort", abort);
    },
  };
}

/** Sleeps `ms` milliseconds, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (!(ms > 0) || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
