/**
 * Deno KV benchmark (`deno run -A bench/deno_kv.ts`, or `bun bench/deno_kv.ts` through
 * `@deno/kv`): on one local KV file,
 *
 * - raw atomic commits per second: `atomic().check().set().commit()` one after another on
 *   the database the storage uses (the limit);
 * - enqueue one by one, and `map()` bulk enqueue;
 * - draining 10k tasks (after an unmeasured warm-up drain of 2k) with an in-process
 *   consumer of 1 and 4 async workers, results stored (each run checks every task ran and
 *   left a result and no message).
 *
 * Prints a Markdown table with each figure as a share of the raw commit rate.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Dewey } from "../mod.ts";
import { measureDrains, measureEnqueue } from "./_drain.ts";
import { type DenoKvLike, DenoKvStorage } from "../deno_kv.ts";
import { measureAsync } from "./_measure.ts";

/** Tasks per drain run. */
const DRAIN_TASKS = 10_000;
/** The goal: draining at 30 % of the raw commit rate or more. */
const GOAL_SHARE = 0.3;

const isBun = "Bun" in globalThis;
/** Deno's own KV; elsewhere (Bun, Node) `@deno/kv`. */
const denoKv = !isBun && "Deno" in globalThis;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

const rate = (n: number) => `${Math.round(n).toLocaleString("en-US")}/s`;
const pct = (part: number, whole: number) => `${((part / whole) * 100).toFixed(1)} %`;
const check = (ok: boolean) => (ok ? "✅" : "❌");

interface Line {
  name: string;
  value: string;
  vsRaw?: string;
  goal?: string;
}

/** Never called: Dewey stores bytes only, which KV does not V8-serialize. */
const refuseV8 = (): never => {
  throw new TypeError("V8 serialization is not used by Dewey");
};

/** The runtime's KV: `Deno.openKv` in Deno, `@deno/kv` elsewhere. */
async function openDatabase(path: string): Promise<DenoKvLike> {
  if (denoKv) return await Deno.openKv(path);
  const { openKv } = await import("@deno/kv");
  return await openKv(path, { encodeV8: refuseV8, decodeV8: refuseV8 });
}

/** Atomic commits per second: a check on an absent key and a set of a ~120-byte value. */
async function rawCommits(kv: DenoKvLike): Promise<number> {
  const payload = new TextEncoder().encode("x".repeat(120));
  let n = 0;
  const raw = await measureAsync(async () => {
    const key = ["bench_raw", n++];
    const { ok } = await kv.atomic().check({ key, versionstamp: null }).set(key, payload)
      .commit();
    if (!ok) throw new Error("raw commit failed its check");
    return 1;
  });
  for await (const entry of kv.list({ prefix: ["bench_raw"] })) {
    await kv.atomic().delete(entry.key as [string, number]).commit();
  }
  return raw;
}

async function bench(path: string): Promise<Line[]> {
  const kv = await openDatabase(path);
  const open = (name: string) =>
    new Dewey({ name, storage: new DenoKvStorage({ kv }), logger: quiet });
  try {
    // --- the limit: one atomic commit with a check and a ~120-byte value ------------------
    const rawBefore = await rawCommits(kv);

    // --- enqueueing ------------------------------------------------------------------------
    const oneByOne = await measureEnqueue(open("bench_enqueue"));

    // --- drain 10k with an in-process consumer ----------------------------------------------
    const { drain1, drain4, map: mapMean } = await measureDrains(open, DRAIN_TASKS);
    // Measured again at the end: on a busy machine the rate drifts; the mean is the limit.
    const rawAfter = await rawCommits(kv);
    const raw = (rawBefore + rawAfter) / 2;

    const goal = (value: number) =>
      `≥ ${GOAL_SHARE * 100} % of raw ${check(value >= GOAL_SHARE * raw)}`;
    return [
      {
        name: "raw atomic commit: check + set, one after another (the limit; mean of " +
          `${rate(rawBefore)} before and ${rate(rawAfter)} after)`,
        value: rate(raw),
      },
      { name: "enqueue one by one", value: rate(oneByOne), vsRaw: pct(oneByOne, raw) },
      {
        name: `map() bulk enqueue (${DRAIN_TASKS / 1000}k tasks, mean of 2)`,
        value: rate(mapMean),
        vsRaw: pct(mapMean, raw),
      },
      {
        name: `drain ${DRAIN_TASKS / 1000}k, 1 async worker (results stored)`,
        value: rate(drain1),
        vsRaw: pct(drain1, raw),
        goal: goal(drain1),
      },
      {
        name: `drain ${DRAIN_TASKS / 1000}k, 4 async workers (results stored)`,
        value: rate(drain4),
        vsRaw: pct(drain4, raw),
        goal: goal(drain4),
      },
    ];
  } finally {
    kv.close();
  }
}

function table(lines: Line[]): string {
  return [
    "| benchmark | result | vs raw commits | goal |",
    "|---|---:|---:|---|",
    ...lines.map((line) =>
      `| ${line.name} | ${line.value} | ${line.vsRaw ?? ""} | ${line.goal ?? ""} |`
    ),
  ].join("\n");
}

if (import.meta.main) {
  const dir = mkdtempSync(join(tmpdir(), "dewey-bench-kv-"));
  try {
    const started = performance.now();
    const kvKind = denoKv ? "Deno.openKv (SQLite)" : "@deno/kv 0.14 (SQLite)";
    console.log(
      `## Dewey Deno KV benchmark (${navigator.userAgent}, ${kvKind}, local file, ` +
        `${cpus().length} cores, load average ${loadavg()[0].toFixed(2)} at start)\n`,
    );
    console.log(table(await bench(join(dir, "bench.kv"))) + "\n");
    console.log(`Total time: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
