/**
 * The message codec: turns task messages and task results into strings for storage and
 * back, and optionally signs them with HMAC-SHA-256.
 *
 * ## Envelope format, version 1
 *
 * An encoded value is a two-character tag followed by JSON text:
 *
 * - `1j` + `JSON.stringify(value)` when plain JSON gives the value back exactly: `null`,
 *   booleans, strings, finite numbers other than `-0`, and arrays and plain (or
 *   null-prototype) objects of these, nested at most 256 levels deep.
 *   `{ name: "add", args: [1, 2] }` is `1j{"name":"add","args":[1,2]}`.
 * - `1s` + `JSON.stringify(records)` otherwise. `records` is the record list written by
 *   `serialize` from `@ungap/structured-clone`. Record 0 is the root. Each record is
 *   `[type, body]`, and containers refer to other records by index. The types are `-1`
 *   undefined, `0` primitive, `1` array (indexes), `2` object (`[keyIndex, valueIndex]`
 *   pairs), `3` Date (ISO string, `""` when invalid), `4` RegExp (`{source, flags}`), `5` Map
 *   (index pairs), `6` Set (indexes), `7` Error (`{name, message}`), `8` BigInt (decimal
 *   string), `"-0"`, the boxed primitives `"Boolean"`, `"Number"`, `"String"` and `"BigInt"`,
 *   `"ArrayBuffer"` and `"DataView"` (byte arrays), and typed array names (element arrays).
 *   Dewey adds what JSON cannot hold: the records `["NaN"]`, `["Infinity"]` and
 *   `["-Infinity"]`, and, inside float and BigInt typed arrays and boxed Numbers, the strings
 *   `"NaN"`, `"Infinity"`, `"-Infinity"`, `"-0"` and decimal bigints. `[1, undefined]` is
 *   `1s[[1,[1,2]],[0,1],[-1]]`. Cycles and shared references are kept.
 *
 * A message signed by {@linkcode MessageSigner} is `~` + base64url(HMAC-SHA-256 of the
 * envelope; 43 characters, no padding) + `.` + envelope.
 *
 * ## What is lost
 *
 * Class instances come back as plain objects (own enumerable keys only). Errors keep their
 * `name` and `message`, not their stack, `cause` or other properties. Symbol-keyed and
 * non-enumerable properties are dropped, as JSON drops them. Shared references inside a
 * JSON-safe value come back as copies, as with JSON. Functions and symbols cannot be
 * encoded: `encode` throws a `TypeError`.
 *
 * ## Decoding is a security boundary
 *
 * Stored messages may come from buggy or hostile producers, so `decode` throws a
 * {@linkcode DecodeError} for anything malformed and never throws anything else. It never
 * evaluates code, and the structured path does not use ungap's `deserialize`, which
 * calls any global constructor named in the data (`new globalThis[type](body)`). Dewey's
 * own reader builds only the types listed above and checks every record. An object key
 * `__proto__` is refused with a `DecodeError`, in both formats, so no decoded object can
 * carry a key that swaps a prototype when later copied with `Object.assign` or `for…in`
 * assignment; `encode` refuses such objects with a `TypeError` for the same reason. Keys
 * such as `constructor` and `prototype` are legitimate data and come back as ordinary own
 * properties of objects whose prototype is `Object.prototype`.
 *
 * @module
 */

import { serialize as ungapSerialize } from "@ungap/structured-clone";
import { DecodeError } from "./errors.ts";

/**
 * Turns values into strings for storage and back.
 *
 * @example
 * ```ts
 * import { type Codec, defaultCodec } from "@dewey/dewey";
 * const codec: Codec = defaultCodec;
 * console.log(codec.decode(codec.encode({ args: [1, 2] }))); // { args: [ 1, 2 ] }
 * ```
 */
export interface Codec {
  /** Encodes `value`; throws a `TypeError` for what cannot be encoded (functions, symbols). */
  encode(value: unknown): string;
  /** Decodes what `encode` produced; throws a `DecodeError` on anything malformed. */
  decode(data: string): unknown;
}

/** A record of the structured format: `[type, body]`. */
type UngapRecord = [type: number | string, body?: unknown];

// The package ships no types; this is the one function used.
const serialize = ungapSerialize as (value: unknown) => UngapRecord[];

const JSON_TAG = "1j";
const STRUCTURED_TAG = "1s";
/** Deeper values take the structured path; this also stops the walk on cycles. */
const MAX_JSON_DEPTH = 256;

// ungap's record types.
const VOID = -1;
const PRIMITIVE = 0;
const ARRAY = 1;
const OBJECT = 2;
const DATE = 3;
const REGEXP = 4;
const MAP = 5;
const SET = 6;
const ERROR = 7;
const BIGINT = 8;

type TypedArrayConstructor = new (values: ArrayLike<unknown>) => ArrayBufferView;

/** The typed arrays the structured path rebuilds, by name. */
const TYPED_ARRAYS = new Map<string, TypedArrayConstructor>(
  Object.entries({
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
    // Newer runtimes only.
    Float16Array: (globalThis as { Float16Array?: TypedArrayConstructor }).Float16Array,
  }).filter((entry): entry is [string, TypedArrayConstructor] => entry[1] !== undefined),
);
/** Typed arrays whose elements JSON cannot always hold: NaN, ±Infinity, -0, bigints. */
const FLOAT_ARRAYS = new Set(["Float16Array", "Float32Array", "Float64Array"]);
const BIGINT_ARRAYS = new Set(["BigInt64Array", "BigUint64Array"]);
/** How non-finite numbers and -0 are written where a number is expected. */
const SPECIAL_NUMBERS = new Set(["NaN", "Infinity", "-Infinity", "-0"]);
const INTEGER = /^-?\d+$/;
/** The other string record types the reader knows. */
const STRING_TYPES = new Set([
  "-0",
  "Boolean",
  "Number",
  "String",
  "BigInt",
  "ArrayBuffer",
  "DataView",
]);

/** The built-in errors rebuilt with their own class; other names give an `Error`. */
const ERROR_CLASSES = new Map<string, ErrorConstructor>(
  Object.entries({
    Error,
    EvalError,
    RangeError,
    ReferenceError,
    SyntaxError,
    TypeError,
    URIError,
  }),
);

/**
 * The default codec: plain JSON when that is exact, else the structured-clone JSON format
 * of `@ungap/structured-clone` (Date, Map, Set, BigInt, typed arrays, RegExp, Error,
 * `undefined`, NaN, `-0`, cycles). See the module documentation for the exact format.
 *
 * @example
 * ```ts
 * import { StructuredCodec } from "@dewey/dewey";
 * const codec = new StructuredCodec();
 * console.log(codec.encode({ args: [1, 2] })); // 1j{"args":[1,2]}
 * const value = codec.decode(codec.encode({ when: new Date(0), ids: new Set([1n]) }));
 * console.log(value); // { when: 1970-01-01T00:00:00.000Z, ids: Set(1) { 1n } }
 * ```
 */
export class StructuredCodec implements Codec {
  /**
   * Encodes `value`. Throws a `TypeError` if it holds a function, a symbol or an object
   * with a `__proto__` key, all of which could not be decoded faithfully.
   */
  encode(value: unknown): string {
    return isJsonSafe(value, 0)
      ? JSON_TAG + JSON.stringify(value)
      : STRUCTURED_TAG + JSON.stringify(toRecords(value));
  }

  /** Decodes an envelope; throws a {@linkcode DecodeError} on anything malformed. */
  decode(data: string): unknown {
    if (typeof data !== "string") {
      throw new DecodeError(
        `message must be a string, not ${data === null ? "null" : typeof data}`,
      );
    }
    if (data.startsWith(JSON_TAG)) return decodeJson(data);
    if (data.startsWith(STRUCTURED_TAG)) return decodeStructured(data);
    if (data.startsWith("~")) {
      throw new DecodeError("message is signed: verify it with a MessageSigner before decoding");
    }
    throw new DecodeError(`unknown envelope ${JSON.stringify(data.slice(0, 2))}`);
  }
}

/**
 * The codec Dewey uses unless told otherwise: a {@linkcode StructuredCodec}.
 *
 * @example
 * ```ts
 * import { defaultCodec } from "@dewey/dewey";
 * const data = defaultCodec.encode([1, undefined, new Map([["a", 1n]])]);
 * console.log(defaultCodec.decode(data)); // [ 1, undefined, Map(1) { "a" => 1n } ]
 * ```
 */
export const defaultCodec: Codec = new StructuredCodec();

/**
 * Signs envelopes with HMAC-SHA-256 (Web Crypto), so a consumer can refuse messages it
 * did not produce. The first key signs; every key verifies, which lets keys be rotated:
 * put the new key first and keep the old one until old messages are drained.
 *
 * @example
 * ```ts
 * import { defaultCodec, MessageSigner } from "@dewey/dewey";
 * const signer = new MessageSigner(["new-secret", "old-secret"]);
 * const signed = await signer.sign(defaultCodec.encode({ args: [1, 2] }));
 * console.log(defaultCodec.decode(await signer.verify(signed))); // { args: [ 1, 2 ] }
 * ```
 */
export class MessageSigner {
  readonly #secrets: readonly string[];
  #keys?: Promise<CryptoKey[]>;

  /**
   * Creates a signer. Throws a `TypeError` for an empty key list or an empty key.
   *
   * @param keys The secret, or the secrets with the signing one first.
   */
  constructor(keys: string | string[]) {
    const secrets = typeof keys === "string" ? [keys] : keys;
    if (!Array.isArray(secrets) || secrets.length === 0) {
      throw new TypeError("Cannot create a MessageSigner without keys");
    }
    for (const secret of secrets) {
      if (typeof secret !== "string" || secret === "") {
        throw new TypeError("Cannot create a MessageSigner: keys must be non-empty strings");
      }
    }
    this.#secrets = [...secrets];
  }

  /** Returns `data` signed with the first key: `~` + base64url(HMAC) + `.` + `data`. */
  async sign(data: string): Promise<string> {
    if (typeof data !== "string" || !data.isWellFormed()) {
      throw new TypeError("Cannot sign data that is not a well-formed string");
    }
    const [key] = await this.#cryptoKeys();
    const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(data));
    return `~${toBase64Url(new Uint8Array(mac))}.${data}`;
  }

  /**
   * Returns the data inside a signed message if any key verifies it. Throws a
   * {@linkcode DecodeError}: "message signature is missing" or "message signature does
   * not match".
   */
  async verify(signed: string): Promise<string> {
    const dot = typeof signed === "string" && signed.startsWith("~") ? signed.indexOf(".") : -1;
    if (dot === -1) throw new DecodeError("message signature is missing");
    const mac = fromBase64Url(signed.slice(1, dot));
    const data = signed.slice(dot + 1);
    // A lone surrogate encodes like U+FFFD, so two strings could share one signature.
    if (mac !== undefined && data.isWellFormed()) {
      const bytes = encoder.encode(data);
      for (const key of await this.#cryptoKeys()) {
        // crypto.subtle.verify compares in constant time.
        if (await crypto.subtle.verify("HMAC", key, mac, bytes)) return data;
      }
    }
    throw new DecodeError("message signature does not match");
  }

  /** Imports the keys once; a failed import is retried on the next call. */
  #cryptoKeys(): Promise<CryptoKey[]> {
    this.#keys ??= Promise.all(this.#secrets.map(importKey)).catch((error) => {
      this.#keys = undefined;
      throw error;
    });
    return this.#keys;
  }
}

const encoder = new TextEncoder();

function importKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Decodes a 32-byte base64url MAC, or returns `undefined` if it is not one. */
function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[\w-]{42}[AEIMQUYcgkosw048]$/.test(text)) return undefined;
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/") + "=");
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

// ---------------------------------------------------------------------------------------
// Encoding

/**
 * Whether plain JSON gives `value` back exactly. One walk that stops at the first thing
 * JSON would change; it must stay cheap, it runs on every message.
 */
function isJsonSafe(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      // JSON writes NaN and ±Infinity as null and -0 as 0.
      return Number.isFinite(value) && (value !== 0 || 1 / value > 0);
    case "object": {
      if (value === null) return true;
      if (depth === MAX_JSON_DEPTH) return false;
      if (Array.isArray(value)) {
        // Holes read as undefined, which JSON would turn into null.
        for (let i = 0; i < value.length; i++) {
          if (!isJsonSafe(value[i], depth + 1)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) {
        if (key === "__proto__") throw protoKeyError();
        if (!isJsonSafe((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      // undefined (JSON drops or nulls it), bigint (JSON throws), function, symbol.
      return false;
  }
}

function protoKeyError(): TypeError {
  return new TypeError('Cannot encode an object with a "__proto__" key');
}

/** ungap's records, with what JSON cannot hold rewritten (see the module doc). */
function toRecords(value: unknown): UngapRecord[] {
  let records: UngapRecord[];
  try {
    records = serialize(value);
  } catch (error) {
    // ungap's strict mode says "unable to serialize function" (or symbol).
    const kind = error instanceof TypeError && /(function|symbol)$/.exec(error.message)?.[1];
    if (kind) throw new TypeError(`Cannot encode a ${kind}`, { cause: error });
    throw error;
  }
  let protoKey = -1;
  for (let i = 0; i < records.length; i++) {
    const [type, body] = records[i];
    if (type === PRIMITIVE) {
      if (typeof body === "number" && !Number.isFinite(body)) records[i] = [String(body)];
      else if (body === "__proto__") protoKey = i;
    } else if (type === ERROR) {
      // ungap copies `name` and `message` as they are; the reader wants strings.
      const { name, message } = body as { name: unknown; message: unknown };
      records[i][1] = { name: String(name), message: String(message ?? "") };
    } else if (typeof type === "string") {
      if (type === "Number") records[i][1] = numberToJson(body as number);
      else if (FLOAT_ARRAYS.has(type) || BIGINT_ARRAYS.has(type)) {
        records[i][1] = (body as (number | bigint)[]).map(numberToJson);
      } else if (!STRING_TYPES.has(type) && !TYPED_ARRAYS.has(type)) {
        // ungap takes any tag containing "Array" for a list (an "Array Iterator"…).
        throw new TypeError(`Cannot encode a value of type ${JSON.stringify(type)}`);
      }
    }
  }
  // ungap stores each string once, so "__proto__" has one record; refuse it as a key.
  if (protoKey !== -1) {
    for (const [type, body] of records) {
      if (type === OBJECT && (body as number[][]).some(([key]) => key === protoKey)) {
        throw protoKeyError();
      }
    }
  }
  return records;
}

function numberToJson(value: number | bigint): number | string {
  if (typeof value === "bigint") return String(value);
  if (Number.isFinite(value) && (value !== 0 || 1 / value > 0)) return value;
  return value === 0 ? "-0" : String(value);
}

// ---------------------------------------------------------------------------------------
// Decoding

function decodeJson(data: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(data.slice(JSON_TAG.length));
  } catch (error) {
    throw new DecodeError("malformed JSON message", { cause: error });
  }
  // A "__proto__" key must be spelled out, or written with a \u escape; skip the walk
  // when neither appears.
  if (data.includes("__proto__") || data.includes("\\u")) {
    try {
      refuseProtoKeys(value);
    } catch (error) {
      if (error instanceof DecodeError) throw error;
      throw new DecodeError(failureReason(error, "malformed JSON message"), { cause: error });
    }
  }
  return value;
}

/** Throws if any object in a parsed JSON value has a `__proto__` key. */
function refuseProtoKeys(value: unknown): void {
  if (typeof value !== "object" || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) refuseProtoKeys(item);
    return;
  }
  for (const key in value) {
    if (key === "__proto__") throw new DecodeError('message contains a "__proto__" key');
    refuseProtoKeys((value as Record<string, unknown>)[key]);
  }
}

function decodeStructured(data: string): unknown {
  let records: unknown;
  try {
    records = JSON.parse(data.slice(STRUCTURED_TAG.length));
  } catch (error) {
    throw new DecodeError("malformed structured message", { cause: error });
  }
  try {
    return fromRecords(records);
  } catch (error) {
    if (error instanceof DecodeError) throw error;
    // Too deep, an invalid RegExp (SyntaxError) and the like.
    throw new DecodeError(failureReason(error, "malformed structured message"), {
      cause: error,
    });
  }
}

/** The dead-letter reason for an unexpected error: a stack overflow means too deep. */
function failureReason(error: unknown, otherwise: string): string {
  return error instanceof RangeError && /call stack/i.test(error.message)
    ? "message is nested too deeply"
    : otherwise;
}

function malformed(detail: string): DecodeError {
  return new DecodeError(`malformed structured message: ${detail}`);
}

/**
 * Rebuilds a value from ungap records, checking each one. Unlike ungap's `deserialize`,
 * it only ever builds the types listed in the module doc.
 */
function fromRecords(records: unknown): unknown {
  if (!Array.isArray(records) || records.length === 0) throw malformed("no records");
  const count = records.length;
  const values: unknown[] = new Array(count);
  const done = new Uint8Array(count);

  // Containers are kept before their children are read, so cycles resolve.
  const keep = <T>(index: number, value: T): T => {
    values[index] = value;
    done[index] = 1;
    return value;
  };

  const revive = (index: unknown): unknown => {
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= count) {
      throw malformed("bad record index");
    }
    if (done[index]) return values[index];
    const record: unknown = records[index];
    if (!Array.isArray(record)) throw malformed(`record ${index} is not an array`);
    const [type, body] = record as unknown[];
    switch (type) {
      case VOID:
        return keep(index, undefined);
      case PRIMITIVE:
        if (
          body === null || typeof body === "string" || typeof body === "number" ||
          typeof body === "boolean"
        ) return keep(index, body);
        break;
      case ARRAY:
        if (Array.isArray(body)) {
          const array = keep(index, [] as unknown[]);
          for (const item of body) array.push(revive(item));
          return array;
        }
        break;
      case OBJECT:
        if (Array.isArray(body)) {
          const object = keep(index, {} as Record<string, unknown>);
          for (const entry of body) {
            const [key, value] = pairOf(entry);
            if (typeof key !== "string") throw malformed("object key is not a string");
            if (key === "__proto__") throw new DecodeError('message contains a "__proto__" key');
            if (key in Object.prototype) {
              // Defined, not assigned: assigning "constructor" fails if Object.prototype
              // is frozen (the override mistake).
              Object.defineProperty(object, key, {
                value,
                writable: true,
                enumerable: true,
                configurable: true,
              });
            } else object[key] = value;
          }
          return object;
        }
        break;
      case DATE:
        if (typeof body === "string") return keep(index, new Date(body));
        break;
      case REGEXP:
        if (isRecord(body) && typeof body.source === "string" && typeof body.flags === "string") {
          return keep(index, new RegExp(body.source, body.flags));
        }
        break;
      case MAP:
        if (Array.isArray(body)) {
          const map = keep(index, new Map());
          for (const entry of body) map.set(...pairOf(entry));
          return map;
        }
        break;
      case SET:
        if (Array.isArray(body)) {
          const set = keep(index, new Set());
          for (const item of body) set.add(revive(item));
          return set;
        }
        break;
      case ERROR:
        if (
          isRecord(body) && typeof body.name === "string" &&
          (body.message === undefined || typeof body.message === "string")
        ) return keep(index, makeError(body.name, body.message ?? ""));
        break;
      case BIGINT:
        if (typeof body === "string" && INTEGER.test(body)) return keep(index, BigInt(body));
        break;
      case "-0":
      case "NaN":
      case "Infinity":
      case "-Infinity":
        return keep(index, Number(type));
      case "Boolean":
        if (typeof body === "boolean") return keep(index, Object(body));
        break;
      case "Number":
        if (isNumberLike(body)) return keep(index, Object(Number(body)));
        break;
      case "String":
        if (typeof body === "string") return keep(index, Object(body));
        break;
      case "BigInt":
        if (typeof body === "string" && INTEGER.test(body)) {
          return keep(index, Object(BigInt(body)));
        }
        break;
      case "ArrayBuffer":
        if (isByteArray(body)) return keep(index, new Uint8Array(body).buffer);
        break;
      case "DataView":
        if (isByteArray(body)) return keep(index, new DataView(new Uint8Array(body).buffer));
        break;
      default: {
        const TypedArray = typeof type === "string" ? TYPED_ARRAYS.get(type) : undefined;
        if (!TypedArray) {
          throw malformed(`unknown record type ${JSON.stringify(String(type).slice(0, 40))}`);
        }
        if (Array.isArray(body) && body.every(elementCheck(type as string))) {
          return keep(index, new TypedArray(body));
        }
      }
    }
    throw malformed(`record ${index} is not a valid ${JSON.stringify(String(type).slice(0, 40))}`);
  };

  /** A `[keyIndex, valueIndex]` entry of an object or a Map, revived. */
  const pairOf = (entry: unknown): [unknown, unknown] => {
    if (!Array.isArray(entry) || entry.length !== 2) throw malformed("bad entry");
    return [revive(entry[0]), revive(entry[1])];
  };

  return revive(0);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNumberLike(value: unknown): value is number | string {
  return typeof value === "number" || (typeof value === "string" && SPECIAL_NUMBERS.has(value));
}

function isByteArray(value: unknown): value is number[] {
  return Array.isArray(value) &&
    value.every((byte) => typeof byte === "number" && byte >= 0 && byte <= 255 && byte % 1 === 0);
}

/** The element check for a typed array: bigint strings, or numbers (floats: or specials). */
function elementCheck(type: string): (value: unknown) => boolean {
  if (BIGINT_ARRAYS.has(type)) return (value) => typeof value === "string" && INTEGER.test(value);
  if (FLOAT_ARRAYS.has(type)) return isNumberLike;
  return (value) => typeof value === "number";
}

/** A built-in error class for a built-in name, else an `Error` that keeps the name. */
function makeError(name: string, message: string): Error {
  const ErrorClass = ERROR_CLASSES.get(name);
  if (ErrorClass) return new ErrorClass(message);
  if (name === "AggregateError") return new AggregateError([], message);
  const error = new Error(message);
  error.name = name;
  return error;
}
