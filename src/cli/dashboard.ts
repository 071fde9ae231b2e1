/**
 * `dashboard MODULE [--port 8080] [--host 127.0.0.1] [--token T]`: serves the web
 * dashboard of the module's instance until SIGINT or SIGTERM. It binds to loopback by
 * default; any other host needs a token (`--token` or `DEWEY_DASHBOARD_TOKEN`), which
 * every request must then carry.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import type { Consumer } from "../consumer/consumer.ts";
import { isLoopback } from "../dashboard/auth.ts";
import { onStopSignals } from "../runtime/signals.ts";
import { type CliIo, isMemoryStorage, storageKind } from "./io.ts";
import { loadInstance, UsageError } from "./load.ts";

/** The command's name on the command line. */
export const DASHBOARD = "dashboard";

/** A parsed `dashboard` command line. */
export interface DashboardCommand {
  /** Tells this command from the others. */
  kind: "dashboard";
  /** The module path or URL. */
  module: string;
  /** `--port`. */
  port: number;
  /** `--host`. */
  host: string;
  /** `--token` (or the environment's `DEWEY_DASHBOARD_TOKEN`). */
  token?: string;
  /** `--instance NAME`. */
  instance?: string;
}

/** The help rows: command, then what it does. */
export const DASHBOARD_HELP: readonly [string, string][] = [
  [
    "dashboard MODULE [options]",
    "serve the web dashboard and /metrics: --port P (default 8080), --host H (default " +
    "127.0.0.1), --token T or DEWEY_DASHBOARD_TOKEN (required off loopback)",
  ],
];

const USAGE = "dashboard MODULE [--port 8080] [--host 127.0.0.1] [--token T] [--instance NAME]";

/**
 * Reads a command's arguments: `valued` options take a value, `flags` take none; throws a
 * `UsageError` for anything else.
 */
export function readOptions(
  argv: readonly string[],
  command: string,
  valued: readonly string[],
  flags: readonly string[],
): { positionals: string[]; values: Map<string, string>; set: Set<string> } {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const name of valued) options[name] = { type: "string" };
  for (const name of flags) options[name] = { type: "boolean" };
  const { tokens } = parseArgs({
    args: [...argv],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const positionals: string[] = [];
  const values = new Map<string, string>();
  const set = new Set<string>();
  for (const token of tokens) {
    if (token.kind === "positional") positionals.push(token.value);
    if (token.kind !== "option") continue;
    if (valued.includes(token.name)) {
      if (token.value === undefined || token.value === "") {
        throw new UsageError(`option --${token.name} needs a value`);
      }
      values.set(token.name, token.value);
    } else if (flags.includes(token.name)) {
      if (token.value !== undefined) throw new UsageError(`option --${token.name} takes no value`);
      set.add(token.name);
    } else {
      throw new UsageError(`unknown option "${token.rawName}" for ${command} (see --help)`);
    }
  }
  return { positionals, values, set };
}

/** Reads `dashboard MODULE [flags]` (the arguments after the program name). */
export function parseDashboard(
  argv: readonly string[],
  env: Record<string, string | undefined> = process.env,
): DashboardCommand {
  const { positionals, values } = readOptions(
    argv,
    DASHBOARD,
    ["port", "host", "token", "instance"],
    [],
  );
  const [, module, ...rest] = positionals;
  if (module === undefined) throw new UsageError(`${DASHBOARD} needs a MODULE: ${USAGE}`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}": ${USAGE}`);
  const rawPort = values.get("port") ?? "8080";
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || port > 65535) {
    throw new UsageError(`invalid value for --port: "${rawPort}" is not a port number`);
  }
  const host = values.get("host") ?? "127.0.0.1";
  const token = values.get("token") ?? (env.DEWEY_DASHBOARD_TOKEN || undefined);
  if (!isLoopback(host) && token === undefined) {
    throw new UsageError(
      `--host ${host} is not a loopback address: set --token or DEWEY_DASHBOARD_TOKEN`,
    );
  }
  return { kind: "dashboard", module, port, host, token, instance: values.get("instance") };
}

/** Serves the dashboard until SIGINT or SIGTERM; resolves with the exit code. */
export async function dashboard(command: DashboardCommand, io: CliIo): Promise<number> {
  // Loaded here, not at the top: every command parses its arguments through this module.
  const { createDashboard } = await import("../dashboard/app.ts");
  const { serveHttp } = await import("../dashboard/serve.ts");
  const { dewey, exports } = await loadInstance(command.module, command.instance);
  let removeListeners = () => {};
  try {
    if (isMemoryStorage(dewey)) {
      io.err("warning: the instance uses a MemoryStorage, which lives in this process only");
    }
    const board = createDashboard(dewey, {
      token: command.token,
      loopbackOnly: isLoopback(command.host),
      exports,
      storageKind: storageKind(dewey),
    });
    let server;
    try {
      server = await serveHttp(board.fetch, { port: command.port, host: command.host });
    } catch (error) {
      await board.close();
      throw new UsageError(
        `cannot listen on ${command.host}:${command.port}: ${(error as Error).message}`,
      );
    }
    const shown = command.host.includes(":") ? `[${command.host}]` : command.host;
    io.out(`Dewey dashboard for "${dewey.name}": http://${shown}:${server.port}/`);
    io.out(`Prometheus metrics: http://${shown}:${server.port}/metrics`);
    if (command.token !== undefined) io.out("Open the page with ?token=<your token>");
    await new Promise<void>((resolve) => {
      removeListeners = onStopSignals(() => resolve());
    });
    await server.close();
    await board.close();
  } finally {
    removeListeners();
    await dewey.close();
  }
  return 0;
}

/**
 * Serves a consumer's `/metrics` on `127.0.0.1:port` (`consume --metrics-port`) and says
 * where on stderr.
 */
export async function serveConsumerMetrics(
  consumer: Consumer,
  port: number,
  io: CliIo,
): Promise<{ close(): Promise<void> }> {
  const { metricsHandler } = await import("../consumer/metrics.ts");
  const { serveHttp } = await import("../dashboard/serve.ts");
  const host = "127.0.0.1";
  try {
    const server = await serveHttp(metricsHandler(consumer.dewey, consumer.metrics), {
      port,
      host,
    });
    io.err(`metrics: http://${host}:${server.port}/metrics`);
    return server;
  } catch (error) {
    throw new UsageError(`cannot listen on ${host}:${port}: ${(error as Error).message}`);
  }
}
