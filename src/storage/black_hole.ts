/**
 * A storage that keeps nothing, for producers whose tasks may be dropped (tests of
 * enqueue paths, disabled environments).
 *
 * @module
 */

import type { AckEffects, DeadLetterEntry, LeasedMessage, QueueItem, Storage } from "./storage.ts";
import { checkBinding } from "./binding.ts";

/**
 * A storage that discards every write and reads back as empty, as Huey's
 * `BlackHoleStorage`.
 *
 * Reads give `undefined`, `false`, `0` or empty lists; `incr` returns `by`, as if every
 * counter were new. `putIfEmpty` returns `true`, as Huey's does (its key is always
 * absent), so locks taken on this storage appear to succeed rather than fail forever.
 * `waitForMessage` and `waitForData` are left out: nothing could ever arrive.
 *
 * @example
 * ```ts
 * import { BlackHoleStorage } from "@dewey/dewey";
 *
 * const storage = new BlackHoleStorage();
 * await storage.enqueue("lost", 0);
 * console.log(await storage.queueSize()); // 0
 * console.log(await storage.incr("hits", 5)); // 5
 * ```
 */
export class BlackHoleStorage implements Storage {
  #name = "dewey";
  #bound = false;

  /** The instance name given to {@linkcode BlackHoleStorage.bind}, or `"dewey"`. */
  get name(): string {
    return this.#name;
  }

  /** Sets the instance name; rebinding to the same name is allowed, to another throws. */
  bind(name: string): void {
    checkBinding(this.#bound, this.#name, name);
    this.#name = name;
    this.#bound = true;
  }

  /** Discards the message. */
  enqueue(_data: string, _priority: number): Promise<void> {
    return Promise.resolve();
  }

  /** Discards the messages. */
  enqueueMany(_items: QueueItem[]): Promise<void> {
    return Promise.resolve();
  }

  /** Always `undefined`: the queue is empty. */
  dequeue(_visibility: number, _now?: number): Promise<LeasedMessage | undefined> {
    return Promise.resolve(undefined);
  }

  /** Always `[]`: the queue is empty. */
  dequeueMany(_count: number, _visibility: number, _now?: number): Promise<LeasedMessage[]> {
    return Promise.resolve([]);
  }

  /** Does nothing. */
  ack(_lease: string, _effects?: AckEffects): Promise<void> {
    return Promise.resolve();
  }

  /** Always `[]`: no lease is held. */
  extend(_leases: string[], _visibility: number, _now?: number): Promise<string[]> {
    return Promise.resolve([]);
  }

  /** Does nothing. */
  release(_lease: string): Promise<void> {
    return Promise.resolve();
  }

  /** Always `0`. */
  requeueExpired(_now?: number): Promise<number> {
    return Promise.resolve(0);
  }

  /** Always `0`. */
  queueSize(): Promise<number> {
    return Promise.resolve(0);
  }

  /** Always `0`. */
  leasedCount(): Promise<number> {
    return Promise.resolve(0);
  }

  /** Always `[]`. */
  enqueuedItems(_limit?: number): Promise<string[]> {
    return Promise.resolve([]);
  }

  /** Does nothing. */
  flushQueue(): Promise<void> {
    return Promise.resolve();
  }

  /** Discards the message. */
  addToSchedule(_data: string, _eta: number): Promise<void> {
    return Promise.resolve();
  }

  /** Always `[]`. */
  readSchedule(_now: number): Promise<string[]> {
    return Promise.resolve([]);
  }

  /** Always `0`. */
  scheduleSize(): Promise<number> {
    return Promise.resolve(0);
  }

  /** Always `[]`. */
  scheduledItems(_limit?: number): Promise<string[]> {
    return Promise.resolve([]);
  }

  /** Does nothing. */
  flushSchedule(): Promise<void> {
    return Promise.resolve();
  }

  /** Discards the value. */
  putData(_key: string, _value: string, _ttl?: number): Promise<void> {
    return Promise.resolve();
  }

  /** Always `undefined`. */
  peekData(_key: string): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  /** Always `undefined`. */
  popData(_key: string): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  /** Always `true` (the key is always empty), so locks appear to be acquired. */
  putIfEmpty(_key: string, _value: string, _ttl?: number): Promise<boolean> {
    return Promise.resolve(true);
  }

  /** Always `false`: there is nothing to delete. */
  deleteData(_key: string, _expected?: string): Promise<boolean> {
    return Promise.resolve(false);
  }

  /** Always `false`. */
  hasData(_key: string): Promise<boolean> {
    return Promise.resolve(false);
  }

  /** Always `0`. */
  resultCount(): Promise<number> {
    return Promise.resolve(0);
  }

  /** Always an empty map. */
  resultItems(): Promise<Map<string, string>> {
    return Promise.resolve(new Map());
  }

  /** Does nothing. */
  flushResults(): Promise<void> {
    return Promise.resolve();
  }

  /** Returns `by`, as if the counter were new each time. */
  incr(_key: string, by = 1, _ttl?: number): Promise<number> {
    return Promise.resolve(by);
  }

  /** Does nothing. */
  deleteCounter(_key: string): Promise<void> {
    return Promise.resolve();
  }

  /** Does nothing. */
  flushCounters(): Promise<void> {
    return Promise.resolve();
  }

  /** Discards the message but returns a fresh id, so callers can log one. */
  deadLetter(_data: string, _reason: string, _now?: number): Promise<string> {
    return Promise.resolve(crypto.randomUUID());
  }

  /** Always `[]`. */
  deadLetters(): Promise<DeadLetterEntry[]> {
    return Promise.resolve([]);
  }

  /** Always `false`: no entry exists. */
  requeueDeadLetter(_id: string): Promise<boolean> {
    return Promise.resolve(false);
  }

  /** Always `0`. */
  purgeDeadLetters(): Promise<number> {
    return Promise.resolve(0);
  }

  /** Does nothing. */
  flushAll(): Promise<void> {
    return Promise.resolve();
  }

  /** Does nothing. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
