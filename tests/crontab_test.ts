import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type CronSchedule,
  cronSchedule,
  crontab,
  type CrontabFields,
  toSchedule,
} from "../src/crontab.ts";

const utc = (iso: string): Date => new Date(`${iso}Z`);

/** Minutes of the given UTC hour (ISO "YYYY-MM-DDTHH") that the schedule matches. */
function minutesMatched(schedule: CronSchedule, hour: string): number[] {
  const start = utc(`${hour}:00:00`).getTime();
  const minutes: number[] = [];
  for (let m = 0; m < 60; m++) {
    if (schedule.matches(new Date(start + m * 60_000))) minutes.push(m);
  }
  return minutes;
}

/** Successive next() results from `after`. */
function nextRuns(schedule: CronSchedule, after: Date, count: number): string[] {
  const runs: string[] = [];
  for (let i = 0; i < count; i++) {
    after = schedule.next(after);
    runs.push(after.toISOString());
  }
  return runs;
}

describe("crontab field forms", () => {
  it("'*' and omitted fields match every minute", () => {
    assert.equal(minutesMatched(crontab(), "2026-01-01T10").length, 60);
    assert.equal(minutesMatched(crontab({ minute: "*", hour: "*" }), "2026-01-01T10").length, 60);
  });

  it("a number or numeric string matches that value only", () => {
    assert.deepEqual(minutesMatched(crontab({ minute: 5 }), "2026-01-01T10"), [5]);
    assert.deepEqual(minutesMatched(crontab({ minute: "05" }), "2026-01-01T10"), [5]);
    assert.equal(crontab({ hour: 0 }).matches(utc("2026-01-01T00:30:00")), true);
    assert.equal(crontab({ hour: 0 }).matches(utc("2026-01-01T01:30:00")), false);
  });

  it("'*/15' minute matches the quarter hours", () => {
    const schedule = crontab({ minute: "*/15" });
    assert.deepEqual(minutesMatched(schedule, "2026-01-01T10"), [0, 15, 30, 45]);
    assert.deepEqual(schedule.next(utc("2026-01-01T10:46:00")), utc("2026-01-01T11:00:00"));
  });

  it("'*/n' steps from the field's minimum (1 for day and month)", () => {
    const months = crontab({ minute: 0, hour: 0, day: 1, month: "*/3" });
    assert.deepEqual(nextRuns(months, utc("2026-01-01T00:00:00"), 4), [
      "2026-04-01T00:00:00.000Z",
      "2026-07-01T00:00:00.000Z",
      "2026-10-01T00:00:00.000Z",
      "2027-01-01T00:00:00.000Z",
    ]);
    const days = crontab({ minute: 0, hour: 0, day: "*/10" });
    assert.deepEqual(nextRuns(days, utc("2026-01-01T00:00:00"), 4), [
      "2026-01-11T00:00:00.000Z",
      "2026-01-21T00:00:00.000Z",
      "2026-01-31T00:00:00.000Z",
      "2026-02-01T00:00:00.000Z",
    ]);
  });

  it("'m-n' is an inclusive range", () => {
    const schedule = crontab({ minute: 0, hour: "9-17" });
    assert.equal(schedule.matches(utc("2026-01-01T08:00:00")), false);
    assert.equal(schedule.matches(utc("2026-01-01T09:00:00")), true);
    assert.equal(schedule.matches(utc("2026-01-01T17:00:00")), true);
    assert.equal(schedule.matches(utc("2026-01-01T18:00:00")), false);
  });

  it("'m-n/s' steps through the range", () => {
    assert.deepEqual(minutesMatched(crontab({ minute: "10-30/10" }), "2026-01-01T10"), [
      10,
      20,
      30,
    ]);
    assert.deepEqual(minutesMatched(crontab({ minute: "5-20/7" }), "2026-01-01T10"), [5, 12, 19]);
  });

  it("comma combinations take the union", () => {
    const schedule = crontab({ minute: "1,2,10-12,*/30,40-50/5" });
    assert.deepEqual(minutesMatched(schedule, "2026-01-01T10"), [
      0,
      1,
      2,
      10,
      11,
      12,
      30,
      40,
      45,
      50,
    ]);
  });

  it("hasSeconds is false", () => {
    assert.equal(crontab({ minute: 5 }).hasSeconds, false);
  });
});

describe("crontab day semantics", () => {
  const fridayThe13th = crontab({ minute: 0, hour: 0, day: "13", dayOfWeek: "5" });

  it("day of month AND day of week must both match (Friday the 13th)", () => {
    assert.equal(fridayThe13th.matches(utc("2026-11-13T00:00:00")), true); // Friday 13th
    assert.equal(fridayThe13th.matches(utc("2026-11-20T00:00:00")), false); // Friday 20th
    assert.equal(fridayThe13th.matches(utc("2026-10-13T00:00:00")), false); // Tuesday 13th
    assert.deepEqual(nextRuns(fridayThe13th, utc("2026-01-01T00:00:00"), 4), [
      "2026-02-13T00:00:00.000Z",
      "2026-03-13T00:00:00.000Z",
      "2026-11-13T00:00:00.000Z",
      "2027-08-13T00:00:00.000Z",
    ]);
  });

  it("day of week 0 and 7 are both Sunday", () => {
    for (const dayOfWeek of [0, "0", 7, "7"]) {
      const sunday = crontab({ minute: 0, hour: 0, dayOfWeek });
      assert.equal(sunday.matches(utc("2026-01-04T00:00:00")), true, `dayOfWeek ${dayOfWeek}`);
      assert.equal(sunday.matches(utc("2026-01-03T00:00:00")), false, `dayOfWeek ${dayOfWeek}`);
      assert.equal(sunday.matches(utc("2026-01-05T00:00:00")), false, `dayOfWeek ${dayOfWeek}`);
    }
  });

  it("'5-7' is Friday, Saturday and Sunday", () => {
    const weekend = crontab({ minute: 0, hour: 0, dayOfWeek: "5-7" });
    // 2026-01-01 is a Thursday.
    const matched = [1, 2, 3, 4, 5, 6, 7].filter((day) =>
      weekend.matches(new Date(Date.UTC(2026, 0, day)))
    );
    assert.deepEqual(matched, [2, 3, 4]);
  });

  it("'*/2' day of week is Sunday, Tuesday, Thursday, Saturday", () => {
    const schedule = crontab({ minute: 0, hour: 0, dayOfWeek: "*/2" });
    const matched = [4, 5, 6, 7, 8, 9, 10].filter((day) =>
      schedule.matches(new Date(Date.UTC(2026, 0, day)))
    );
    assert.deepEqual(matched, [4, 6, 8, 10]);
  });
});

describe("crontab.hourly and crontab.daily", () => {
  it("hourly is minute 0 of every hour", () => {
    const hourly = crontab.hourly();
    assert.deepEqual(minutesMatched(hourly, "2026-01-01T13"), [0]);
    assert.deepEqual(hourly.next(utc("2026-01-01T13:00:00")), utc("2026-01-01T14:00:00"));
  });

  it("daily is 00:00 every day", () => {
    const daily = crontab.daily();
    assert.equal(daily.matches(utc("2026-01-02T00:00:00")), true);
    assert.equal(daily.matches(utc("2026-01-02T01:00:00")), false);
    assert.deepEqual(daily.next(utc("2026-01-01T00:00:00")), utc("2026-01-02T00:00:00"));
  });

  it("accept a timezone", () => {
    const daily = crontab.daily({ timezone: "Europe/Paris" });
    assert.deepEqual(daily.next(utc("2026-01-01T12:00:00")), utc("2026-01-01T23:00:00"));
  });
});

describe("next()", () => {
  it("is strictly after `after`", () => {
    const everyMinute = crontab();
    assert.deepEqual(everyMinute.next(utc("2026-01-01T10:05:00.000")), utc("2026-01-01T10:06:00"));
    assert.deepEqual(everyMinute.next(utc("2026-01-01T10:05:30")), utc("2026-01-01T10:06:00"));
    assert.deepEqual(everyMinute.next(utc("2026-01-01T10:05:59.999")), utc("2026-01-01T10:06:00"));
  });

  it("crosses month and year boundaries", () => {
    const firstOfMonth = crontab({ minute: 0, hour: 0, day: 1 });
    assert.deepEqual(firstOfMonth.next(utc("2026-01-31T12:00:00")), utc("2026-02-01T00:00:00"));
    assert.deepEqual(crontab.daily().next(utc("2026-12-31T23:59:30")), utc("2027-01-01T00:00:00"));
    const thirtyFirst = crontab({ minute: 15, hour: 6, day: 31 });
    assert.deepEqual(nextRuns(thirtyFirst, utc("2026-01-31T06:15:00"), 3), [
      "2026-03-31T06:15:00.000Z",
      "2026-05-31T06:15:00.000Z",
      "2026-07-31T06:15:00.000Z",
    ]);
    const leapDay = crontab({ minute: 30, hour: 12, day: 29, month: 2 });
    assert.deepEqual(leapDay.next(utc("2026-01-01T00:00:00")), utc("2028-02-29T12:30:00"));
  });

  it("defaults to now", () => {
    const before = Date.now();
    const next = crontab().next().getTime();
    assert.ok(next > before && next <= Date.now() + 60_000, `next ${next}, now ${before}`);
    assert.equal(next % 60_000, 0);
  });

  it("throws RangeError when the schedule never matches", () => {
    assert.throws(
      () => crontab({ day: 31, month: 2 }).next(utc("2026-01-01T00:00:00")),
      RangeError,
    );
  });

  it("rejects a non-Date or invalid Date", () => {
    assert.throws(() => crontab().next(new Date(NaN)), RangeError);
    assert.throws(() => crontab().matches("2026-01-01" as unknown as Date), TypeError);
  });
});

describe("matches()", () => {
  it("ignores seconds and milliseconds for minute schedules", () => {
    const schedule = crontab({ minute: 5, hour: 10 });
    assert.equal(schedule.matches(utc("2026-01-01T10:05:00")), true);
    assert.equal(schedule.matches(utc("2026-01-01T10:05:59.999")), true);
    assert.equal(schedule.matches(utc("2026-01-01T10:06:00")), false);
  });
});

describe("timezones", () => {
  it("standalone schedules read fields in UTC", () => {
    const nine = crontab({ minute: 0, hour: 9 });
    assert.equal(nine.matches(utc("2026-01-01T09:00:00")), true);
  });

  it("a timezone option reads fields in that zone, across DST", () => {
    const nine = crontab({ hour: "9", minute: "0" }, { timezone: "America/New_York" });
    assert.equal(nine.matches(utc("2026-01-15T14:00:00")), true); // EST, UTC-5
    assert.equal(nine.matches(utc("2026-01-15T09:00:00")), false);
    assert.equal(nine.matches(utc("2026-07-15T13:00:00")), true); // EDT, UTC-4
    assert.deepEqual(nine.next(utc("2026-07-15T13:00:00")), utc("2026-07-16T13:00:00"));
  });

  it("an invalid timezone throws RangeError at declaration", () => {
    assert.throws(() => crontab({}, { timezone: "Mars/Olympus_Mons" }), {
      name: "RangeError",
      message: 'Invalid timezone "Mars/Olympus_Mons"',
    });
    assert.throws(() => cronSchedule("* * * * *", { timezone: "nowhere" }), RangeError);
  });

  it("local() leaves a schedule with an explicit timezone unchanged", () => {
    const paris = crontab({ minute: 0, hour: 9 }, { timezone: "Europe/Paris" });
    assert.equal(paris.local(), paris);
    const utcExplicit = cronSchedule("0 9 * * *", { timezone: "UTC" });
    assert.equal(utcExplicit.local(), utcExplicit);
  });

  it("local() of a UTC schedule reads fields in local time", () => {
    const nine = crontab({ minute: 0, hour: 9 });
    const local = nine.local();
    assert.notEqual(local, nine);
    assert.equal(local.matches(new Date(2026, 0, 1, 9, 0)), true);
    assert.equal(local.matches(new Date(2026, 0, 1, 10, 0)), false);
    assert.deepEqual(local.next(new Date(2026, 0, 1, 8, 0)), new Date(2026, 0, 1, 9, 0));
    assert.equal(local.local(), local);
    // The original still reads UTC.
    assert.equal(nine.matches(utc("2026-01-01T09:00:00")), true);
    const cron = cronSchedule("0 9 * * *").local();
    assert.equal(cron.matches(new Date(2026, 0, 1, 9, 0)), true);
  });
});

describe("crontab validation", () => {
  const invalid: [CrontabFields, string][] = [
    [{ minute: 60 }, "minute"],
    [{ minute: "*/0" }, "minute"],
    [{ minute: "abc" }, "minute"],
    [{ minute: "1-5abc" }, "minute"],
    [{ minute: "" }, "minute"],
    [{ minute: -1 }, "minute"],
    [{ minute: "-1" }, "minute"],
    [{ minute: 1.5 }, "minute"],
    [{ minute: NaN }, "minute"],
    [{ minute: "1,,2" }, "minute"],
    [{ minute: "1, 2" }, "minute"],
    [{ minute: "5/2" }, "minute"],
    [{ minute: "10-5/2" }, "minute"],
    [{ minute: "0-60/5" }, "minute"],
    [{ hour: 24 }, "hour"],
    [{ hour: "5-3" }, "hour"],
    [{ day: 0 }, "day"],
    [{ day: 32 }, "day"],
    [{ day: "*/0" }, "day"],
    [{ month: 0 }, "month"],
    [{ month: "13" }, "month"],
    [{ month: "1-12/0" }, "month"],
    [{ dayOfWeek: 8 }, "dayOfWeek"],
    [{ dayOfWeek: "6-1" }, "dayOfWeek"],
    [{ dayOfWeek: "mon" }, "dayOfWeek"],
  ];
  for (const [fields, name] of invalid) {
    it(`rejects ${JSON.stringify(fields)}`, () => {
      assert.throws(() => crontab(fields), (error: unknown) => {
        assert.ok(error instanceof RangeError, String(error));
        assert.ok(error.message.startsWith(`Invalid crontab field "${name}": `), error.message);
        return true;
      });
    });
  }

  it("names the field and the range in the message", () => {
    assert.throws(() => crontab({ minute: "60" }), {
      name: "RangeError",
      message: 'Invalid crontab field "minute": "60" is out of range 0-59',
    });
    assert.throws(() => crontab({ hour: "1,5-3" }), {
      name: "RangeError",
      message: 'Invalid crontab field "hour": "5-3" (in "1,5-3") is a backwards range',
    });
    assert.throws(() => crontab({ day: "*/0" }), {
      name: "RangeError",
      message: 'Invalid crontab field "day": "*/0" has a zero step',
    });
  });

  it("rejects unknown fields and wrong types with TypeError", () => {
    assert.throws(() => crontab({ minutes: 5 } as CrontabFields), {
      name: "TypeError",
      message: 'Unknown crontab field "minutes"',
    });
    assert.throws(() => crontab({ hour: null } as unknown as CrontabFields), TypeError);
    assert.throws(() => crontab("0 * * * *" as unknown as CrontabFields), TypeError);
  });
});

describe("cronSchedule", () => {
  it("five fields: minute granularity, hasSeconds false", () => {
    const schedule = cronSchedule("30 8 * * MON-FRI");
    assert.equal(schedule.hasSeconds, false);
    assert.equal(schedule.matches(utc("2026-01-05T08:30:45")), true); // Monday
    assert.equal(schedule.matches(utc("2026-01-04T08:30:00")), false); // Sunday
    assert.deepEqual(schedule.next(utc("2026-01-02T08:30:00")), utc("2026-01-05T08:30:00"));
  });

  it("five fields: day of month OR day of week", () => {
    const schedule = cronSchedule("0 0 13 * 5");
    assert.equal(schedule.matches(utc("2026-01-02T00:00:00")), true); // Friday 2nd
    assert.equal(schedule.matches(utc("2026-01-13T00:00:00")), true); // Tuesday 13th
    assert.equal(schedule.matches(utc("2026-01-14T00:00:00")), false); // Wednesday 14th
  });

  it("six fields: seconds first, matched by second", () => {
    const schedule = cronSchedule("*/10 * * * * *");
    assert.equal(schedule.hasSeconds, true);
    assert.equal(schedule.matches(utc("2026-01-01T10:00:10")), true);
    assert.equal(schedule.matches(utc("2026-01-01T10:00:10.500")), true);
    assert.equal(schedule.matches(utc("2026-01-01T10:00:15")), false);
    assert.deepEqual(schedule.next(utc("2026-01-01T10:00:10")), utc("2026-01-01T10:00:20"));
    assert.deepEqual(schedule.next(utc("2026-01-01T10:00:55")), utc("2026-01-01T10:01:00"));
    assert.equal(schedule.local().hasSeconds, true);
  });

  it("nicknames and timezones", () => {
    assert.deepEqual(
      cronSchedule("@daily").next(utc("2026-12-31T12:00:00")),
      utc("2027-01-01T00:00:00"),
    );
    const tokyo = cronSchedule("0 9 * * *", { timezone: "Asia/Tokyo" });
    assert.equal(tokyo.matches(utc("2026-01-01T00:00:00")), true);
  });

  for (const expression of ["61 * * * *", "* * * *", "0 0 1 1 * * 2026", "x * * * *", ""]) {
    it(`rejects ${JSON.stringify(expression)} with RangeError quoting it`, () => {
      assert.throws(() => cronSchedule(expression), (error: unknown) => {
        assert.ok(error instanceof RangeError, String(error));
        assert.ok(error.message.includes(`"${expression}"`), error.message);
        return true;
      });
    });
  }

  it("rejects an ISO date (croner would make it a one-off)", () => {
    assert.throws(() => cronSchedule("2026-01-01T00:00:00"), RangeError);
  });

  it("rejects a non-string with TypeError", () => {
    assert.throws(() => cronSchedule(5 as unknown as string), TypeError);
  });
});

describe("toSchedule", () => {
  it("returns a schedule as is", () => {
    const schedule = crontab.hourly();
    assert.equal(toSchedule(schedule), schedule);
  });

  it("parses a string as a cron expression", () => {
    const schedule = toSchedule("*/5 * * * * *");
    assert.equal(schedule.hasSeconds, true);
    assert.equal(schedule.matches(utc("2026-01-01T00:00:05")), true);
    assert.throws(() => toSchedule("nope"), RangeError);
  });

  it("wraps a function, called with seconds and milliseconds zeroed", () => {
    const seen: string[] = [];
    const schedule = toSchedule((date) => {
      seen.push(date.toISOString());
      return date.getUTCHours() === 3 && date.getUTCMinutes() === 0;
    });
    assert.equal(schedule.hasSeconds, false);
    assert.equal(schedule.local(), schedule);
    assert.equal(schedule.matches(utc("2026-01-01T03:00:42.123")), true);
    assert.deepEqual(seen, ["2026-01-01T03:00:00.000Z"]);
    assert.equal(schedule.matches(utc("2026-01-01T03:01:00")), false);
    assert.deepEqual(schedule.next(utc("2026-01-01T03:00:00")), utc("2026-01-02T03:00:00"));
    assert.deepEqual(schedule.next(utc("2026-12-31T03:00:30")), utc("2027-01-01T03:00:00"));
  });

  it("a function's next() throws RangeError after a year without a match", () => {
    const never = toSchedule(() => false);
    assert.throws(() => never.next(utc("2026-01-01T00:00:00")), RangeError);
  });

  it("rejects anything else with TypeError", () => {
    assert.throws(() => toSchedule(42 as unknown as string), TypeError);
    assert.throws(() => toSchedule({} as unknown as string), TypeError);
  });
});
