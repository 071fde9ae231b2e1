/**
 * The fault-injection scenarios of issue #6, run on any storage target with real consumer
 * processes of the runtime running the tests (so Deno's run gives Deno consumers and
 * Bun's gives Bun consumers):
 *
 * - a. SIGKILL: 10,000 tasks, three consumers, one of them SIGKILLed 20 times at seeded
 *   random moments and restarted; nothing lost, duplicates within the tasks in flight.
 * - b. 1,000 bad messages mixed into 10,000 good ones on a signing instance: every good
 *   one done once, every bad one in dead letter with its reason, the consumers still
 *   running, `Object.prototype` untouched in them.
 * - c. Four consumers, 20,000 tasks, no faults: each executed exactly once.
 * - e. (Targets with a restartable server: Redis.) 10,000 tasks, two consumers, the
 *   server (`appendonly yes`) stopped cleanly in the middle of the drain and started again:
 *   nothing lost, duplicates within the leases that came back, the same consumer processes
 *   resume, each logging exactly one "Storage unavailable" and one "Storage available
 *   again" line. `DEWEY_FAULTS_RESTART=SIGKILL` stops the server with SIGKILL instead.
 * - d. No secret (signing key, forger's key, task token, the target's own secrets) in
 *   any log captured during a–c (and e).
 *
 * Each scenario prints its figures, also when it fails, and with `DEWEY_FAULTS_REPORT`
 * set appends them to that file (see `scripts/faults_report.mjs`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { describe, it as test } from "node:test";
import process from "node:process";
import { badMessages } from "./bad_messages.ts";
import { type FaultApp, type PrototypeReport, prototypeReport } from "./fixture.ts";
import {
  type FaultTarget,
  type Figures,
  type Fleet,
  leaseLapses,
  readRecords,
  recordedBy,
  recordedLines,
  reportFigures,
  returnedLeases,
  RUNTIME,
  secretsIn,
  sleep,
  tally,
  testRandom,
  waitUntil,
  withSandbox,
} from "./support.ts";

/** Generous per-test limit: a stalled scenario fails by its own stall check first. */
const TIMEOUT = { timeout: 240_000 };

/** The consumer's line when its storage starts failing (one per outage). */
const UNAVAILABLE = /Storage unavailable, backing off: /;
/** The consumer's line when its storage works again. */
const AVAILABLE_AGAIN = /Storage available again/;

/** Occurrences of `pattern` (a non-global RegExp) in `text`. */
function count(text: string, pattern: RegExp): number {
  return [...text.matchAll(new RegExp(pattern.source, "g"))].length;
}

/** Enqueues `record(0 … count-1, token?)` in chunks of 1,000. */
async function enqueueIds(app: FaultApp, count: number, token?: string): Promise<void> {
  for (let first = 0; first < count; first += 1000) {
    const n = Math.min(1000, count - first);
    await app.record.map(
      Array.from(
        { length: n },
        (_, i): [number, string?] => token ? [first + i, token] : [first + i],
      ),
    );
  }
}

/** The pending, leased and recorded counts and the consumers' last lines (for failures). */
async function state(app: FaultApp, out: string, fleet: Fleet): Promise<string> {
  const [pending, leased, dead] = await Promise.all([
    app.dewey.pendingCount(),
    app.dewey.leasedCount(),
    app.dewey.storage.deadLetters().then((letters) => letters.length),
  ]);
  return `pending ${pending}, leased ${leased}, dead letters ${dead}, ` +
    `recorded ${recordedLines(out)}\n${fleet.tails()}`;
}

/** The first line of an error, for the figures of a failed scenario. */
function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0].slice(0, 200);
}

/**
 * Runs a scenario and reports `figures` whatever happens: a failure is reported with its
 * first line, then rethrown. `body` fills in the figures as it learns them.
 */
async function measured(figures: Figures, body: (figures: Figures) => Promise<void>) {
  try {
    await body(figures);
    figures.passed = true;
  } catch (error) {
    figures.passed = false;
    figures.failure = firstLine(error);
    throw error;
  } finally {
    reportFigures(figures);
  }
}

/**
 * Registers the scenarios for `target` (call inside a test file). `DEWEY_FAULTS_ONLY`
 * (e.g. `a,c`) registers only those scenarios, for working on one; CI leaves it unset.
 */
export function faultScenarios(target: FaultTarget): void {
  const only = process.env.DEWEY_FAULTS_ONLY?.split(",").map((s) => s.trim());
  const it = (name: string, options: { timeout?: number }, body: () => Promise<void> | void) => {
    if (!only || only.includes(name[0])) test(name, options, body);
  };
  const logged = target.restartable ? "abce" : "abc";
  const scenarioCount = only?.filter((letter) => logged.includes(letter)).length ??
    logged.length;
  /** Each scenario's captured consumer output (also of a failed scenario), for d. */
  const logs = new Map<string, string>();
  const SIGNING_KEY = `signing-${crypto.randomUUID()}`;
  const FORGER_KEY = `forger-${crypto.randomUUID()}`;
  const TOKEN = `token-${crypto.randomUUID()}`;
  const secrets = [SIGNING_KEY, FORGER_KEY, TOKEN, ...target.secrets];

  /** Figures with nothing measured yet. */
  const blank = (scenario: string, consumers: number, tasks: number): Figures => ({
    scenario,
    storage: target.label,
    runtime: RUNTIME,
    consumers,
    tasks,
    bad: 0,
    kills: 0,
    lost: 0,
    duplicates: 0,
    deadLettered: 0,
    secretsInLogs: 0,
    logBytes: 0,
    wallMs: 0,
  });

  /**
   * Fills the figures every scenario shares from the recorded ids, the dead letters and
   * the consumers' output so far; returns the tally and the output.
   */
  async function collect(
    figures: Figures,
    { app, out, fleet, started }: { app: FaultApp; out: string; fleet: Fleet; started: number },
  ) {
    const counts = readRecords(out);
    const tallied = tally(counts, figures.tasks);
    const output = fleet.output();
    figures.lost = tallied.lost.length;
    figures.duplicates = tallied.duplicates;
    figures.deadLettered = (await app.dewey.storage.deadLetters()).length;
    figures.leaseLapses = leaseLapses(output);
    figures.secretsInLogs = secretsIn(output, secrets).length;
    figures.logBytes = output.length;
    figures.wallMs = Date.now() - started;
    logs.set(figures.scenario, output);
    return { counts, ...tallied, output };
  }

  /** Registers scenario e: the storage's server restarted in the middle of a drain. */
  function restartScenario(): void {
    const signal = process.env.DEWEY_FAULTS_RESTART === "SIGKILL" ? "SIGKILL" : "SIGTERM";
    const title = `e. ${target.label} restarted (${signal}) in the middle of a drain of ` +
      "10,000 tasks";
    it(title, TIMEOUT, async () => {
      const TASKS = 10_000;
      const CONSUMERS = 2;
      const figures = blank("e. storage restart", CONSUMERS, TASKS);
      figures.restarts = 0;
      figures.restartSignal = signal;
      // A 5 s lease: long enough to outlive the outage (a second or two) through heartbeats,
      // short enough that a lease whose dequeue reply the shutdown swallowed (the message is
      // leased in the server, its consumer never saw it) comes back within the stall check.
      const options = { restartable: true, visibility: 5 };
      await measured(
        figures,
        (figures) =>
          withSandbox(target, options, async ({ app, out, fleet, storage }) => {
            const consumers = fleet(["-w", "4", "-n", "-S", "-s", "0.5", "-m", "0.5"]);
            await consumers.start(CONSUMERS);
            const members = [...consumers.members];
            const pids = members.map((cli) => cli.child.pid!);
            const started = Date.now();
            const describe = () => state(app, out, consumers);
            let beforeRestart: number[] = [];
            try {
              // The token stands for a secret argument: no log line may show it.
              await enqueueIds(app, TASKS, TOKEN);
              await waitUntil(
                `${TASKS / 4} ids recorded before the restart`,
                () => recordedLines(out) >= TASKS / 4,
                { progress: () => recordedLines(out), describe },
              );
              const down = Date.now();
              await storage.stopServer!({ kill: signal === "SIGKILL" });
              // The server stays down until every consumer noticed: each must log the outage.
              await Promise.all(members.map((cli) => cli.waitForStderr(UNAVAILABLE, 20_000)));
              // Without a server nothing new is leased: this is each consumer's work so far.
              beforeRestart = pids.map((pid) => recordedBy(out, pid));
              await storage.startServer!();
              figures.restarts = 1;
              figures.outageMs = Date.now() - down;
              await Promise.all(members.map((cli) => cli.waitForStderr(AVAILABLE_AGAIN, 20_000)));
              await waitUntil(
                "every id recorded, an empty queue",
                async () =>
                  readRecords(out).size >= TASKS && await app.dewey.pendingCount() === 0 &&
                  await app.dewey.leasedCount() === 0,
                // The leases that come back do so within 5 s + a scheduler interval: a
                // longer stall means tasks that will never come back, i.e. lost ones.
                { progress: () => recordedLines(out), stallMs: 12_000, describe },
              );
            } finally {
              await collect(figures, { app, out, fleet: consumers, started });
            }
            // The consumers started before the restart (the fleet restarts none) still run,
            // and each ran tasks after it (asserted below).
            assert.ok(consumers.allRunning(), await describe());
            const afterRestart = pids.map((pid, i) => recordedBy(out, pid) - beforeRestart[i]);
            await consumers.stop();
            const { lost, duplicates, strays, output } = await collect(figures, {
              app,
              out,
              fleet: consumers,
              started,
            });
            const inFlight = returnedLeases(output);
            figures.inFlightAtKills = inFlight;

            assert.deepEqual(lost.slice(0, 20), [], `${lost.length} ids lost`);
            assert.deepEqual(strays, []);
            assert.ok(
              afterRestart.every((n) => n > 0),
              `every consumer ran tasks after the restart: ${afterRestart}`,
            );
            // One line each way per consumer, not one per failed poll.
            const lineCounts = members.map((cli) => [
              count(cli.stderr(), UNAVAILABLE),
              count(cli.stderr(), AVAILABLE_AGAIN),
            ]);
            assert.deepEqual(
              lineCounts,
              members.map(() => [1, 1]),
              `state lines\n${consumers.tails()}`,
            );
            // A task runs twice only when its lease expired before its ack was stored (the
            // heartbeat could not renew it through the outage): such leases come back through
            // the scheduler's "Returned N task(s)" line. (After a SIGKILL, writes the server
            // acknowledged but never wrote to its file are lost too; a lost dequeue puts a
            // task back in the queue without that line, so this may fail there.)
            const context = `(leases returned ${inFlight}, lease lapses ${figures.leaseLapses})`;
            assert.ok(duplicates <= inFlight, `${duplicates} duplicates ${context}`);
            assert.equal(figures.deadLettered, 0);
            assert.deepEqual(secretsIn(output, secrets), [], "secrets in the consumers' logs");
          }),
      );
    });
  }

  describe(`fault injection on ${target.label} (${RUNTIME} consumers)`, () => {
    it("a. SIGKILL: 10,000 tasks, one of three consumers killed 20 times", TIMEOUT, async () => {
      const TASKS = 10_000;
      const CONSUMERS = 3;
      const WORKERS = 4;
      const KILLS = 20;
      const random = testRandom(`a. SIGKILL on ${target.label}/${RUNTIME}`);
      const figures = blank("a. SIGKILL", CONSUMERS, TASKS);
      figures.seed = random.seed;
      figures.duplicateBound = WORKERS * KILLS;
      // A short lease brings a killed consumer's tasks back quickly; tasks taking 15 ms
      // after recording keep the victim busy, so each kill lands with tasks in flight.
      await measured(
        figures,
        (figures) =>
          withSandbox(target, { visibility: 2, taskMs: 15 }, async ({ app, out, fleet }) => {
            const consumers = fleet(["-w", String(WORKERS), "-n", "-S", "-s", "0.5"]);
            await consumers.start(CONSUMERS);
            const started = Date.now();
            const describe = () => state(app, out, consumers);
            let busyKills = 0;
            try {
              // The token stands for a secret argument: no log line may show it.
              await enqueueIds(app, TASKS, TOKEN);
              for (let kill = 0; kill < KILLS; kill++) {
                // Spread the kills over the drain, leaving its tail for the recovery.
                const threshold = Math.floor(((kill + 1) * TASKS) / (KILLS + 3));
                await waitUntil(
                  `${threshold} ids recorded before kill ${kill + 1}`,
                  () => recordedLines(out) >= threshold,
                  { progress: () => recordedLines(out), describe },
                );
                // The victim (slot 0) must be working: it recorded an id, or nothing is left.
                const victim = consumers.members[0];
                await waitUntil(
                  `the victim working before kill ${kill + 1}`,
                  async () =>
                    recordedBy(out, victim.child.pid!) > 0 ||
                    await app.dewey.pendingCount() === 0,
                  { progress: () => recordedLines(out), describe },
                );
                if (recordedBy(out, victim.child.pid!) > 0) busyKills++;
                await sleep(random.int(0, 250));
                await consumers.kill(0);
                figures.kills++;
                await consumers.restart(0);
              }
              await waitUntil(
                "every id recorded, an empty queue",
                async () =>
                  readRecords(out).size >= TASKS && await app.dewey.pendingCount() === 0 &&
                  await app.dewey.leasedCount() === 0,
                { progress: () => recordedLines(out), describe },
              );
            } finally {
              await collect(figures, { app, out, fleet: consumers, started });
            }
            assert.ok(consumers.allRunning(), await describe());
            await consumers.stop();
            const { lost, duplicates, strays, output } = await collect(figures, {
              app,
              out,
              fleet: consumers,
              started,
            });
            const inFlight = returnedLeases(output);
            figures.inFlightAtKills = inFlight;

            assert.deepEqual(lost.slice(0, 20), [], `${lost.length} ids lost`);
            assert.deepEqual(strays, []);
            // A task runs twice only when its consumer died holding its lease, so the
            // duplicates are bounded by the leases that came back after expiring. A consumer
            // holds one lease per busy worker slot, plus one per finished task whose result
            // and ack are being committed (the consumer frees the slot during that commit).
            const context = `(in flight at the kills ${inFlight}, ` +
              `lease lapses ${figures.leaseLapses})`;
            assert.ok(duplicates <= inFlight, `${duplicates} duplicates ${context}`);
            assert.ok(
              inFlight <= 2 * WORKERS * KILLS + figures.leaseLapses!,
              `more leases came back than ${KILLS} kills × 2 × ${WORKERS} workers ${context}`,
            );
            assert.ok(
              busyKills >= KILLS / 2,
              `only ${busyKills} of ${KILLS} kills hit a busy consumer`,
            );
            assert.equal(figures.deadLettered, 0);
            assert.deepEqual(secretsIn(output, secrets), [], "secrets in the consumers' logs");
            assert.match(output, /Returned \d+ task\(s\) with expired leases to the queue/);
          }),
      );
    });

    it("b. 1,000 bad messages mixed into 10,000 good ones", TIMEOUT, async () => {
      const GOOD = 10_000;
      const BAD = 1_000;
      const CONSUMERS = 2;
      const random = testRandom(`b. bad messages on ${target.label}/${RUNTIME}`);
      const figures = blank("b. bad messages", CONSUMERS, GOOD);
      figures.seed = random.seed;
      figures.bad = BAD;
      await measured(
        figures,
        (figures) =>
          withSandbox(target, { signingKey: SIGNING_KEY }, async ({ app, out, fleet }) => {
            const bad = await badMessages(random, BAD, SIGNING_KEY, FORGER_KEY, "record");
            const items = bad.map(({ data }) => ({ data, priority: 0 }));
            for (let id = 0; id < GOOD; id++) {
              items.push({ data: await app.dewey.serialize(app.record.s(id, TOKEN)), priority: 0 });
            }
            // Seeded Fisher–Yates: the bad ones spread through the good ones.
            for (let i = items.length - 1; i > 0; i--) {
              const j = random.int(0, i);
              [items[i], items[j]] = [items[j], items[i]];
            }
            const started = Date.now();
            for (let first = 0; first < items.length; first += 1000) {
              await app.dewey.storage.enqueueMany(items.slice(first, first + 1000));
            }
            const consumers = fleet(["-w", "4", "-n", "-S"]);
            await consumers.start(CONSUMERS);
            const describe = () => state(app, out, consumers);
            const deadCount = async () => (await app.dewey.storage.deadLetters()).length;
            try {
              await waitUntil(
                "every good id recorded, every bad message in dead letter, an empty queue",
                async () =>
                  recordedLines(out) >= GOOD && await deadCount() >= BAD &&
                  await app.dewey.pendingCount() === 0 && await app.dewey.leasedCount() === 0,
                {
                  progress: async () => recordedLines(out) + await deadCount(),
                  stallMs: 15_000,
                  describe,
                },
              );
            } finally {
              await collect(figures, { app, out, fleet: consumers, started });
            }

            // Each consumer is still running and reports clean prototypes.
            assert.ok(consumers.allRunning(), await describe());
            const pids = new Set(consumers.members.map((cli) => cli.child.pid));
            const reports = new Map<number, PrototypeReport>();
            for (let i = 0; i < 40 && reports.size < pids.size; i++) {
              const result = await app.probe();
              const report = await result.get({ blocking: true, timeout: 20, maxDelay: 0.05 });
              if (report) reports.set(report.pid, report);
            }
            assert.deepEqual(new Set(reports.keys()), pids, "a probe ran in every consumer");
            const mine = prototypeReport();
            for (const report of reports.values()) {
              assert.deepEqual({ ...report, pid: 0 }, { ...mine, pid: 0 });
              assert.deepEqual(report.enumerable, []);
              assert.equal(report.polluted, false);
            }
            assert.equal(({} as Record<string, unknown>).polluted, undefined);
            await consumers.stop();
            const { lost, duplicates, strays, output } = await collect(figures, {
              app,
              out,
              fleet: consumers,
              started,
            });
            figures.wallMs = Date.now() - started;
            const letters = await app.dewey.deadLetters();
            const leakedInLetters = secretsIn(letters.map((l) => l.reason).join("\n"), secrets);
            figures.secretsInLogs += leakedInLetters.length;

            assert.deepEqual(lost.slice(0, 20), [], `${lost.length} good ids lost`);
            assert.deepEqual(strays, []);
            assert.equal(duplicates, 0);
            assert.equal(letters.length, BAD);
            // Every exact bad message is in dead letter with its reason; what a storage may
            // alter (garbage with NUL or lone surrogates) is matched by its reason.
            const unmatched = [...letters];
            const problems: string[] = [];
            for (const message of bad.filter((m) => !m.lossy)) {
              const index = unmatched.findIndex((letter) => letter.data === message.data);
              if (index === -1) {
                problems.push(
                  `${message.category}: not in dead letter: ${message.data.slice(0, 80)}`,
                );
                continue;
              }
              const [letter] = unmatched.splice(index, 1);
              if (!message.reason.test(letter.reason)) {
                problems.push(
                  `${message.category}: reason "${letter.reason}" !~ ${message.reason}`,
                );
              }
              assert.ok(letter.at instanceof Date && !isNaN(+letter.at));
            }
            const lossy = bad.filter((m) => m.lossy);
            assert.equal(unmatched.length, lossy.length, problems.join("\n"));
            for (const letter of unmatched) {
              if (!lossy[0].reason.test(letter.reason)) {
                problems.push(`garbage: "${letter.reason}"`);
              }
            }
            assert.deepEqual(problems, []);
            assert.deepEqual(leakedInLetters, [], "secrets in dead-letter reasons");
            assert.deepEqual(secretsIn(output, secrets), [], "secrets in the consumers' logs");
          }),
      );
    });

    it("c. four consumers, 20,000 tasks, no faults: each executed once", TIMEOUT, async () => {
      const TASKS = 20_000;
      const CONSUMERS = 4;
      const figures = blank("c. exactly once", CONSUMERS, TASKS);
      await measured(figures, (figures) =>
        withSandbox(target, {}, async ({ app, out, fleet }) => {
          const consumers = fleet(["-w", "4", "-n", "-S"]);
          await consumers.start(CONSUMERS);
          const started = Date.now();
          try {
            // The token stands for a secret argument: no log line may show it.
            await enqueueIds(app, TASKS, TOKEN);
            await waitUntil(
              "every id recorded, an empty queue",
              async () =>
                recordedLines(out) >= TASKS && await app.dewey.pendingCount() === 0 &&
                await app.dewey.leasedCount() === 0,
              { progress: () => recordedLines(out), describe: () => state(app, out, consumers) },
            );
          } finally {
            await collect(figures, { app, out, fleet: consumers, started });
          }
          assert.ok(consumers.allRunning(), await state(app, out, consumers));
          const perConsumer = consumers.members.map((cli) => recordedBy(out, cli.child.pid!));
          await consumers.stop();
          const { counts, lost, duplicates, strays, output } = await collect(figures, {
            app,
            out,
            fleet: consumers,
            started,
          });

          assert.deepEqual(lost.slice(0, 20), [], `${lost.length} ids lost`);
          assert.deepEqual(strays, []);
          assert.equal(duplicates, 0);
          assert.equal([...counts.values()].every((n) => n === 1), true);
          assert.equal(counts.size, TASKS);
          assert.equal(figures.deadLettered, 0);
          assert.ok(perConsumer.every((n) => n > 0), `every consumer worked: ${perConsumer}`);
          assert.deepEqual(secretsIn(output, secrets), [], "secrets in the consumers' logs");
        }));
    });

    if (target.restartable) restartScenario();

    it(`d. no secret in any log captured during ${logged.split("").join(", ")}`, {}, async () => {
      const text = [...logs.values()].join("\n");
      const figures = blank("d. secrets in logs", 0, 0);
      await measured(figures, () => {
        figures.secretsInLogs = secretsIn(text, secrets).length;
        figures.logBytes = text.length;
        assert.equal(
          logs.size,
          scenarioCount,
          `each scenario captured its logs: ${[...logs.keys()]}`,
        );
        // The capture is real: it holds the consumers' task lines.
        assert.match(text, /Executing record /);
        assert.equal(figures.secretsInLogs, 0, "secrets in the captured logs");
        return Promise.resolve();
      });
    });
  });
}
