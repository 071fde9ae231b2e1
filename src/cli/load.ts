/**
 * Loads the user's task module and finds its `Dewey` instance: the default export, else
 * the only exported `Dewey`, else the one named by `--instance`.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Dewey } from "../dewey.ts";

/** A user error worth one line on stderr (exit code 2), not a stack trace. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The loaded module's URL and its instance. */
export interface LoadedInstance {
  /** `file:` URL of the module (what worker and process workers import). */
  url: string;
  /** The instance found. */
  dewey: Dewey;
  /** The module's exports (the CLI's `enqueue` looks for task wrappers there). */
  exports: Record<string, unknown>;
}

/** A `Dewey` — also one from another copy of the library, which `instanceof` misses. */
function isDewey(value: unknown): value is Dewey {
  if (value instanceof Dewey) return true;
  const candidate = value as Partial<Dewey> | null;
  return typeof candidate === "object" && candidate !== null &&
    candidate.constructor?.name === "Dewey" && typeof candidate.dequeue === "function" &&
    typeof candidate.execute === "function";
}

/** Imports `modulePath` (a file path or `file:` URL) and picks its `Dewey` instance. */
export async function loadInstance(modulePath: string, instance?: string): Promise<LoadedInstance> {
  const url = modulePath.startsWith("file:") ? modulePath : pathToFileURL(resolve(modulePath)).href;
  if (!modulePath.startsWith("file:") && !existsSync(resolve(modulePath))) {
    throw new UsageError(`Module not found: ${modulePath}`);
  }
  let exports: Record<string, unknown>;
  try {
    exports = await import(url);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/openKv is not a function/.test(message)) {
      throw new UsageError(
        `Cannot load ${modulePath}: Deno.openKv is missing; run with --unstable-kv or set "unstable": ["kv"] in deno.json`,
      );
    }
    throw new UsageError(`Cannot load ${modulePath}: ${message}`);
  }
  const found = Object.entries(exports).filter(([, value]) => isDewey(value)) as [
    string,
    Dewey,
  ][];
  if (instance !== undefined) {
    const named = found.find(([name]) => name === instance);
    if (!named) {
      throw new UsageError(
        `${modulePath} exports no Dewey instance named "${instance}" (found: ${
          found.map(([name]) => name).join(", ") || "none"
        })`,
      );
    }
    return { url, dewey: named[1], exports };
  }
  if (isDewey(exports.default)) return { url, dewey: exports.default, exports };
  if (found.length === 1) return { url, dewey: found[0][1], exports };
  if (found.length === 0) throw new UsageError(`${modulePath} exports no Dewey instance`);
  throw new UsageError(
    `${modulePath} exports several Dewey instances (${
      found.map(([name]) => name).join(", ")
    }): choose one with --instance NAME`,
  );
}
