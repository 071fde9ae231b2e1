/**
 * Revocations as stored records: per invocation (`~r:<id>`) and per task name
 * (`~rt:<name>`), each `{ once, until }` in plain JSON.
 *
 * @module
 */

import type { Storage } from "./storage/storage.ts";

/** Key of one invocation's revocation. */
export function revokeKey(id: string): string {
  return `~r:${id}`;
}

/** Key of a whole task's revocation. */
export function revokeTaskKey(name: string): string {
  return `~rt:${name}`;
}

interface Revocation {
  once: boolean;
  /** Epoch ms, or null for "until restored". */
  until: number | null;
}

/** Stores a revocation (a later one replaces an earlier one). */
export async function revoke(
  storage: Storage,
  key: string,
  options: { once?: boolean; until?: Date },
): Promise<void> {
  if (options.until !== undefined && !(options.until instanceof Date)) {
    throw new TypeError('Invalid "until": expected a Date');
  }
  const record: Revocation = {
    once: options.once ?? false,
    until: options.until?.getTime() ?? null,
  };
  await storage.putData(key, JSON.stringify(record));
}

function parse(raw: string): Revocation | undefined {
  try {
    const value = JSON.parse(raw);
    if (value && typeof value.once === "boolean") return value;
  } catch {
    // A foreign value under our key counts as no revocation.
  }
  return undefined;
}

/**
 * Whether the revocation at `key` applies at `at` (epoch ms). Unless `peek`, a `once`
 * revocation is consumed and an `until` that has passed is cleared, as Huey does.
 */
export async function checkRevoked(
  storage: Storage,
  key: string,
  at: number,
  peek: boolean,
): Promise<boolean> {
  return await applyRevocation(storage, key, await storage.peekData(key), at, peek);
}

/**
 * The keys a task's revocation check reads (by id, by name): enqueued as the message's
 * watch keys, so a storage can read them with the lease.
 */
export function revocationKeys(id: string, name: string): string[] {
  return [revokeKey(id), revokeTaskKey(name)];
}

/**
 * Whether a task is revoked at `at`, by its id or else by its name, consuming a `once`
 * revocation and clearing a passed `until` as {@linkcode checkRevoked} does, in that
 * order. `watched` holds the values a storage read with the task's lease; without both
 * keys there, both are read at once: one round trip on backends that pipeline, where two
 * checks one after the other cost two (this runs before every task).
 */
export async function checkTaskRevoked(
  storage: Storage,
  id: string,
  name: string,
  at: number,
  watched?: Map<string, string | undefined>,
): Promise<boolean> {
  const byId = revokeKey(id);
  const byName = revokeTaskKey(name);
  const [idRaw, nameRaw] = watched?.has(byId) && watched.has(byName)
    ? [watched.get(byId), watched.get(byName)]
    : await Promise.all([storage.peekData(byId), storage.peekData(byName)]);
  return await applyRevocation(storage, byId, idRaw, at, false) ||
    await applyRevocation(storage, byName, nameRaw, at, false);
}

/** Whether the revocation `raw` read at `key` applies at `at`; see {@linkcode checkRevoked}. */
async function applyRevocation(
  storage: Storage,
  key: string,
  raw: string | undefined,
  at: number,
  peek: boolean,
): Promise<boolean> {
  if (raw === undefined) return false;
  const record = parse(raw);
  if (!record) return false;
  if (record.once) {
    if (!peek) await storage.deleteData(key);
    return true;
  }
  if (record.until !== null && record.until <= at) {
    if (!peek) await storage.deleteData(key);
    return false;
  }
  return true;
}
