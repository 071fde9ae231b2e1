/**
 * Codec benchmark: the codec against plain JSON and raw `@ungap/structured-clone/json`.
 *
 * Run with `deno run -A bench/codec.ts` or `bun bench/codec.ts`; prints a Markdown table.
 *
 * @module
 */

import { parse as ungapParse, stringify as ungapStringify } from "@ungap/structured-clone/json";
import { defaultCodec, MessageSigner } from "../src/codec.ts";
import { measure, measureAsync, type Row, toMarkdown } from "./_measure.ts";

export type { Row };

// ungap's json entry point ships no types.
const ungap = {
  stringify: ungapStringify as (value: unknown) => string,
  parse: ungapParse as (data: string) => unknown,
};

/** A typical task message. */
const SMALL = {
  id: "0c0a1d4e-6f3b-4a8e-9c3d-2b7f5e1a9d40",
  name: "add",
  args: [1, 2],
  retries: 0,
  priority: 0,
};

/** A message the JSON path cannot carry. */
const RICH = {
  id: "0c0a1d4e-6f3b-4a8e-9c3d-2b7f5e1a9d40",
  name: "report",
  args: [new Date("2026-11-22T10:00:00Z"), 12345678901234567890n],
  kwargs: { totals: new Map([["a", 1n], ["b", 2n]]), tags: new Set(["x", "y"]) },
  retries: 3,
  priority: 0,
};

/** Runs the codec benchmarks and returns one row per measurement. */
export async function benchCodec(): Promise<Row[]> {
  const json = measure((n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += (JSON.parse(JSON.stringify(SMALL)) as typeof SMALL).priority;
    return sum;
  });
  const codecSmall = measure((n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      sum += (defaultCodec.decode(defaultCodec.encode(SMALL)) as typeof SMALL).priority;
    }
    return sum;
  });
  const ungapSmall = measure((n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      sum += (ungap.parse(ungap.stringify(SMALL)) as typeof SMALL).priority;
    }
    return sum;
  });
  const codecRich = measure((n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      sum += (defaultCodec.decode(defaultCodec.encode(RICH)) as typeof RICH).priority;
    }
    return sum;
  });
  const ungapRich = measure((n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += (ungap.parse(ungap.stringify(RICH)) as typeof RICH).priority;
    return sum;
  });
  const signer = new MessageSigner("bench-secret");
  const signed = await measureAsync(async () => {
    const data = await signer.verify(await signer.sign(defaultCodec.encode(SMALL)));
    return (defaultCodec.decode(data) as typeof SMALL).priority;
  });

  const times = (base: number, other: number): string => (base / other).toFixed(2) + "×";
  return [
    { name: "JSON stringify+parse, small", opsPerSec: json },
    {
      name: "codec encode+decode, small (1j)",
      opsPerSec: codecSmall,
      note: `${times(json, codecSmall)} the time of JSON`,
    },
    { name: "ungap/json stringify+parse, small", opsPerSec: ungapSmall },
    {
      name: "codec encode+decode, rich (1s)",
      opsPerSec: codecRich,
      note: `${times(ungapRich, codecRich)} the time of ungap/json`,
    },
    { name: "ungap/json stringify+parse, rich", opsPerSec: ungapRich },
    {
      name: "codec + MessageSigner sign+verify, small",
      opsPerSec: signed,
      note: `${times(codecSmall, signed)} the time of unsigned`,
    },
  ];
}

if (import.meta.main) {
  const rows = await benchCodec();
  console.log(`## Codec (${navigator.userAgent})\n`);
  console.log(toMarkdown(rows));
}
