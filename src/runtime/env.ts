/**
 * Reading an environment variable on any runtime: Deno's `Deno.env`, `process.env` on Node
 * and Bun, nothing on edge runtimes.
 *
 * @module
 */

/**
 * An environment variable, or `undefined` where there is none to read: no `Deno.env` /
 * `process.env` (edge runtimes), or no permission to read it (Deno).
 */
export function readEnv(name: string): string | undefined {
  const runtime = globalThis as {
    Deno?: { env?: { get(name: string): string | undefined } };
    process?: { env?: Record<string, string | undefined> };
  };
  try {
    if (runtime.Deno?.env) return runtime.Deno.env.get(name);
  } catch {
    return undefined; // Deno without --allow-env
  }
  try {
    return runtime.process?.env?.[name];
  } catch {
    return undefined;
  }
}
