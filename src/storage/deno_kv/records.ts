/**
 * How {@linkcode DenoKvStorage} stores values: raw bytes, `<meta JSON>\n<payload UTF-8>`.
 * Bytes, never JS values: KV stores a `Uint8Array` as is, whereas any other value goes
 * through V8 serialization, which `@deno/kv` on Bun cannot produce in Deno's format. So a
 * database written through Bun stays readable by Deno and Node, and back.
 *
 * @module
 */

/** Deno KV's limit on one value, in bytes. */
export const MAX_KV_VALUE = 65_536;

/**
 * The largest message (UTF-8 bytes) a queue or schedule entry takes: a KV value less room
 * for the bookkeeping a lease stores with the message (its queue position and deadline).
 * A message's watch keys are stored only when message and keys together fit this.
 */
export const MAX_MESSAGE_BYTES = MAX_KV_VALUE - 512;

/** The largest key/value-store value (UTF-8 bytes): a KV value less room for its expiry. */
export const MAX_DATA_BYTES = MAX_KV_VALUE - 256;

const NEWLINE = 10;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A decoded value: its metadata and its payload string. */
export interface Decoded<M> {
  meta: M;
  data: string;
}

/** Metadata every record may carry: `j` marks a payload stored as a JSON string. */
interface Framing {
  j?: 1;
}

/**
 * Encodes `meta` and `data`. A string with a lone surrogate cannot go through UTF-8
 * intact, so such a payload is stored as JSON text (flag `j`) and comes back unchanged.
 */
export function encodeRecord(meta: object, data: string): Uint8Array {
  if (data.isWellFormed()) return encoder.encode(`${JSON.stringify(meta)}\n${data}`);
  return encoder.encode(`${JSON.stringify({ ...meta, j: 1 })}\n${JSON.stringify(data)}`);
}

/** The payload's size in a record made by {@linkcode encodeRecord}. */
export function payloadBytes(record: Uint8Array): number {
  return record.length - record.indexOf(NEWLINE) - 1;
}

/** Decodes a record made by {@linkcode encodeRecord}. */
export function decodeRecord<M extends object>(value: unknown): Decoded<M> {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`Cannot read a Dewey entry: expected bytes, found ${typeof value}`);
  }
  const split = value.indexOf(NEWLINE);
  const meta = JSON.parse(decoder.decode(value.subarray(0, split))) as M & Framing;
  const payload = decoder.decode(value.subarray(split + 1));
  return { meta, data: meta.j === 1 ? JSON.parse(payload) as string : payload };
}

/**
 * Encodes a queue or schedule message, refusing one over {@linkcode MAX_MESSAGE_BYTES}
 * with a `RangeError` that states both sizes (never truncated).
 */
export function encodeMessage(meta: object, data: string, action: string): Uint8Array {
  const record = encodeRecord(meta, data);
  const size = payloadBytes(record);
  if (size > MAX_MESSAGE_BYTES) {
    throw new RangeError(
      `Cannot ${action} a message of ${size} bytes: Deno KV takes at most ${MAX_MESSAGE_BYTES} ` +
        `bytes per message (a 64 KiB value, less 512 bytes for the lease kept with it)`,
    );
  }
  return record;
}

/** Encodes a key/value-store value, refusing one over {@linkcode MAX_DATA_BYTES}. */
export function encodeData(meta: object, key: string, value: string): Uint8Array {
  const record = encodeRecord(meta, value);
  const size = payloadBytes(record);
  if (size > MAX_DATA_BYTES) {
    throw new RangeError(
      `Cannot store a value of ${size} bytes under "${key}": Deno KV takes at most ` +
        `${MAX_DATA_BYTES} bytes per value (a 64 KiB value, less 256 bytes for its expiry)`,
    );
  }
  return record;
}
