/**
 * Codec fuzz: real messages (`1j` and `1s`, signed and unsigned, single tasks, pipelines,
 * chords) mutated thousands of ways — characters flipped, inserted and deleted, cuts,
 * spliced slices, `__proto__`/`constructor`/`toString` keys, hostile argument values,
 * structured records rewritten, deep nesting, huge numbers — and random values encoded
 * then mutated. Every case must decode to a value or throw `DecodeError`, nothing else,
 * both in the codec (`decode`, `MessageSigner.verify`) and in the consumer's boundary
 * (`dewey.deserialize`, which a consumer calls on every message it leases); no decoded
 * object may carry an own `__proto__` key; `Object.prototype` must be untouched after all.
 *
 * Seeded: the seed is printed; `DEWEY_FAULTS_SEED=N` replays it. `DEWEY_FUZZ_CASES`
 * changes the number of random cases (default 4,000).
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import process from "node:process";
import { chord, defaultCodec, Dewey, group, MessageSigner } from "../../mod.ts";
import { DecodeError } from "../../src/errors.ts";
import { type Random, reportFigures, RUNTIME, testRandom } from "./support.ts";

const CASES = Number(process.env.DEWEY_FUZZ_CASES ?? 4000);
const KEYS = ["fuzz-signing-key-new", "fuzz-signing-key-old"];

/** What the built-in prototypes look like before any case runs. */
function prototypeSnapshot() {
  const snapshot = (target: object) =>
    Object.getOwnPropertyNames(target).sort().map((name) => {
      const d = Object.getOwnPropertyDescriptor(target, name)!;
      return [name, d.value ?? d.get, d.set, d.enumerable, d.writable, d.configurable];
    });
  return {
    object: snapshot(Object.prototype),
    array: snapshot(Array.prototype),
    function: snapshot(Function.prototype),
    objectProto: Object.getPrototypeOf(Object.prototype),
  };
}
const pristine = prototypeSnapshot();

function assertPrototypesUntouched(): void {
  assert.deepEqual(prototypeSnapshot(), pristine);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
}

/** Two instances with the same tasks: one unsigned, one signing (keys rotated). */
function instances() {
  const make = (signingKeys?: string[]) => {
    const dewey = new Dewey({ name: "fuzz", signingKeys });
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const describe = dewey.task("describe", (label: string, value: unknown) => ({ label, value }));
    const total = dewey.task("total", (values: number[]) => values.length);
    return { dewey, add, describe, total };
  };
  return { plain: make(), signed: make(KEYS) };
}

/** Rich arguments: everything the structured path carries, cycles included. */
function richValue(): unknown {
  const cycle: Record<string, unknown> = { name: "cycle" };
  cycle.self = cycle;
  return {
    when: new Date("2026-11-22T10:00:00.123Z"),
    invalid: new Date(NaN),
    totals: new Map<unknown, unknown>([["a", 1n], [2n, -12345678901234567890n]]),
    tags: new Set(["x", 3, null]),
    bytes: new Uint8Array([0, 1, 255]),
    floats: new Float64Array([NaN, -0, Infinity]),
    bigs: new BigInt64Array([-(2n ** 63n)]),
    buffer: new ArrayBuffer(3),
    view: new DataView(new ArrayBuffer(2)),
    specials: [undefined, NaN, -0, Infinity, -Infinity],
    pattern: /^a+b?$/gim,
    error: new RangeError("too big"),
    boxed: [Object(1), Object("s"), Object(true), Object(1n)],
    constructor: { prototype: { polluted: "no: plain data" } },
    cycle,
  };
}

/** The real messages the instances write, from their storages. */
async function realMessages(
  app: ReturnType<typeof instances>["plain"],
): Promise<string[]> {
  const { dewey, add, describe, total } = app;
  await add(1, 2);
  await add.schedule([3, 4], { priority: 5, expires: new Date("2030-01-01"), timeout: 2 });
  await dewey.enqueue(add.s(1, 2).then(add, 3).then(add, 4).error(describe, "failed"));
  await dewey.enqueue(chord([add.s(1, 1), add.s(2, 2).then(add, 1)], total));
  await dewey.enqueue(group([describe.s("g", [1, "two", null])]));
  await describe("rich", richValue());
  await describe("json", { nested: { list: [1, "two", null, { three: 3.5 }] }, empty: {} });
  await describe("unicode", 'héllo ✓ 🎉 \u0000 \\ "');
  const messages = await dewey.storage.enqueuedItems();
  assert.ok(messages.some((m) => m.includes("1j")) && messages.some((m) => m.includes("1s")));
  return messages;
}

/** A random value for the "encode, then mutate" cases. */
function randomValue(random: Random, depth = 0): unknown {
  const leaves = [
    () => random.int(-1e6, 1e6),
    () => random.next() * 1e308,
    () => random.pick([NaN, -0, Infinity, -Infinity, 0, Number.MAX_SAFE_INTEGER + 2]),
    () =>
      String.fromCharCode(...Array.from({ length: random.int(0, 8) }, () => random.int(0, 0xffff))),
    () => random.pick(["__proto__", "constructor", "prototype", "toString", "$deweyTaskError"]),
    () => BigInt(random.int(-1e9, 1e9)) ** BigInt(random.int(1, 6)),
    () => new Date(random.int(-1e13, 1e13)),
    () => random.pick([null, true, false, undefined]),
  ];
  if (depth > 4 || random.next() < 0.4) return random.pick(leaves)();
  const n = random.int(0, 4);
  switch (random.int(0, 3)) {
    case 0:
      return Array.from({ length: n }, () => randomValue(random, depth + 1));
    case 1: {
      const object: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const key = random.pick(["a", "b", "constructor", "prototype", "toString", "valueOf", "x"]);
        object[key] = randomValue(random, depth + 1);
      }
      return object;
    }
    case 2:
      return new Map(Array.from({ length: n }, () => [randomValue(random, depth + 1), 1]));
    default:
      return new Set(Array.from({ length: n }, () => randomValue(random, depth + 1)));
  }
}

/** Dictionary of fragments worth splicing into JSON text. */
const TOKENS = [
  '"__proto__"',
  '"\\u005f\\u005fproto__"',
  '"__proto__":{"polluted":true},',
  '"constructor":{"prototype":{"polluted":true}},',
  '"toString":1,',
  '"valueOf":{},',
  '"$deweyTaskError":[{"toString":1},"m"]',
  '{"$deweyTaskError":[{"toString":1},"m"]}',
  '{"$deweyTaskError":["E",{"valueOf":1}]}',
  '"name":"__proto__",',
  '"args":{"length":1e9},',
  '"chord":{"id":"c","size":1e308,"index":-1,"callback":{}},',
  '"onComplete":{},',
  '"Function"',
  '"Symbol"',
  '"ArrayBuffer"',
  '"BigInt64Array"',
  '"NaN"',
  '"-0"',
  "[7,{}]",
  '[7,{"name":{"toString":1},"message":"x"}]',
  '[8,"1e5"]',
  "1e999",
  "-1e999",
  "123456789012345678901234567890",
  "1e-400",
  "-0",
  "9007199254740993",
  "null",
  "true",
  "[",
  "]",
  "{",
  "}",
  ",",
  ":",
  '"',
  "\\",
  "\\u",
  "\\ud800",
  "\u0000",
  "\ud800",
  "1s",
  "1j",
  "~",
  ".",
];

const HUGE_NUMBERS = [
  "1e308",
  "1e999",
  "-1e999",
  "123456789012345678901234567890123456789",
  "0.0000000000000000000000000000001e-400",
  "-0",
  "9007199254740993",
  "1".repeat(400),
];

const RECORD_TYPES: unknown[] = [
  -1,
  0,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
  9,
  -2,
  1.5,
  "-0",
  "NaN",
  "Infinity",
  "Boolean",
  "Number",
  "String",
  "BigInt",
  "ArrayBuffer",
  "DataView",
  "Uint8Array",
  "Float64Array",
  "BigInt64Array",
  "Function",
  "Symbol",
  "Promise",
  "__proto__",
  "constructor",
  "Object",
  null,
  {},
  [],
];

/** One mutation: a name (for the report) and what it does. */
type Mutator = [name: string, mutate: (data: string, random: Random) => string];

const MUTATORS: Mutator[] = [
  ["flip", (d, r) => {
    const at = r.int(0, Math.max(0, d.length - 1));
    return d.slice(0, at) + String.fromCharCode(r.int(0, 0xffff)) + d.slice(at + 1);
  }],
  ["flip-ascii", (d, r) => {
    const at = r.int(0, Math.max(0, d.length - 1));
    return d.slice(0, at) + r.pick([...'[]{}",:-0123456789.eE\\ujsatn_~']) + d.slice(at + 1);
  }],
  ["insert", (d, r) => {
    const at = r.int(0, d.length);
    const junk = String.fromCharCode(
      ...Array.from({ length: r.int(1, 6) }, () => r.int(0, 0xffff)),
    );
    return d.slice(0, at) + junk + d.slice(at);
  }],
  ["delete", (d, r) => {
    const at = r.int(0, d.length);
    return d.slice(0, at) + d.slice(at + r.int(1, 12));
  }],
  ["truncate", (d, r) => d.slice(0, r.int(0, d.length))],
  ["duplicate", (d, r) => {
    const at = r.int(0, d.length);
    return d.slice(0, at) + d.slice(r.int(0, d.length));
  }],
  ["token", (d, r) => {
    const at = r.int(0, d.length);
    return d.slice(0, at) + r.pick(TOKENS) + d.slice(at);
  }],
  ["splice-key", (d, r) => {
    // After a random "{": a key that pollutes, shadows or breaks naive code.
    const braces = [...d.matchAll(/\{/g)].map((m) => m.index!);
    if (!braces.length) return d;
    const at = r.pick(braces) + 1;
    const key = r.pick([
      '"__proto__":{"polluted":true},',
      '"\\u005f\\u005fproto\\u005f\\u005f":{"polluted":true},',
      '"constructor":{"prototype":{"polluted":true}},',
      '"prototype":{"polluted":true},',
      '"toString":1,',
      '"valueOf":null,',
      '"hasOwnProperty":1,',
      '"$deweyTaskError":[{"toString":1},"m"],',
    ]);
    return d.slice(0, at) + key + d.slice(at);
  }],
  ["huge-number", (d, r) => {
    const numbers = [...d.matchAll(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g)];
    if (!numbers.length) return d;
    const m = r.pick(numbers);
    return d.slice(0, m.index!) + r.pick(HUGE_NUMBERS) + d.slice(m.index! + m[0].length);
  }],
  ["deep", (d, r) => {
    // Nesting around a random point: a little, or far past any stack.
    const depth = r.next() < 0.15 ? r.int(50_000, 200_000) : r.int(1, 600);
    const at = r.int(2, Math.max(2, d.length));
    const [open, close] = r.pick([["[", "]"], ['{"a":', "}"], ['{"__proto__":', "}"]]);
    return d.slice(0, at) + open.repeat(depth) + "1" + close.repeat(depth) + d.slice(at);
  }],
  ["json-field", (d, r) => {
    // A decodable 1j task message with one field swapped for a hostile value. Not on
    // huge (deeply nested) data: re-parsing it overflows the stack, slowly on Bun.
    if (!d.startsWith("1j") || d.length > 20_000) return d;
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(d.slice(2));
    } catch {
      return d;
    }
    if (message === null || typeof message !== "object") return d;
    const field = r.pick([
      "id",
      "name",
      "args",
      "retries",
      "priority",
      "eta",
      "expiresAt",
      "timeout",
      "onComplete",
      "onError",
      "chord",
      "deadline",
    ]);
    const depth = r.int(1_000, 120_000);
    const hostile = r.pick<() => string>([
      () => '[{"$deweyTaskError":[{"toString":1},"m"]}]',
      () => '[{"$deweyTaskError":["E",{"valueOf":{}},{"toString":null}]}]',
      () => '[{"$deweyTaskError":"not an array"}]',
      () => "[".repeat(depth) + "]".repeat(depth),
      () => "[" + '{"$deweyTaskError":["E","m"]},'.repeat(3) + "[[[]]]]",
      () => '{"length":1e9}',
      () => '{"id":"x","size":-1,"index":1e308,"callback":{"id":"y","name":"add","args":[]}}',
      () => "1e999",
      () => '"__proto__"',
      () => "-0",
      () => "[]",
      () => "{}",
      () => "null",
    ])();
    const json = JSON.stringify(message);
    const text = JSON.stringify({ ...message, [field]: "\u0001HOSTILE\u0001" });
    return json === text ? d : "1j" + text.replace('"\\u0001HOSTILE\\u0001"', hostile);
  }],
  ["record", (d, r) => {
    // A structured message with one record rewritten (not on huge data, as above).
    if (!d.startsWith("1s") || d.length > 20_000) return d;
    let records: unknown[];
    try {
      records = JSON.parse(d.slice(2));
    } catch {
      return d;
    }
    if (!Array.isArray(records) || !records.length) return d;
    const index = r.int(0, records.length - 1);
    const record = records[index];
    switch (r.int(0, 5)) {
      case 0:
        records[index] = [r.pick(RECORD_TYPES), Array.isArray(record) ? record[1] : null];
        break;
      case 1: // a body pointing anywhere: out of range, negative, fractional, itself
        records[index] = [
          Array.isArray(record) ? record[0] : 1,
          [r.pick([-1, records.length, records.length + 1e9, 0.5, index, "0", null])],
        ];
        break;
      case 2: // a body of the wrong shape
        records[index] = [
          Array.isArray(record) ? record[0] : 2,
          r.pick([null, 1, "s", {}, [[1]], [[1, 2, 3]], { source: 1, flags: "g" }, [256, -1]]),
        ];
        break;
      case 3: // a key record renamed to a dangerous key
        records[index] = [0, r.pick(["__proto__", "constructor", "prototype", "toString"])];
        break;
      case 4: // not a record at all
        records[index] = r.pick([null, 0, "x", {}, [], [[]]]);
        break;
      default: // huge bigint, typed array of the wrong elements
        records[index] = r.pick([
          [8, "9".repeat(r.int(1, 20_000))],
          ["BigInt64Array", ["99999999999999999999999"]],
          ["Uint8Array", [1e308, -1, "x"]],
          ["Float64Array", ["NaN", "nope"]],
          ["ArrayBuffer", [256]],
          [3, "not a date"],
          [4, { source: "(", flags: "g" }],
          [4, { source: "a", flags: "zz" }],
          [7, { name: "AggregateError", message: 1 }],
        ]);
    }
    return "1s" + JSON.stringify(records);
  }],
];

/** One fuzz case. */
interface Case {
  /** Index in the run. */
  index: number;
  /** What was applied, e.g. `signed real #3 > flip > token (re-signed)`. */
  how: string;
  /** The data handed to the decoders. */
  data: string;
}

/** Fixed cases found earlier, kept so they never come back (regressions run every time). */
function regressions(): Case[] {
  const base = { id: "r", name: "add", retries: 0, retryDelay: 0, retryBackoff: 0, priority: 0 };
  const json = (message: object) => "1j" + JSON.stringify(message);
  const deepArgs = (depth: number) =>
    json({ ...base, args: [] }).replace(
      '"args":[]',
      `"args":${"[".repeat(depth)}${"]".repeat(depth)}`,
    );
  const cases = [
    [
      "error tag whose name has a toString key",
      json({ ...base, args: [{ $deweyTaskError: [{ toString: 1 }, "m"] }] }),
    ],
    [
      "error tag whose message has a valueOf key",
      json({ ...base, args: [{ $deweyTaskError: ["E", { valueOf: {} }] }] }),
    ],
    ["arguments nested 5,000 deep", deepArgs(5_000)],
    ["arguments nested 100,000 deep", deepArgs(100_000)],
  ];
  return cases.map(([how, data], index) => ({
    index: -1 - index,
    how: `regression: ${how}`,
    data,
  }));
}

/** Builds every case: the regressions, then `CASES` random ones from `random`. */
async function buildCases(
  random: Random,
  corpus: string[],
  signer: MessageSigner,
): Promise<Case[]> {
  const cases = regressions();
  for (const c of regressions()) {
    cases.push({ index: c.index, how: `${c.how} (signed)`, data: await signer.sign(c.data) });
  }
  for (const data of corpus) {
    cases.push({ index: cases.length, how: "real message, unmodified", data });
  }
  for (let index = 0; index < CASES; index++) {
    let source: string;
    let how: string;
    if (random.next() < 0.15) {
      source = defaultCodec.encode(randomValue(random));
      how = "random value";
    } else {
      const i = random.int(0, corpus.length - 1);
      source = corpus[i];
      how = `${source.startsWith("~") ? "signed" : "unsigned"} real #${i}`;
    }
    // A signed message: mutate the envelope inside and sign again (so the mutation gets
    // past the signature), or mutate the signed text itself.
    const resign = source.startsWith("~") && random.next() < 0.6;
    let data = resign ? source.slice(source.indexOf(".") + 1) : source;
    for (let m = random.int(1, 3); m > 0; m--) {
      const [name, mutate] = random.pick(MUTATORS);
      try {
        data = mutate(data, random);
        how += ` > ${name}`;
      } catch {
        // A mutator re-parsing a value nested past the stack: keep the data as it is.
        how += ` > ${name} (skipped)`;
      }
    }
    if (resign && data.isWellFormed()) {
      data = await signer.sign(data);
      how += " (re-signed)";
    }
    cases.push({ index, how, data });
  }
  return cases;
}

/** Walks a decoded value: no object may own a `__proto__` key or have a foreign prototype. */
function assertCleanValue(value: unknown, seen = new Set<unknown>(), depth = 0): void {
  if (value === null || typeof value !== "object" || seen.has(value) || depth > 2_000) return;
  seen.add(value);
  assert.equal(Object.hasOwn(value, "__proto__"), false, "an own __proto__ key");
  const proto = Object.getPrototypeOf(value);
  if (Array.isArray(value)) {
    assert.equal(proto, Array.prototype);
    for (const item of value) assertCleanValue(item, seen, depth + 1);
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      assertCleanValue(k, seen, depth + 1);
      assertCleanValue(v, seen, depth + 1);
    }
  } else if (value instanceof Set) {
    for (const item of value) assertCleanValue(item, seen, depth + 1);
  } else if (proto === Object.prototype || proto === null) {
    for (const key of Object.keys(value)) {
      assertCleanValue((value as Record<string, unknown>)[key], seen, depth + 1);
    }
  } else {
    // Built-ins the codec rebuilds: Date, RegExp, errors, typed arrays, boxed primitives.
    const allowed = [
      Date,
      RegExp,
      Error,
      ArrayBuffer,
      DataView,
      Number,
      String,
      Boolean,
      BigInt,
      Object.getPrototypeOf(Uint8Array),
    ];
    assert.ok(
      allowed.some((type) => proto === type.prototype || value instanceof type),
      `unexpected prototype ${proto?.constructor?.name}`,
    );
  }
}

/** A failure: the case and what was thrown. */
function describeFailure(c: Case, check: string, error: unknown, seed: number): string {
  const shown = c.data.length > 200 ? `${c.data.slice(0, 200)}… (${c.data.length} chars)` : c.data;
  return `seed ${seed}, case ${c.index} [${c.how}], ${check}: ${
    error instanceof Error ? `${error.name}: ${error.message.slice(0, 120)}` : String(error)
  }\n  data: ${JSON.stringify(shown)}`;
}

describe("codec fuzz", () => {
  const random = testRandom("codec fuzz");
  const apps = instances();
  const signer = new MessageSigner(KEYS);
  let cases: Case[] = [];

  before(async () => {
    const corpus = [...await realMessages(apps.plain), ...await realMessages(apps.signed)];
    assert.ok(corpus.some((m) => m.startsWith("~")) && corpus.some((m) => m.startsWith("1s")));
    cases = await buildCases(random, corpus, signer);
  });

  it(`codec.decode and MessageSigner.verify: a value or DecodeError (${CASES} cases)`, async () => {
    const failures: string[] = [];
    let decoded = 0;
    let rejected = 0;
    const started = performance.now();
    for (const c of cases) {
      try {
        assertCleanValue(defaultCodec.decode(c.data));
        decoded++;
      } catch (error) {
        if (error instanceof DecodeError) rejected++;
        else failures.push(describeFailure(c, "decode", error, random.seed));
      }
      if (c.data.startsWith("~")) {
        try {
          assertCleanValue(defaultCodec.decode(await signer.verify(c.data)));
        } catch (error) {
          if (!(error instanceof DecodeError)) {
            failures.push(describeFailure(c, "verify + decode", error, random.seed));
          }
        }
      }
    }
    reportFigures({
      scenario: "codec fuzz: decode, verify",
      runtime: RUNTIME,
      cases: cases.length,
      decoded,
      rejected,
      failures: failures.length,
      wallMs: Math.round(performance.now() - started),
      seed: random.seed,
    });
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failures`);
    // The mutations must exercise both outcomes, or the test proves nothing.
    assert.ok(decoded > cases.length / 20 && rejected > cases.length / 4, `${decoded}/${rejected}`);
    assertPrototypesUntouched();
  });

  it("dewey.deserialize (the consumer's boundary): [task] or DecodeError", async () => {
    const failures: string[] = [];
    let accepted = 0;
    let rejected = 0;
    const started = performance.now();
    for (const c of cases) {
      for (const [label, app] of [["unsigned", apps.plain], ["signed", apps.signed]] as const) {
        try {
          const [task] = await app.dewey.deserialize(c.data);
          assert.equal(typeof task.id, "string");
          assertCleanValue(task.args);
          accepted++;
        } catch (error) {
          if (error instanceof DecodeError) rejected++;
          else failures.push(describeFailure(c, `${label} deserialize`, error, random.seed));
        }
      }
    }
    reportFigures({
      scenario: "codec fuzz: dewey.deserialize (unsigned and signed instance)",
      runtime: RUNTIME,
      cases: cases.length * 2,
      decoded: accepted,
      rejected,
      failures: failures.length,
      wallMs: Math.round(performance.now() - started),
      seed: random.seed,
    });
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failures`);
    assert.ok(accepted > 50 && rejected > cases.length, `${accepted}/${rejected}`);
    assertPrototypesUntouched();
  });

  it("Object.prototype and friends are untouched after every case", () => {
    assertPrototypesUntouched();
    assert.ok(cases.length >= CASES);
  });
});
