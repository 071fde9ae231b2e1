// Codec and signer tests. node:test + node:assert/strict only, so `deno test` and
// `bun test` run the same file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultCodec, MessageSigner, StructuredCodec } from "../src/codec.ts";
import { DecodeError } from "../src/errors.ts";

const codec = new StructuredCodec();

function roundTrip(value: unknown): unknown {
  return codec.decode(codec.encode(value));
}

function assertDecodeError(data: unknown, message?: RegExp): void {
  assert.throws(() => codec.decode(data as string), (error: unknown) => {
    assert.ok(error instanceof DecodeError, `expected DecodeError, got ${String(error)}`);
    if (message) assert.match(error.message, message);
    return true;
  });
}

function assertPrototypesClean(): void {
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(Object.keys(Object.prototype), []);
  assert.deepEqual(Object.keys(Array.prototype), []);
}

// --- JSON fast path -------------------------------------------------------------------

const TASK = {
  id: "0c0a1d4e-6f3b-4a8e-9c3d-2b7f5e1a9d40",
  name: "add",
  args: [1, 2],
  retries: 0,
  priority: 0,
};

test("JSON-safe values use the 1j envelope and round-trip", () => {
  const values: unknown[] = [
    TASK,
    null,
    true,
    false,
    0,
    1.5,
    -7,
    Number.MAX_SAFE_INTEGER,
    "",
    "héllo ✓ 🎉",
    'quote " backslash \\ newline \n',
    [],
    {},
    [[[]]],
    { nested: { deeper: { list: [1, "two", null, { three: 3 }] } } },
    { constructor: "data", prototype: 1, toString: "x" },
  ];
  for (const value of values) {
    const data = codec.encode(value);
    assert.ok(data.startsWith("1j"), data);
    assert.equal(data, "1j" + JSON.stringify(value));
    assert.deepEqual(codec.decode(data), value);
  }
});

test("the exact JSON and structured encodings", () => {
  assert.equal(codec.encode({ name: "add", args: [1, 2] }), '1j{"name":"add","args":[1,2]}');
  assert.equal(codec.encode([1, undefined]), "1s[[1,[1,2]],[0,1],[-1]]");
  assert.equal(codec.encode(NaN), '1s[["NaN"]]');
  assert.equal(codec.encode(new Date(0)), '1s[[3,"1970-01-01T00:00:00.000Z"]]');
  assert.equal(Object.getPrototypeOf(codec.decode('1j{"a":[1,2]}')), Object.prototype);
});

test("defaultCodec is a StructuredCodec", () => {
  assert.ok(defaultCodec instanceof StructuredCodec);
  assert.equal(defaultCodec.encode([1, 2]), "1j[1,2]");
});

test("a null-prototype object takes the JSON path and comes back plain", () => {
  const value = Object.assign(Object.create(null), { a: 1 });
  const data = codec.encode(value);
  assert.equal(data, '1j{"a":1}');
  const decoded = codec.decode(data) as object;
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  assert.deepEqual(decoded, { a: 1 });
});

test("values JSON would change take the 1s envelope", () => {
  class Point {
    constructor(public x: number, public y: number) {}
  }
  const cases: unknown[] = [
    undefined,
    [1, undefined],
    { a: undefined },
    NaN,
    -0,
    Infinity,
    -Infinity,
    [0, -0],
    1n,
    new Date(0),
    new Map(),
    new Set(),
    new Uint8Array(1),
    /x/,
    new Error("e"),
    new Point(1, 2),
    [1, , 3], // a hole
  ];
  for (const value of cases) {
    assert.ok(codec.encode(value).startsWith("1s"), String(value));
  }
});

test("JSON-safe but very deep values take the structured path and round-trip", () => {
  let value: unknown = "leaf";
  for (let i = 0; i < 300; i++) value = { v: value };
  const data = codec.encode(value);
  assert.ok(data.startsWith("1s"));
  assert.deepEqual(codec.decode(data), value);
});

// --- Structured path ------------------------------------------------------------------

test("rich values round-trip exactly with the right classes", () => {
  const value = {
    when: new Date("2026-11-22T10:00:00.123Z"),
    invalid: new Date(NaN),
    totals: new Map<unknown, unknown>([["a", 1n], [2n, -12345678901234567890n], [null, [1]]]),
    tags: new Set(["x", "y", 3]),
    bytes: new Uint8Array([0, 1, 254, 255]),
    args: [1, undefined, null, NaN, -0, Infinity, -Infinity],
    nested: { deep: [{ m: new Map([[1, new Set([new Date(1)])]]) }] },
    missing: undefined,
    pattern: /^a+b?$/gim,
    big: 2n ** 100n,
  };
  const decoded = roundTrip(value) as typeof value;
  assert.deepEqual(decoded, value);
  assert.ok(decoded.when instanceof Date);
  assert.equal(decoded.when.toISOString(), "2026-11-22T10:00:00.123Z");
  assert.ok(Number.isNaN(decoded.invalid.getTime()));
  assert.ok(decoded.totals instanceof Map);
  assert.equal(decoded.totals.get("a"), 1n);
  assert.equal(decoded.totals.get(2n), -12345678901234567890n);
  assert.ok(decoded.tags instanceof Set);
  assert.ok(decoded.bytes instanceof Uint8Array);
  assert.deepEqual([...decoded.bytes], [0, 1, 254, 255]);
  assert.equal(decoded.args.length, 7);
  assert.equal(decoded.args[1], undefined);
  assert.ok(1 in decoded.args);
  assert.ok(Number.isNaN(decoded.args[3]));
  assert.ok(Object.is(decoded.args[4], -0));
  assert.ok("missing" in decoded);
  assert.ok(decoded.pattern instanceof RegExp);
  assert.equal(decoded.pattern.flags, "gim");
  assert.equal(decoded.big, 1267650600228229401496703205376n);
});

test("top-level special values round-trip", () => {
  for (const value of [undefined, NaN, -0, Infinity, -Infinity, 0n, -5n]) {
    assert.ok(Object.is(roundTrip(value), value), String(value));
  }
});

test("errors round-trip with their class, name and message", () => {
  const errors = [
    new Error("plain"),
    new TypeError("boom"),
    new RangeError("too big"),
    new SyntaxError("bad"),
    new ReferenceError("where"),
    new EvalError("eval"),
    new URIError("uri"),
  ];
  for (const error of errors) {
    const decoded = roundTrip(error) as Error;
    assert.equal(Object.getPrototypeOf(decoded), Object.getPrototypeOf(error));
    assert.equal(decoded.name, error.name);
    assert.equal(decoded.message, error.message);
  }
  const aggregate = roundTrip(new AggregateError([new Error("a")], "many")) as Error;
  assert.ok(aggregate instanceof AggregateError);
  assert.equal(aggregate.message, "many");

  // Other names come back as an Error that keeps the name.
  class QuotaError extends Error {
    override name = "QuotaError";
  }
  const custom = roundTrip({ error: new QuotaError("over") }) as { error: Error };
  assert.equal(Object.getPrototypeOf(custom.error), Error.prototype);
  assert.equal(custom.error.name, "QuotaError");
  assert.equal(custom.error.message, "over");
  assert.equal(String(custom.error), "QuotaError: over");
});

test("typed arrays, buffers and boxed primitives round-trip", () => {
  const values = [
    new Int8Array([-128, 127]),
    new Uint8ClampedArray([0, 255]),
    new Int16Array([-32768, 1]),
    new Uint16Array([65535]),
    new Int32Array([-1, 2 ** 31 - 1]),
    new Uint32Array([2 ** 32 - 1]),
    new Float32Array([1.5, NaN, -0, Infinity]),
    new Float64Array([Math.PI, NaN, -0, -Infinity, Number.MIN_VALUE]),
    new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
    new BigUint64Array([2n ** 64n - 1n]),
    new Uint8Array([1, 2, 3]).buffer,
    new DataView(new Uint8Array([9, 8]).buffer),
    Object(true),
    Object(3.5),
    Object(NaN),
    Object("s"),
    Object(7n),
  ];
  for (const value of values) {
    const decoded = roundTrip(value);
    assert.equal(Object.getPrototypeOf(decoded), Object.getPrototypeOf(value));
    assert.deepEqual(decoded, value);
  }
  const floats = roundTrip(new Float64Array([NaN, -0])) as Float64Array;
  assert.ok(Number.isNaN(floats[0]));
  assert.ok(Object.is(floats[1], -0));
});

test("cycles and shared references survive the structured path", () => {
  const shared = { n: 1 };
  const value: Record<string, unknown> = { a: shared, b: shared, when: new Date(0) };
  value.self = value;
  const decoded = roundTrip(value) as Record<string, unknown>;
  assert.equal(decoded.self, decoded);
  assert.equal(decoded.a, decoded.b);
  assert.deepEqual(decoded.a, { n: 1 });
});

test("class instances come back as plain objects with their own keys", () => {
  class Point {
    constructor(public x: number, public y: number) {}
    norm(): number {
      return Math.hypot(this.x, this.y);
    }
  }
  const decoded = roundTrip({ p: new Point(3, 4) }) as { p: object };
  assert.equal(Object.getPrototypeOf(decoded.p), Object.prototype);
  assert.deepEqual(decoded.p, { x: 3, y: 4 });
});

test("strings equal to __proto__ are fine as values and Map keys", () => {
  const value = { name: "__proto__", m: new Map([["__proto__", 1]]), list: ["__proto__"] };
  assert.deepEqual(roundTrip(value), value);
  assert.deepEqual(roundTrip({ name: "__proto__" }), { name: "__proto__" });
  assertPrototypesClean();
});

// --- Encoding failures ----------------------------------------------------------------

test("functions and symbols throw a TypeError at encode", () => {
  const cases: [unknown, RegExp][] = [
    [() => 1, /Cannot encode a function/],
    [{ run() {} }, /Cannot encode a function/],
    [[1, () => 2], /Cannot encode a function/],
    [[new Date(0), () => 2], /Cannot encode a function/],
    [new Map([["f", () => 1]]), /Cannot encode a function/],
    [new Set([Math.max]), /Cannot encode a function/],
    [Symbol("s"), /Cannot encode a symbol/],
    [{ s: Symbol.iterator }, /Cannot encode a symbol/],
    [[1, 2].values(), /Cannot encode a value of type "Array Iterator"/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => codec.encode(value), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, message);
      return true;
    });
  }
});

test("objects with a __proto__ key throw a TypeError at encode", () => {
  const own = JSON.parse('{"__proto__":{"polluted":true}}');
  for (const value of [own, [own], { d: new Date(0), own }, new Map([[1, own]])]) {
    assert.throws(() => codec.encode(value), {
      name: "TypeError",
      message: 'Cannot encode an object with a "__proto__" key',
    });
  }
  assertPrototypesClean();
});

// --- Decoding as a security boundary --------------------------------------------------

test("a __proto__ key in a JSON envelope is rejected", () => {
  const attacks = [
    '1j{"__proto__":{"polluted":true}}',
    '1j{"a":[{"b":{"__proto__":{"polluted":true}}}]}',
    '1j{"\\u005f_proto__":{"polluted":true}}',
    '1j[{"__pro\\u0074o__":{"polluted":true}}]',
  ];
  for (const data of attacks) assertDecodeError(data, /"__proto__" key/);
  assertPrototypesClean();
});

test("a __proto__ key in a structured envelope is rejected", () => {
  const attacks = [
    '1s[[2,[[1,2]]],[0,"__proto__"],[2,[[3,4]]],[0,"polluted"],[0,true]]',
    '1s[[2,[[1,2]]],[0,"\\u005f_proto__"],[2,[[3,4]]],[0,"polluted"],[0,true]]',
    '1s[[1,[1]],[2,[[2,3]]],[0,"__proto__"],[5,[]]]',
  ];
  for (const data of attacks) assertDecodeError(data, /"__proto__" key/);
  assertPrototypesClean();
});

test("constructor and prototype keys stay plain data", () => {
  const json = codec.decode('1j{"constructor":{"prototype":{"polluted":true}}}') as Record<
    string,
    unknown
  >;
  assert.equal(Object.getPrototypeOf(json), Object.prototype);
  assert.deepEqual(json.constructor, { prototype: { polluted: true } });

  const value = { constructor: { prototype: { polluted: true } }, toString: 1, when: new Date(0) };
  const data = codec.encode(value);
  assert.ok(data.startsWith("1s"));
  const decoded = codec.decode(data) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  assert.deepEqual(decoded, value);
  assert.ok(Object.hasOwn(decoded, "constructor"));
  assertPrototypesClean();
});

test("decoding never builds globals named in the data", () => {
  // ungap's own deserialize would call `new globalThis[type](body)` for these.
  for (
    const data of [
      '1s[["Function","return 1"]]',
      '1s[["WebSocket","ws://127.0.0.1:9"]]',
      '1s[["Worker","data:,"]]',
      '1s[["SharedArrayBuffer",1000000000]]',
      '1s[["ArrayBuffer",1000000000]]',
      '1s[["Uint8Array",1000000000]]',
      '1s[["Promise",1]]',
      '1s[["constructor",1]]',
      '1s[["__proto__",1]]',
    ]
  ) assertDecodeError(data, /malformed structured message/);

  // An error record names a class to build; only built-in error classes are used.
  const date = codec.decode('1s[[7,{"name":"Date","message":"2020-01-01"}]]');
  assert.ok(date instanceof Error);
  assert.equal((date as Error).name, "Date");
  const socket = codec.decode('1s[[7,{"name":"WebSocket","message":"ws://127.0.0.1:9"}]]');
  assert.equal(Object.getPrototypeOf(socket), Error.prototype);
  assertPrototypesClean();
});

test("garbage, truncated, unknown versions and non-strings throw DecodeError", () => {
  const bad: [unknown, RegExp][] = [
    [null, /must be a string, not null/],
    [undefined, /must be a string, not undefined/],
    [42, /must be a string, not number/],
    [{}, /must be a string, not object/],
    [new Uint8Array([0x31, 0x6a]), /must be a string/],
    ["", /unknown envelope ""/],
    ["1", /unknown envelope "1"/],
    ["2j{}", /unknown envelope "2j"/],
    ["1x[]", /unknown envelope "1x"/],
    ['{"a":1}', /unknown envelope/],
    ["~abc.1j{}", /message is signed/],
    ["1j", /malformed JSON message/],
    ["1j{", /malformed JSON message/],
    ["1j{'a':1}", /malformed JSON message/],
    ["1j[1,2,]", /malformed JSON message/],
    ["1s", /malformed structured message/],
    ["1s[", /malformed structured message/],
    ["1s[]", /no records/],
    ["1s{}", /no records/],
    ["1s[1]", /not an array/],
    ["1s[[1,[5]]]", /bad record index/],
    ['1s[[1,["0"]]]', /bad record index/],
    ['1s[[1,["length"]]]', /bad record index/],
    ["1s[[1,[1.5]],[0,1]]", /bad record index/],
    ["1s[[1,[-1]]]", /bad record index/],
    ["1s[[2,[[0,0]]]]", /object key is not a string/],
    ["1s[[2,[[1]]],[0,1]]", /bad entry/],
    ["1s[[0,{}]]", /not a valid/],
    ["1s[[0]]", /not a valid/],
    ['1s[[8,"12abc"]]', /not a valid/],
    ["1s[[8,12]]", /not a valid/],
    ['1s[[4,{"source":"(","flags":""}]]', /malformed structured message/],
    ['1s[[4,{"source":"a","flags":"zz"}]]', /malformed structured message/],
    ['1s[[7,{"name":1,"message":"m"}]]', /not a valid/],
    ['1s[["Uint8Array",["1"]]]', /not a valid/],
    ['1s[["BigInt64Array",[1]]]', /not a valid/],
    ['1s[["Float64Array",["nan"]]]', /not a valid/],
    ['1s[["ArrayBuffer",[256]]]', /not a valid/],
    ['1s[["Number","12"]]', /not a valid/],
    ["1s[[99,1]]", /unknown record type "99"/],
  ];
  for (const [data, message] of bad) assertDecodeError(data, message);

  // Every prefix of valid envelopes is either valid itself or a DecodeError.
  for (const value of [{ a: [1, 2, "x"] }, { d: new Date(0), m: new Map([[1, 2n]]) }]) {
    const data = codec.encode(value);
    for (let end = 0; end < data.length; end++) {
      try {
        codec.decode(data.slice(0, end));
      } catch (error) {
        assert.ok(error instanceof DecodeError, `${data.slice(0, end)}: ${String(error)}`);
      }
    }
  }
});

test("DecodeError keeps the parse error as its cause", () => {
  try {
    codec.decode("1j{");
    assert.fail("decoded");
  } catch (error) {
    assert.ok(error instanceof DecodeError);
    assert.ok(error.cause instanceof SyntaxError);
  }
});

test("deeply nested input gives a value or a DecodeError, never a RangeError", () => {
  const depth = 200_000;
  const inputs = [
    "1j" + "[".repeat(depth) + "]".repeat(depth),
    // "__proto__" forces the key walk over the whole depth.
    "1j" + "[".repeat(depth) + '"__proto__"' + "]".repeat(depth),
    "1j" + '{"a":'.repeat(depth) + "1" + "}".repeat(depth),
    // A chain of arrays, each record pointing at the next.
    "1s[" + Array.from({ length: depth }, (_, i) => `[1,[${i + 1}]]`).join(",") + ",[1,[]]]",
  ];
  for (const data of inputs) {
    try {
      codec.decode(data);
    } catch (error) {
      assert.ok(error instanceof DecodeError, String(error));
    }
  }
});

/** mulberry32: a tiny deterministic PRNG, so fuzz failures reproduce. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("fuzz: 2,000 mutated envelopes decode or throw DecodeError", () => {
  const random = prng(20261122);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const seeds = [
    TASK,
    [1, undefined],
    { d: new Date(0), m: new Map<unknown, unknown>([["a", 1n], [2, new Set([3])]]) },
    { bytes: new Uint8Array([1, 2]), f: new Float64Array([NaN, -0]), e: new TypeError("x") },
    { re: /a/g, big: new BigInt64Array([1n]), buf: new ArrayBuffer(2), n: Object(1) },
    { nested: [[{ a: [null, true, "s"] }]] },
  ].map((value) => codec.encode(value));
  const tokens = [
    '"__proto__"',
    '"\\u005f_proto__"',
    '"constructor"',
    '"prototype"',
    '"Function"',
    '"ArrayBuffer"',
    '"Uint8Array"',
    '"BigInt64Array"',
    '"NaN"',
    '"-0"',
    "[7,{}]",
    '[7,{"name":"Date","message":"x"}]',
    "-1",
    "0",
    "1e9",
    "9999999999",
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
    "1s",
    "1j",
  ];
  const chars = '[]{}",:-0123456789.eE\\ujsatn_';
  let decoded = 0;
  let rejected = 0;
  for (let i = 0; i < 2000; i++) {
    let data = pick(seeds);
    const mutations = 1 + Math.floor(random() * 3);
    for (let m = 0; m < mutations; m++) {
      const at = Math.floor(random() * (data.length + 1));
      switch (Math.floor(random() * 5)) {
        case 0: // replace a character
          data = data.slice(0, at) + pick([...chars]) + data.slice(at + 1);
          break;
        case 1: // delete a run
          data = data.slice(0, at) + data.slice(at + 1 + Math.floor(random() * 4));
          break;
        case 2: // insert a token
          data = data.slice(0, at) + pick(tokens) + data.slice(at);
          break;
        case 3: // truncate
          data = data.slice(0, at);
          break;
        default: // duplicate a slice
          data = data.slice(0, at) + data.slice(Math.floor(random() * data.length));
      }
    }
    try {
      codec.decode(data);
      decoded++;
    } catch (error) {
      assert.ok(error instanceof DecodeError, `${JSON.stringify(data)}: ${String(error)}`);
      rejected++;
    }
  }
  assert.equal(decoded + rejected, 2000);
  assert.ok(decoded > 50 && rejected > 50, `decoded ${decoded}, rejected ${rejected}`);
  assertPrototypesClean();
});

// --- MessageSigner --------------------------------------------------------------------

test("MessageSigner signs and verifies a round trip", async () => {
  const signer = new MessageSigner("secret");
  const data = codec.encode(TASK);
  const signed = await signer.sign(data);
  assert.match(signed, /^~[\w-]{43}\.1j\{/);
  assert.equal(signed.slice(45), data);
  assert.equal(await signer.verify(signed), data);
  assert.deepEqual(codec.decode(await signer.verify(signed)), TASK);
  // HMAC is deterministic.
  assert.equal(await signer.sign(data), signed);
  assert.equal(await new MessageSigner(["secret"]).verify(signed), data);
});

test("MessageSigner matches the RFC 4231 HMAC-SHA-256 test vector", async () => {
  const signed = await new MessageSigner("Jefe").sign("what do ya want for nothing?");
  assert.equal(signed, "~W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM.what do ya want for nothing?");
});

test("MessageSigner rejects forged, unsigned and malformed messages", async () => {
  const signer = new MessageSigner("secret");
  const signed = await signer.sign('1j{"args":[1,2]}');
  const mac = signed.slice(1, 44);
  const forged = [
    signed.replace("[1,2]", "[1,3]"), // changed data
    `~${mac}.1j{"args":[1,2]} `, // appended byte
    `~${mac.slice(0, 42)}${mac[42] === "A" ? "E" : "A"}.1j{"args":[1,2]}`, // changed MAC
    `~${mac.slice(0, 42)}B.1j{"args":[1,2]}`, // non-canonical base64
    `~${mac}=.1j{"args":[1,2]}`, // padded
    `~${mac.slice(1)}.1j{"args":[1,2]}`, // short
    '~.1j{"args":[1,2]}', // empty MAC
    `~!${mac.slice(1)}.1j{"args":[1,2]}`, // not base64url
    await new MessageSigner("other").sign('1j{"args":[1,2]}'),
  ];
  for (const message of forged) {
    await assert.rejects(signer.verify(message), {
      name: "DecodeError",
      message: "message signature does not match",
    });
  }
  const unsigned = ['1j{"args":[1,2]}', "", "~no-dot", null, 7];
  for (const message of unsigned) {
    await assert.rejects(signer.verify(message as string), (error: unknown) => {
      assert.ok(error instanceof DecodeError);
      assert.equal(error.message, "message signature is missing");
      return true;
    });
  }
});

test("MessageSigner refuses a lone surrogate standing in for U+FFFD", async () => {
  const signer = new MessageSigner("secret");
  const signed = await signer.sign('1j"\uFFFD"');
  // UTF-8 encodes a lone surrogate as U+FFFD, so the MAC alone would still match.
  await assert.rejects(signer.verify(signed.replace("\uFFFD", "\uD800")), DecodeError);
  await assert.rejects(signer.sign("\uD800"), TypeError);
});

test("MessageSigner key rotation: the first key signs, every key verifies", async () => {
  const old = new MessageSigner("old-key");
  const signedOld = await old.sign("1j[1]");
  const rotated = new MessageSigner(["new-key", "old-key"]);
  assert.equal(await rotated.verify(signedOld), "1j[1]");
  const signedNew = await rotated.sign("1j[1]");
  assert.notEqual(signedNew, signedOld);
  assert.equal(await new MessageSigner("new-key").verify(signedNew), "1j[1]");
  await assert.rejects(new MessageSigner(["new-key"]).verify(signedOld), {
    name: "DecodeError",
    message: "message signature does not match",
  });
  await assert.rejects(old.verify(signedNew), DecodeError);
});

test("MessageSigner rejects missing keys with a TypeError", () => {
  for (const keys of [[], "", [""], ["a", ""], [1], undefined]) {
    assert.throws(() => new MessageSigner(keys as string[]), TypeError);
  }
});

test("decode refuses a signed message that was not verified", async () => {
  const signed = await new MessageSigner("k").sign(codec.encode({ a: 1 }));
  assertDecodeError(signed, /message is signed/);
});
