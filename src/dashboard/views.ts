/**
 * What the dashboard shows of the storage, as JSON-ready objects: the counts, scheduled
 * tasks, periodic tasks with their next run, and dead letters. Arguments and messages are
 * left out unless `showData` asks for them.
 *
 * @module
 */

import type { CronSchedule } from "../crontab.ts";
import type { Dewey } from "../dewey.ts";
import { checkRevoked, revokeKey, revokeTaskKey } from "../revocation.ts";

/** The counts at the top of the page. */
export interface Counts {
  pending: number;
  scheduled: number;
  running: number;
  results: number;
  deadLetters: number;
}

/** The queue's counts; `results` leaves out the event log's own records. */
export async function counts(dewey: Dewey, log: { records(): Promise<number> }): Promise<Counts> {
  const [pending, scheduled, running, results, records, deadLetters] = await Promise.all([
    dewey.pendingCount(),
    dewey.scheduledCount(),
    dewey.leasedCount(),
    dewey.resultCount(),
    log.records(),
    dewey.storage.deadLetters().then((entries) => entries.length),
  ]);
  return { pending, scheduled, running, results: Math.max(0, results - records), deadLetters };
}

/** `value` as short text for display (a task's arguments), at most `max` characters. */
export function preview(value: unknown, max = 500): string {
  let text: string;
  try {
    text = JSON.stringify(value, (_key, item) => {
      if (typeof item === "bigint") return `${item}n`;
      if (item instanceof Map) return Object.fromEntries(item);
      if (item instanceof Set) return [...item];
      return item;
    }) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A scheduled task as listed. */
export interface ScheduledView {
  id: string;
  task: string;
  eta: number | null;
  retries: number;
  revoked: boolean;
  args?: string;
}

/** The first `limit` scheduled tasks, soonest first. */
export async function scheduledView(
  dewey: Dewey,
  showData: boolean,
  now: number,
  limit = 100,
): Promise<ScheduledView[]> {
  const views: ScheduledView[] = [];
  for (const task of await dewey.scheduled(limit)) {
    const revoked = await checkRevoked(dewey.storage, revokeKey(task.id), now, true) ||
      await checkRevoked(dewey.storage, revokeTaskKey(task.name), now, true);
    views.push({
      id: task.id,
      task: task.name,
      eta: task.eta?.getTime() ?? null,
      retries: task.retries,
      revoked,
      ...(showData ? { args: preview(task.args) } : {}),
    });
  }
  return views;
}

/** A periodic task as listed. */
export interface PeriodicView {
  task: string;
  schedule: string;
  next: number | null;
  revoked: boolean;
}

/** How far ahead the minute-by-minute search looks for tasks the module does not export. */
const SCAN_MINUTES = 24 * 60;

/**
 * The periodic tasks with their next run: those whose wrapper the module exports (their
 * schedule is known), plus any other due within a day (found by asking `readPeriodic`).
 */
export async function periodicView(
  dewey: Dewey,
  exports: Record<string, unknown>,
  now: number,
): Promise<PeriodicView[]> {
  const known = new Set(dewey.taskNames);
  const found = new Map<string, { schedule: string; next: number | null }>();
  for (const value of Object.values(exports)) {
    if (typeof value !== "function") continue;
    const wrapper = value as unknown as { name: unknown; cron?: CronSchedule };
    if (typeof wrapper.name !== "string") continue;
    const cron = wrapper.cron;
    if (!known.has(wrapper.name) || !cron || typeof cron.next !== "function") continue;
    let next: number | null = null;
    try {
      next = (dewey.utc ? cron : cron.local()).next(new Date(now)).getTime();
    } catch {
      // A predicate that never matches again: no next run.
    }
    found.set(wrapper.name, { schedule: String(cron), next });
  }
  const start = Math.floor(now / 60_000) * 60_000 + 60_000;
  for (let i = 0; i < SCAN_MINUTES; i++) {
    const at = start + i * 60_000;
    for (const task of dewey.readPeriodic(new Date(at))) {
      if (!found.has(task.name)) found.set(task.name, { schedule: "(not exported)", next: at });
    }
  }
  const views: PeriodicView[] = [];
  for (const [task, { schedule, next }] of [...found].sort(([a], [b]) => a.localeCompare(b))) {
    const revoked = await checkRevoked(dewey.storage, revokeTaskKey(task), now, true);
    views.push({ task, schedule, next, revoked });
  }
  return views;
}

/** A dead letter as listed. */
export interface DeadLetterView {
  id: string;
  at: number;
  reason: string;
  task: string | null;
  size: number;
  data?: string;
}

const encoder = new TextEncoder();

/** Every dead letter, oldest first; the task name when the message decodes. */
export async function deadLetterView(dewey: Dewey, showData: boolean): Promise<DeadLetterView[]> {
  const views: DeadLetterView[] = [];
  for (const entry of await dewey.storage.deadLetters()) {
    let task: string | null = null;
    try {
      task = (await dewey.deserialize(entry.data))[0].name;
    } catch {
      // Not decodable (the reason says why): no name.
    }
    views.push({
      id: entry.id,
      at: entry.at,
      reason: entry.reason,
      task,
      size: encoder.encode(entry.data).length,
      ...(showData ? { data: preview(entry.data, 2000) } : {}),
    });
  }
  return views;
}
