/**
 * Tells consumer heartbeats the host name and process id, through `node:os` and
 * `node:process` (Deno, Bun and Node have both). Registers itself when imported; the
 * core stays free of runtime APIs.
 *
 * @module
 */

import { hostname } from "node:os";
import process from "node:process";
import { registerProcessInfo } from "../events/publisher.ts";

registerProcessInfo(() => {
  let host = "";
  try {
    host = hostname();
  } catch {
    // No permission to read it (Deno without --allow-sys): leave it out.
  }
  return { host, pid: process.pid };
});
