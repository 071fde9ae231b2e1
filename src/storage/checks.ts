/**
 * Argument checks shared by the storages, so every backend refuses the same bad input with
 * the same message.
 *
 * @module
 */

/** NaN or an infinity would break ordering or never expire; refuse them. */
export function requireFinite(name: string, value: number, min = -Infinity): void {
  if (!Number.isFinite(value) || value < min) {
    const rule = min === -Infinity ? "a finite number" : `a finite number >= ${min}`;
    throw new RangeError(`${name} must be ${rule}, got ${value}`);
  }
}

/** Counters are BIGINT columns; a fraction would be truncated or refused by the database. */
export function requireInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`${name} must be a safe integer, got ${value}`);
  }
}

/** A number of seconds, where Infinity means "wait forever". */
export function requireSeconds(name: string, value: number): void {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new RangeError(`${name} must be a number of seconds, got ${value}`);
  }
}

/** A zero or negative ttl would store a key that is already gone; refuse it, as Redis does. */
export function requireTtl(ttl: number, name = "ttl"): void {
  if (!(ttl > 0 && ttl < Infinity)) {
    throw new RangeError(`${name} must be a positive number of seconds, got ${ttl}`);
  }
}
