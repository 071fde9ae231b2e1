/**
 * `consume MODULE [options]`: runs a consumer until SIGINT or SIGTERM.
 *
 * @module
 */

import { Consumer, type ConsumerLog, type ConsumerOptions } from "../../consumer.ts";
import { resolveConsumerOptions } from "../consumer/options.ts";
import { openLogFile } from "../runtime/log_file.ts";
import { exitNow, onStopSignals } from "../runtime/signals.ts";
import { inFlagTerms } from "./args.ts";
import { serveConsumerMetrics } from "./dashboard.ts";
import "../runtime/process_info.ts"; // heartbeats with the host name and process id
import { type CliIo, isMemoryStorage } from "./io.ts";
import { loadInstance, UsageError } from "./load.ts";

/** Checks the options as the consumer will, reporting problems in terms of the flags. */
function validate(options: ConsumerOptions): void {
  try {
    resolveConsumerOptions(options);
  } catch (error) {
    if (error instanceof RangeError || error instanceof TypeError) {
      throw new UsageError(inFlagTerms(error.message));
    }
    throw error;
  }
}

/** A log that appends lines to `file`, which must be writable now. */
function fileLog(file: string, io: CliIo): ConsumerLog {
  try {
    return openLogFile(file, io.err, io.err);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Runs the consumer; resolves with the exit code once it has stopped. */
export async function consume(
  modulePath: string,
  options: ConsumerOptions,
  io: CliIo,
): Promise<number> {
  // Checked before the module is imported; `module` is only checked for presence here.
  validate({ ...options, module: modulePath });
  const log = options.logfile === undefined ? undefined : fileLog(options.logfile, io);
  const { url, dewey } = await loadInstance(modulePath, options.instance);
  let removeListeners = () => {};
  let metrics: { close(): Promise<void> } | undefined;
  try {
    if (isMemoryStorage(dewey)) {
      io.err("warning: consuming a MemoryStorage: only this process can enqueue to it");
    }
    const consumer = new Consumer(dewey, { ...options, module: url, ...(log ? { log } : {}) });
    if (options.metricsPort !== undefined) {
      metrics = await serveConsumerMetrics(consumer, options.metricsPort, io);
    }
    removeListeners = onStopSignals((signal, count) => {
      if (count === 1) consumer.stop();
      else if (count === 2) consumer.stop({ graceful: false });
      else {
        io.err(`error: ${signal} received a third time: exiting without cleaning up`);
        exitNow(signal === "SIGINT" ? 130 : 143); // 128 + the signal's number, as shells do
      }
    });
    await consumer.run();
  } finally {
    await metrics?.close();
    // Signals stay handled until the storage is closed: a late one must not kill the close.
    await dewey.close();
    removeListeners();
  }
  return 0;
}
