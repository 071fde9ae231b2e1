/**
 * Measuring helpers shared by the benchmark scripts: ops per second as the median of a
 * few samples after a warm-up, and a Markdown table of rows.
 *
 * @module
 */

/** One benchmark result. */
export interface Row {
  /** What was measured. */
  name: string;
  /** Operations per second. */
  opsPerSec: number;
  /** A comparison, when there is one. */
  note?: string;
}

const WARM_UP_MS = 300;
const SAMPLES = 5;
const SAMPLE_MS = 200;

/**
 * A benchmark body: runs its operation `n` times and returns something derived from the
 * results, so the engine cannot drop the work. Each body has its own loop: a loop shared
 * by all bodies would call them through one polymorphic call site and favour whichever
 * ran first.
 */
export type Body = (n: number) => number;

/** Keeps results observable so the engine cannot drop the work. */
export let sink = 0;

/** Runs `body` for about `ms` milliseconds and returns its ops per second. */
function sample(body: Body, ms: number): number {
  let ops = 0;
  let batch = 64;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    sink += body(batch);
    ops += batch;
    elapsed = performance.now() - start;
    if (elapsed < ms / 20) batch *= 2;
  }
  return ops / (elapsed / 1000);
}

/** Ops per second of `body`: the median of {@linkcode SAMPLES} samples, after a warm-up. */
export function measure(body: Body): number {
  sample(body, WARM_UP_MS);
  const samples = Array.from({ length: SAMPLES }, () => sample(body, SAMPLE_MS));
  return samples.sort((a, b) => a - b)[SAMPLES >> 1];
}

/** Like {@linkcode measure}, for an asynchronous operation. */
export async function measureAsync(op: () => Promise<number>): Promise<number> {
  const run = async (ms: number): Promise<number> => {
    let ops = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < ms) {
      for (let i = 0; i < 50; i++) sink += await op();
      ops += 50;
      elapsed = performance.now() - start;
    }
    return ops / (elapsed / 1000);
  };
  await run(WARM_UP_MS);
  const samples: number[] = [];
  for (let i = 0; i < SAMPLES; i++) samples.push(await run(SAMPLE_MS));
  return samples.sort((a, b) => a - b)[SAMPLES >> 1];
}

/** The rows as a Markdown table. */
export function toMarkdown(rows: Row[]): string {
  const lines = ["| benchmark | ops/s | note |", "|---|---:|---|"];
  for (const row of rows) {
    lines.push(
      `| ${row.name} | ${Math.round(row.opsPerSec).toLocaleString("en-US")} | ${row.note ?? ""} |`,
    );
  }
  return lines.join("\n");
}
