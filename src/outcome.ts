/**
 * How values stored in the result store are shaped: a task's value, a failure's metadata,
 * or a chord member's error, told apart by a leading tag before the codec sees them.
 *
 * @module
 */

import { type ErrorMetadata, TaskError } from "./errors.ts";

/** A stored outcome as the core reads it. */
export type Outcome =
  | { kind: "value"; value: unknown }
  | { kind: "error"; metadata: ErrorMetadata };

const UNDEFINED = 0;
const VALUE = 1;
const FAILURE = 2;

/** `[0]` undefined, `[1, value]` a value, `[2, metadata]` a failed task. */
export type StoredOutcome = [0] | [1, unknown] | [2, ErrorMetadata];

/** Shapes a value for the result store. */
export function valueOutcome(value: unknown): StoredOutcome {
  return value === undefined ? [UNDEFINED] : [VALUE, packValue(value)];
}

/** Shapes a failure for the result store. */
export function errorOutcome(metadata: ErrorMetadata): StoredOutcome {
  return [FAILURE, metadata];
}

/** Reads what `valueOutcome`/`errorOutcome` shaped; `undefined` for foreign data. */
export function readOutcome(stored: unknown): Outcome | undefined {
  if (!Array.isArray(stored)) return undefined;
  switch (stored[0]) {
    case UNDEFINED:
      return { kind: "value", value: undefined };
    case VALUE:
      return { kind: "value", value: unpackValue(stored[1]) };
    case FAILURE:
      return { kind: "error", metadata: stored[1] as ErrorMetadata };
  }
  return undefined;
}

// TaskErrors travel as tagged plain objects, so name, message and stack survive any codec.
const TAG = "$deweyTaskError";

interface PackedError {
  [TAG]: [string, string, string | undefined];
}

function isPacked(value: unknown): value is PackedError {
  return value !== null && typeof value === "object" && Array.isArray((value as PackedError)[TAG]);
}

/**
 * Replaces `TaskError`s at the top level and inside arrays (chord results) with tagged
 * objects; other values pass through untouched.
 */
export function packValue(value: unknown): unknown {
  if (value instanceof TaskError) return { [TAG]: [value.name, value.message, value.stack] };
  if (Array.isArray(value) && value.some((v) => v instanceof TaskError || Array.isArray(v))) {
    return value.map(packValue);
  }
  return value;
}

/** Array levels {@linkcode unpackValue} walks; deeper nesting is refused. */
const MAX_UNPACK_DEPTH = 32;

/**
 * The inverse of {@linkcode packValue}. The value comes from storage, so it is untrusted:
 * a tag whose fields are not strings, or arrays nested deeper than
 * {@linkcode MAX_UNPACK_DEPTH}, throw a `TypeError` (never a stack overflow).
 */
export function unpackValue(value: unknown, depth = 0): unknown {
  if (isPacked(value)) {
    const [name, message, stack] = value[TAG];
    if (
      typeof name !== "string" || typeof message !== "string" ||
      (stack !== undefined && stack !== null && typeof stack !== "string")
    ) {
      throw new TypeError("malformed TaskError tag");
    }
    return new TaskError(name, message, stack ?? undefined);
  }
  if (Array.isArray(value) && value.some((v) => isPacked(v) || Array.isArray(v))) {
    if (depth >= MAX_UNPACK_DEPTH) throw new TypeError("arrays nested too deeply");
    return value.map((item) => unpackValue(item, depth + 1));
  }
  return value;
}
