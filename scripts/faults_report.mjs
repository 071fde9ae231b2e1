#!/usr/bin/env node
// Runs the fault-injection suite (tests/faults/, under Deno and then Bun through
// scripts/test.mjs) with DEWEY_FAULTS_REPORT set, then writes bench/faults.md: a Markdown
// table of every scenario's figures (tasks, kills, lost, duplicates, dead-lettered, wall
// time) per runtime, the codec fuzz's counts, and the suite's wall time per runtime.
// Scenarios that failed are in the table with their failure. Plain Node, like test.mjs.
//
//   node scripts/faults_report.mjs            # writes bench/faults.md, prints it
//   DEWEY_FAULTS_SEED=123 node scripts/faults_report.mjs   # replay seeds
//
// Exits with the test run's exit code (the file is written either way).
import { spawn, spawnSync } from "node:child_process";
import { cpus, platform, release } from "node:os";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tmp = join(root, ".tmp");
mkdirSync(tmp, { recursive: true });
const reportFile = join(tmp, "faults-report.jsonl");
rmSync(reportFile, { force: true });

function version(name, args) {
  const result = spawnSync(join(root, "node_modules", ".bin", name), args, { encoding: "utf8" });
  return (result.stdout ?? "").split("\n")[0].trim() || "unknown";
}

/** Runs test.mjs on tests/faults/, echoing its output; times each runtime's part. */
function runSuite() {
  return new Promise((resolve) => {
    const started = Date.now();
    let bunStarted;
    let output = "";
    const child = spawn(process.execPath, [join(root, "scripts", "test.mjs"), "tests/faults/"], {
      cwd: root,
      env: { ...process.env, DEWEY_FAULTS_REPORT: reportFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const take = (stream, target) =>
      stream.setEncoding("utf8").on("data", (chunk) => {
        // test.mjs prints "== bun test ==" only after Deno's run has ended.
        if (bunStarted === undefined && chunk.includes("== bun test ==")) bunStarted = Date.now();
        output += chunk;
        target.write(chunk);
      });
    take(child.stdout, process.stdout);
    take(child.stderr, process.stderr);
    child.on("close", (code) => {
      const ended = Date.now();
      const bunAt = bunStarted ?? ended;
      resolve({
        code: code ?? 1,
        output,
        denoMs: bunAt - started,
        bunMs: ended - bunAt,
        totalMs: ended - started,
      });
    });
  });
}

const run = await runSuite();
let records = [];
try {
  records = readFileSync(reportFile, "utf8").split("\n").filter(Boolean).map((line) =>
    JSON.parse(line)
  );
} catch {
  // No figures at all: the table says so below.
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const dash = (value) => (value === undefined || value === null ? "—" : String(value));
const counts = (runtime) =>
  run.output.match(new RegExp(`^${runtime}: (\\d+) passed, (\\d+) failed`, "m"))?.slice(1, 3) ??
    ["?", "?"];
const [denoPassed, denoFailed] = counts("deno");
const [bunPassed, bunFailed] = counts("bun");

const scenarios = records.filter((r) => r.cases === undefined);
const fuzz = records.filter((r) => r.cases !== undefined);
const order = (r) => `${r.scenario}\u0000${r.storage}\u0000${r.runtime === "deno" ? 0 : 1}`;
scenarios.sort((a, b) => order(a).localeCompare(order(b)));

const lines = [
  "# Fault-injection figures",
  "",
  `Written by \`node scripts/faults_report.mjs\` on ${new Date().toISOString().slice(0, 10)}: ` +
  `${cpus().length} CPUs, ${platform()} ${release()}, ${version("deno", ["--version"])}, ` +
  `Bun ${version("bun", ["--version"])}. Every scenario of \`tests/faults/\` (issue #6) ran ` +
  "once per runtime, with consumer processes (`cli.ts consume`) of that runtime.",
  "",
  `Test run: Deno ${denoPassed} passed, ${denoFailed} failed; Bun ${bunPassed} passed, ` +
  `${bunFailed} failed. Wall time of the whole folder: Deno ${seconds(run.denoMs)}, ` +
  `Bun ${seconds(run.bunMs)}, ${seconds(run.totalMs)} together.`,
  "",
  "| scenario | storage | runtime | consumers | tasks | bad | kills | lost | duplicates " +
  "| in flight at kills | dead-lettered | secrets in logs | wall time | result |",
  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
];
for (const r of scenarios) {
  const isLogCheck = r.scenario.startsWith("d.");
  const cell = (value) => (isLogCheck ? "—" : dash(value));
  const result = r.passed === false ? `**failed**: ${r.failure ?? "?"}` : "passed";
  // Scenario e restarts the storage's server instead of killing consumers.
  const kills = r.restarts === undefined
    ? cell(r.kills)
    : `${r.kills} (${r.restarts} server restart, ${r.restartSignal}, down ` +
      `${seconds(r.outageMs ?? 0)})`;
  const duplicates = r.duplicateBound === undefined
    ? cell(r.duplicates)
    : `${r.duplicates} (workers × kills: ${r.duplicateBound})`;
  lines.push(
    `| ${r.scenario} | ${r.storage} | ${r.runtime} | ${cell(r.consumers)} | ${cell(r.tasks)} ` +
      `| ${cell(r.bad)} | ${kills} | ${cell(r.lost)} | ${isLogCheck ? "—" : duplicates} ` +
      `| ${cell(r.inFlightAtKills)} | ${cell(r.deadLettered)} | ${r.secretsInLogs} ` +
      `(${(r.logBytes / 1e6).toFixed(1)} MB scanned) | ${isLogCheck ? "—" : seconds(r.wallMs)} ` +
      `| ${result.replaceAll("|", "\\|")} |`,
  );
}
if (scenarios.length === 0) lines.push("| (no figures were reported) | | | | | | | | | | | | | |");
lines.push(
  "",
  "Lost: ids never recorded (for a failed scenario: not recorded when it stopped).",
  "Duplicates: extra records of ids recorded more than once. In flight at kills: the leases",
  'that came back after expiring (the consumers\' "Returned N task(s) with expired leases"',
  "lines), the measured number of tasks the killed consumer held; scenario a asserts",
  "duplicates ≤ that number. Secrets in logs: occurrences of the signing key, a forger's key",
  "and a token passed as a task argument, and on Redis the server's password (in the URL",
  "every process connects with), in the consumers' output. Wall time: from the first",
  "enqueue to the last check.",
  "",
  "Redis: a private `redis-server` per scenario on 127.0.0.1 over TCP (ioredis), with",
  "`requirepass`. Scenario e (Redis only): `appendonly yes`, `appendfsync everysec`; two",
  "consumers drain 10,000 tasks; after a quarter the server is stopped (SIGTERM: a clean",
  "shutdown that writes and syncs the append-only file), kept down until each consumer logged",
  '"Storage unavailable", then started again on the same port and data. Asserted: nothing',
  "lost, the same consumer processes finish the drain (each runs tasks after the restart),",
  'each logs exactly one "Storage unavailable" and one "Storage available again" line, and',
  "duplicates ≤ the leases that came back after expiring (its in-flight column). Down: from",
  "the stop until the server answered again. `DEWEY_FAULTS_RESTART=SIGKILL` replays e with",
  "a SIGKILL, where writes Redis acknowledged but had not yet written to the file are lost.",
);
if (fuzz.length) {
  lines.push(
    "",
    "## Codec fuzz",
    "",
    "| check | runtime | cases | decoded | DecodeError | anything else | time | seed |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
  );
  for (const f of fuzz) {
    lines.push(
      `| ${f.scenario} | ${f.runtime} | ${f.cases} | ${f.decoded} | ${f.rejected} ` +
        `| ${f.failures} | ${seconds(f.wallMs)} | ${f.seed} |`,
    );
  }
}
const seeds = scenarios.filter((r) => r.seed !== undefined);
if (seeds.length) {
  lines.push(
    "",
    "Seeds (replay one with `DEWEY_FAULTS_SEED=N`): " +
      seeds.map((r) => `${r.scenario[0]}/${r.storage}/${r.runtime} ${r.seed}`).join(", ") + ".",
  );
}
mkdirSync(join(root, "bench"), { recursive: true });
const target = join(root, "bench", "faults.md");
writeFileSync(target, lines.join("\n") + "\n");
// The file is checked by `deno fmt --check` like every other file: write it formatted.
spawnSync(join(root, "node_modules", ".bin", "deno"), ["fmt", "--quiet", target], { cwd: root });
console.log(`\n${readFileSync(target, "utf8")}`);
console.log("wrote bench/faults.md");
process.exit(run.code);
