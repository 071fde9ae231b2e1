/**
 * Cron-style schedules for periodic tasks, over the `croner` package.
 *
 * A schedule reads its fields in UTC unless given a `timezone`; `local()` gives a copy
 * that reads them in the machine's local time. Schedules have minute granularity, except
 * six-field cron strings, whose first field is seconds.
 *
 * @module
 */

import { Cron } from "croner";

/**
 * When a periodic task runs: a set of instants, tested by {@linkcode CronSchedule.matches}
 * and enumerated by {@linkcode CronSchedule.next}.
 *
 * @example
 * ```ts
 * import { crontab, type CronSchedule } from "@dewey/dewey";
 *
 * const everyQuarter: CronSchedule = crontab({ minute: "*\/15" });
 * console.log(everyQuarter.matches(new Date("2026-01-01T10:30:45Z"))); // true
 * console.log(everyQuarter.next(new Date("2026-01-01T10:30:00Z")).toISOString());
 * // 2026-01-01T10:45:00.000Z
 * ```
 */
export interface CronSchedule {
  /**
   * True when `date` matches. Seconds and milliseconds of `date` are ignored, unless the
   * schedule has a seconds field (then only milliseconds are).
   */
  matches(date: Date): boolean;
  /**
   * The first matching instant strictly after `after` (default now). Throws a `RangeError`
   * when the schedule never matches again.
   */
  next(after?: Date): Date;
  /** True for six-field (seconds-first) schedules. */
  readonly hasSeconds: boolean;
  /**
   * A copy that reads fields in the machine's local time; a schedule with an explicit
   * timezone is returned unchanged.
   */
  local(): CronSchedule;
}

/**
 * Fields of {@linkcode crontab}, as in Huey. Each accepts `*`, a number, a range `m-n`,
 * `*` or a range with a `/step`, or a comma-separated combination of these; numbers are
 * converted with `String()`. An omitted field is `*`.
 *
 * @example
 * ```ts
 * import { crontab, type CrontabFields } from "@dewey/dewey";
 *
 * const weekdayMornings: CrontabFields = { minute: 30, hour: "8", dayOfWeek: "1-5" };
 * const schedule = crontab(weekdayMornings);
 * console.log(schedule.matches(new Date("2026-01-05T08:30:00Z"))); // true (a Monday)
 * ```
 */
export interface CrontabFields {
  /** Minute, 0-59. */
  minute?: string | number;
  /** Hour, 0-23. */
  hour?: string | number;
  /** Day of the month, 1-31. Must match together with `dayOfWeek` (AND, not OR). */
  day?: string | number;
  /** Month, 1-12. */
  month?: string | number;
  /** Day of the week, 0-7: 0 and 7 are Sunday, 6 is Saturday. */
  dayOfWeek?: string | number;
}

/**
 * Options of {@linkcode crontab} and {@linkcode cronSchedule}.
 *
 * @example
 * ```ts
 * import { crontab, type CrontabOptions } from "@dewey/dewey";
 *
 * const paris: CrontabOptions = { timezone: "Europe/Paris" };
 * const nineInParis = crontab({ minute: 0, hour: 9 }, paris);
 * console.log(nineInParis.matches(new Date("2026-01-01T08:00:00Z"))); // true
 * ```
 */
export interface CrontabOptions {
  /** IANA timezone the fields are read in, e.g. `"Europe/Paris"`. Default: UTC. */
  timezone?: string;
}

/**
 * Builds a {@linkcode CronSchedule} from Huey-style fields; see {@linkcode crontab}.
 *
 * @example
 * ```ts
 * import { crontab } from "@dewey/dewey";
 *
 * const nightly = crontab.daily({ timezone: "America/New_York" });
 * console.log(nightly.matches(new Date("2026-01-01T05:00:00Z"))); // true
 * ```
 */
export interface Crontab {
  /** A schedule matching when every field matches. */
  (fields?: CrontabFields, options?: CrontabOptions): CronSchedule;
  /** Every hour, at minute 0. */
  hourly(options?: CrontabOptions): CronSchedule;
  /** Every day, at 00:00. */
  daily(options?: CrontabOptions): CronSchedule;
}

type FieldName = keyof CrontabFields;

// Order of the croner pattern; `min`/`max` are what the user may write.
const FIELDS: readonly { name: FieldName; min: number; max: number }[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "dayOfWeek", min: 0, max: 7 },
];
const FIELD_NAMES = new Set<string>(FIELDS.map((field) => field.name));

const PIECE = /^(?:(\*)|(\d+)|(\d+)-(\d+))(?:\/(\d+))?$/;

function crontabImpl(fields: CrontabFields = {}, options?: CrontabOptions): CronSchedule {
  if (typeof fields !== "object" || fields === null) {
    throw new TypeError(`crontab fields must be an object, got ${describe(fields)}`);
  }
  for (const key of Object.keys(fields)) {
    // A typo such as `minutes` would otherwise silently mean "every minute".
    if (!FIELD_NAMES.has(key)) throw new TypeError(`Unknown crontab field "${key}"`);
  }
  const timezone = checkOptions(options);
  const parts = FIELDS.map(({ name, min, max }) => {
    const values = parseField(name, fields[name], min, max);
    // Expanded lists keep croner's own parser (and its dialect) out of Huey's semantics;
    // a full set becomes "*" so the pattern stays readable.
    return values.length === (name === "dayOfWeek" ? 7 : max - min + 1) ? "*" : values.join(",");
  });
  return new CronerSchedule(parts.join(" "), false, true, timezone, false);
}

/**
 * Builds a schedule from Huey-style fields: each of `minute`, `hour`, `day`, `month` and
 * `dayOfWeek` accepts `*`, a number, a range `m-n`, `*` or a range with a `/step`, or a
 * comma-separated combination (see {@linkcode CrontabFields}). Day of month AND day of
 * week must both match, as in Huey (Vixie cron uses OR). Fields are read in UTC unless
 * `options.timezone` is given.
 *
 * Invalid fields throw a `RangeError` naming the field.
 *
 * @example
 * ```ts
 * import { crontab } from "@dewey/dewey";
 *
 * const fridayThe13th = crontab({ minute: 0, hour: 0, day: 13, dayOfWeek: 5 });
 * console.log(fridayThe13th.next(new Date("2026-03-13T00:00:00Z")).toISOString());
 * // 2026-11-13T00:00:00.000Z
 * crontab.hourly(); // minute 0 of every hour
 * crontab.daily(); // 00:00 every day
 * ```
 */
export const crontab: Crontab = Object.assign(crontabImpl, {
  hourly: (options?: CrontabOptions): CronSchedule => crontabImpl({ minute: 0 }, options),
  daily: (options?: CrontabOptions): CronSchedule => crontabImpl({ minute: 0, hour: 0 }, options),
});

/**
 * Builds a schedule from a cron string, with croner's standard semantics: five fields
 * (minute first; day of month OR day of week), or six fields with seconds first. Names
 * (`MON`, `JAN`), `L`, `W`, `#` and nicknames such as `@daily` work as in croner. Fields are
 * read in UTC unless `options.timezone` is given.
 *
 * An expression croner rejects throws a `RangeError` quoting it.
 *
 * @example
 * ```ts
 * import { cronSchedule } from "@dewey/dewey";
 *
 * const weekdays = cronSchedule("30 8 * * MON-FRI");
 * console.log(weekdays.matches(new Date("2026-01-05T08:30:00Z"))); // true
 * const everyTenSeconds = cronSchedule("*\/10 * * * * *");
 * console.log(everyTenSeconds.hasSeconds); // true
 * ```
 */
export function cronSchedule(expression: string, options?: CrontabOptions): CronSchedule {
  if (typeof expression !== "string") {
    throw new TypeError(`cron expression must be a string, got ${describe(expression)}`);
  }
  const timezone = checkOptions(options);
  const trimmed = expression.trim();
  const count = trimmed.split(/\s+/).length;
  // croner would read a one-field string containing ":" as a one-off ISO date, and
  // seven fields as having a year: neither is a periodic cron schedule here.
  if (!trimmed.startsWith("@") && count !== 5 && count !== 6) {
    throw new RangeError(
      `Invalid cron expression "${expression}": expected 5 fields, or 6 with seconds first`,
    );
  }
  return new CronerSchedule(trimmed, count === 6, false, timezone, false);
}

/**
 * What a periodic task accepts as its schedule: a {@linkcode CronSchedule}, a cron string
 * (see {@linkcode cronSchedule}), or a predicate called once per minute.
 *
 * @example
 * ```ts
 * import type { ScheduleLike } from "@dewey/dewey";
 *
 * const schedules: ScheduleLike[] = ["0 * * * *", (date: Date) => date.getUTCMinutes() === 0];
 * console.log(schedules.length); // 2
 * ```
 */
export type ScheduleLike = CronSchedule | string | ((date: Date) => boolean);

/**
 * Normalizes a {@linkcode ScheduleLike}: a schedule is returned as is, a string goes
 * through {@linkcode cronSchedule}, and a function becomes a minute-granularity schedule
 * that calls it with the date's seconds and milliseconds zeroed. Its `next()` scans minute
 * by minute and throws a `RangeError` after 366 days without a match; its `local()` is
 * itself, since the function decides how to read the date.
 *
 * @example
 * ```ts
 * import { toSchedule } from "@dewey/dewey";
 *
 * const onTheHour = toSchedule((date: Date) => date.getUTCMinutes() === 0);
 * console.log(onTheHour.next(new Date("2026-01-01T10:05:00Z")).toISOString());
 * // 2026-01-01T11:00:00.000Z
 * ```
 */
export function toSchedule(schedule: ScheduleLike): CronSchedule {
  if (typeof schedule === "string") return cronSchedule(schedule);
  if (typeof schedule === "function") return new PredicateSchedule(schedule);
  if (
    typeof schedule === "object" && schedule !== null &&
    typeof schedule.matches === "function" && typeof schedule.next === "function"
  ) {
    return schedule;
  }
  throw new TypeError(
    `schedule must be a CronSchedule, a cron string or a function, got ${describe(schedule)}`,
  );
}

// --- implementation ----------------------------------------------------------------------

const MINUTE_MS = 60_000;
const PREDICATE_SCAN_MINUTES = 366 * 24 * 60;

class CronerSchedule implements CronSchedule {
  readonly hasSeconds: boolean;
  readonly #pattern: string;
  readonly #domAndDow: boolean;
  readonly #timezone: string | undefined;
  readonly #isLocal: boolean;
  readonly #cron: Cron;

  constructor(
    pattern: string,
    hasSeconds: boolean,
    domAndDow: boolean,
    timezone: string | undefined,
    isLocal: boolean,
  ) {
    this.hasSeconds = hasSeconds;
    this.#pattern = pattern;
    this.#domAndDow = domAndDow;
    this.#timezone = timezone;
    this.#isLocal = isLocal;
    try {
      this.#cron = new Cron(pattern, {
        mode: "5-or-6-parts",
        domAndDow,
        // utcOffset 0 is UTC without a trip through Intl on every match.
        ...(timezone !== undefined ? { timezone } : isLocal ? {} : { utcOffset: 0 }),
      });
    } catch (error) {
      throw new RangeError(
        `Invalid cron expression "${pattern}": ${error instanceof Error ? error.message : error}`,
        { cause: error },
      );
    }
  }

  matches(date: Date): boolean {
    const time = checkDate(date, "date");
    return this.#cron.match(new Date(this.hasSeconds ? time : floorMinute(time)));
  }

  next(after: Date = new Date()): Date {
    checkDate(after, "after");
    const next = this.#cron.nextRun(after);
    if (next === null) {
      throw new RangeError(
        `Schedule "${this.#pattern}" never matches after ${after.toISOString()}`,
      );
    }
    return next;
  }

  local(): CronSchedule {
    if (this.#isLocal || this.#timezone !== undefined) return this;
    return new CronerSchedule(this.#pattern, this.hasSeconds, this.#domAndDow, undefined, true);
  }

  /** The croner pattern, for logs. */
  toString(): string {
    return this.#pattern;
  }
}

class PredicateSchedule implements CronSchedule {
  readonly hasSeconds = false;
  readonly #predicate: (date: Date) => boolean;

  constructor(predicate: (date: Date) => boolean) {
    this.#predicate = predicate;
  }

  matches(date: Date): boolean {
    return Boolean(this.#predicate(new Date(floorMinute(checkDate(date, "date")))));
  }

  next(after: Date = new Date()): Date {
    let time = floorMinute(checkDate(after, "after"));
    for (let i = 0; i < PREDICATE_SCAN_MINUTES; i++) {
      time += MINUTE_MS;
      if (this.#predicate(new Date(time))) return new Date(time);
    }
    throw new RangeError(
      `Schedule function matched no minute within 366 days after ${after.toISOString()}`,
    );
  }

  local(): CronSchedule {
    return this;
  }
}

/** Expands one crontab field to its sorted values, day of week folded to 0-6. */
function parseField(name: FieldName, raw: unknown, min: number, max: number): number[] {
  if (raw === undefined) raw = "*";
  if (typeof raw !== "string" && typeof raw !== "number") {
    throw new TypeError(
      `Invalid crontab field "${name}": expected a string or number, got ${describe(raw)}`,
    );
  }
  const text = String(raw);
  const values = new Set<number>();
  for (const piece of text.split(",")) {
    const invalid = (problem: string) => {
      const within = piece === text ? "" : ` (in "${text}")`;
      return new RangeError(`Invalid crontab field "${name}": "${piece}"${within} ${problem}`);
    };
    const match = PIECE.exec(piece);
    if (match === null) throw invalid("is not *, n, m-n, */s or m-n/s (whole numbers)");
    const [, star, single, low, high, stepText] = match;
    if (single !== undefined && stepText !== undefined) throw invalid("has a step but no range");
    let from = min, to = max;
    if (star === undefined) {
      from = Number(single ?? low);
      to = Number(single ?? high);
      if (from < min || to > max) throw invalid(`is out of range ${min}-${max}`);
      if (from > to) throw invalid("is a backwards range");
    }
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step === 0) throw invalid("has a zero step");
    for (let value = from; value <= to; value += step) {
      values.add(name === "dayOfWeek" ? value % 7 : value);
    }
  }
  return [...values].sort((a, b) => a - b);
}

function checkOptions(options: CrontabOptions | undefined): string | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const { timezone } = options;
  if (timezone === undefined) return undefined;
  if (typeof timezone !== "string") {
    throw new TypeError(`timezone must be a string, got ${describe(timezone)}`);
  }
  // croner only notices a bad zone when it first reads a date; fail at declaration instead.
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch (error) {
    throw new RangeError(`Invalid timezone "${timezone}"`, { cause: error });
  }
  return timezone;
}

function checkDate(date: unknown, what: string): number {
  if (!(date instanceof Date)) throw new TypeError(`${what} must be a Date, got ${describe(date)}`);
  const time = date.getTime();
  if (Number.isNaN(time)) throw new RangeError(`${what} is an invalid Date`);
  return time;
}

function floorMinute(time: number): number {
  return Math.floor(time / MINUTE_MS) * MINUTE_MS;
}

function describe(value: unknown): string {
  return value === null ? "null" : typeof value;
}
