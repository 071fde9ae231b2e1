/**
 * The command line (`cli.ts`): argument parsing in process, and every command in a real
 * child process run by the runtime running the tests — help, version, one-line usage
 * errors with exit code 2, `info`, `flush`, `enqueue`, and `consume` stopping on SIGTERM
 * (waiting for the running task) or on a second SIGINT (interrupting it).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FLAGS, parseArguments } from "../src/cli/args.ts";
import { lines, root, runCli, startCli } from "./support/cli.ts";

const TASKS = "tests/fixtures/cli_tasks.ts";
const TWO = "tests/fixtures/cli_two.ts";
const NONE = "tests/fixtures/cli_none.ts";
const NO_KV = "tests/fixtures/cli_no_kv.ts";
const THROWS = "tests/fixtures/cli_throws.ts";
const MEMORY_WARNING =
  "warning: the instance uses a MemoryStorage, which lives in this process only";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const tmp = mkdtempSync(join(tmpdir(), "dewey-cli-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
const tmpFile = (name: string) => join(tmp, `${++files}-${name}`);

/** Asserts a usage error: exit 2, nothing on stdout, `expected` as the one error line. */
async function assertUsageError(
  args: string[],
  expected: string | RegExp,
  warnings: string[] = [],
) {
  const { code, stdout, stderr } = await runCli(args);
  assert.equal(stdout, "");
  const errLines = lines(stderr);
  assert.deepEqual(errLines.slice(0, -1), warnings, stderr);
  const last = errLines.at(-1) ?? "";
  if (typeof expected === "string") assert.equal(last, expected);
  else assert.match(last, expected);
  assert.equal(code, 2, stderr);
}

describe("argument parsing", () => {
  it("reads every consume flag into ConsumerOptions", () => {
    const parsed = parseArguments([
      "consume",
      "tasks.ts",
      "-w",
      "4",
      "-k",
      "process",
      "-n",
      "-d",
      "0.5",
      "-m",
      "20",
      "-b",
      "1.5",
      "-l",
      "out.log",
      "-v",
      "-S",
      "--localtime",
      "-f",
      "-L",
      "a,b",
      "-L",
      "c",
      "-c",
      "5",
      "-C",
      "-M",
      "100",
      "-s",
      "30",
      "--instance",
      "main",
    ]);
    assert.deepEqual(parsed, {
      kind: "command",
      command: "consume",
      module: "tasks.ts",
      rest: [],
      options: {
        workers: 4,
        workerType: "process",
        periodic: false,
        delay: 0.5,
        maxDelay: 20,
        backoff: 1.5,
        logfile: "out.log",
        verbose: true,
        simple: true,
        utc: false,
        flushLocks: true,
        extraLocks: ["a", "b", "c"],
        healthCheckInterval: 5,
        checkWorkerHealth: false,
        maxTasks: 100,
        schedulerInterval: 30,
        instance: "main",
      },
    });
  });

  it("takes long flags with =, grouped short flags, and flags before the module", () => {
    const parsed = parseArguments(["consume", "--workers=2", "-nvw3", "--delay=.25", "t.ts"]);
    assert.deepEqual(parsed, {
      kind: "command",
      command: "consume",
      module: "t.ts",
      rest: [],
      options: { workers: 3, periodic: false, verbose: true, delay: 0.25 },
    });
  });

  it("leaves defaults to resolveConsumerOptions: no flags, no options", () => {
    assert.deepEqual(parseArguments(["consume", "t.ts"]), {
      kind: "command",
      command: "consume",
      module: "t.ts",
      rest: [],
      options: {},
    });
  });

  it("parses numbers strictly, naming the flag", () => {
    for (const bad of ["abc", "1x", "", " 1", "1e", "0x10", "Infinity", "NaN", "1.2.3"]) {
      assert.throws(
        () => parseArguments(["consume", "t.ts", `--delay=${bad}`]),
        { name: "UsageError", message: `invalid value for -d/--delay: "${bad}" is not a number` },
      );
    }
    for (const bad of ["1.5", "2x", "", "1e3"]) {
      assert.throws(
        () => parseArguments(["consume", "t.ts", `--workers=${bad}`]),
        {
          name: "UsageError",
          message: `invalid value for -w/--workers: "${bad}" is not an integer`,
        },
      );
    }
    for (const [raw, value] of [["1e1", 10], ["+2", 2], ["-1", -1], ["3.", 3]] as const) {
      const parsed = parseArguments(["consume", "t.ts", `-d${raw}`]);
      assert.equal(parsed.kind === "command" && parsed.options.delay, value);
    }
  });

  it("-h/--help and --version win over everything else", () => {
    assert.deepEqual(parseArguments(["consume", "--bogus", "-h"]), { kind: "help" });
    assert.deepEqual(parseArguments(["--help"]), { kind: "help" });
    assert.deepEqual(parseArguments(["info", "--version"]), { kind: "version" });
  });

  it("takes enqueue's NAME and ARGS_JSON; everything after -- is positional", () => {
    assert.deepEqual(parseArguments(["enqueue", "t.ts", "add", "[1, 2]", "--instance", "x"]), {
      kind: "command",
      command: "enqueue",
      module: "t.ts",
      rest: ["add", "[1, 2]"],
      options: { instance: "x" },
    });
    const parsed = parseArguments(["enqueue", "t.ts", "--", "-weird", "[]"]);
    assert.equal(parsed.kind === "command" && parsed.rest[0], "-weird");
  });

  it("has one table entry per flag of API.md, plus --events and --metrics-port", () => {
    const names = FLAGS.map((f) => (f.short ? `-${f.short}/--${f.long}` : `--${f.long}`));
    assert.deepEqual(names.sort(), [
      "--events",
      "--instance",
      "--localtime",
      "--metrics-port",
      "--utc",
      "--version",
      "-C/--disable-health-check",
      "-L/--extra-locks",
      "-M/--max-tasks",
      "-S/--simple",
      "-b/--backoff",
      "-c/--health-check-interval",
      "-d/--delay",
      "-f/--flush-locks",
      "-h/--help",
      "-k/--worker-type",
      "-l/--logfile",
      "-m/--max-delay",
      "-n/--no-periodic",
      "-q/--quiet",
      "-s/--scheduler-interval",
      "-v/--verbose",
      "-w/--workers",
    ]);
  });
});

describe("cli.ts", () => {
  it("--help: exit 0, every command and every consume flag with its default", async () => {
    const { code, stdout, stderr } = await runCli(["--help"]);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
    for (const command of ["consume", "info", "flush", "enqueue"]) {
      assert.match(stdout, new RegExp(`^  ${command} MODULE`, "m"));
    }
    for (
      const [flag, fallback] of [
        ["-w, --workers N", "(default: 1)"],
        ["-k, --worker-type TYPE", "(default: async)"],
        ["-d, --delay SECONDS", "(default: 0.1)"],
        ["-m, --max-delay SECONDS", "(default: 10)"],
        ["-b, --backoff FACTOR", "(default: 1.15)"],
        ["-s, --scheduler-interval SECONDS", "(default: 1)"],
        ["-c, --health-check-interval SECONDS", "(default: 10)"],
        ["-l, --logfile FILE", "(default: stderr)"],
      ]
    ) {
      const line = stdout.split("\n").find((l) => l.trimStart().startsWith(flag));
      assert.ok(line?.endsWith(fallback), `${flag}: ${line}`);
    }
    for (const flag of FLAGS) assert.ok(stdout.includes(`--${flag.long}`), flag.long);
    assert.ok(stdout.split("\n").every((l) => l.length <= 100));
  });

  it("-h is --help", async () => {
    const { code, stdout } = await runCli(["consume", "-h"]);
    assert.equal(code, 0);
    assert.match(stdout, /^Usage:$/m);
  });

  it("--version prints deno.json's version", async () => {
    const { version } = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
    const { code, stdout, stderr } = await runCli(["--version"]);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, `dewey ${version}\n`);
  });

  describe("usage errors: one line on stderr, exit code 2", () => {
    const cases: [string, string[], string | RegExp, string[]?][] = [
      [
        "no command",
        [],
        "error: missing command (consume, info, flush, enqueue, dead-letter, dashboard, top; see --help)",
      ],
      [
        "unknown command",
        ["frobnicate", TASKS],
        'error: unknown command "frobnicate" (expected consume, info, flush, enqueue, ' +
        "dead-letter, dashboard, top)",
      ],
      [
        "unknown long flag",
        ["consume", TASKS, "--bogus"],
        'error: unknown option "--bogus" (see --help)',
      ],
      ["unknown short flag", ["consume", TASKS, "-Z"], 'error: unknown option "-Z" (see --help)'],
      [
        "missing module",
        ["consume", "-w", "2"],
        "error: consume needs a MODULE: consume MODULE [options]",
      ],
      [
        "not a number",
        ["consume", TASKS, "-w", "abc"],
        'error: invalid value for -w/--workers: "abc" is not an integer',
      ],
      [
        "trailing garbage",
        ["consume", TASKS, "-b", "1x"],
        'error: invalid value for -b/--backoff: "1x" is not a number',
      ],
      [
        "empty number",
        ["consume", TASKS, "--max-delay="],
        'error: invalid value for -m/--max-delay: "" is not a number',
      ],
      [
        "flag without its value",
        ["consume", TASKS, "-s"],
        "error: option -s/--scheduler-interval needs a value",
      ],
      [
        "unknown worker type",
        ["consume", TASKS, "-k", "thread"],
        'error: invalid value for -k/--worker-type: "thread" (expected async, worker, process)',
      ],
      [
        "backoff below 1",
        ["consume", TASKS, "-b", "0.5"],
        "error: invalid -b/--backoff: must be at least 1, got 0.5",
      ],
      [
        "scheduler interval not dividing 60",
        ["consume", TASKS, "-s", "7"],
        "error: invalid -s/--scheduler-interval: must be in (0, 60] and divide 60, got 7",
      ],
      [
        "scheduler interval above 60",
        ["consume", TASKS, "-s", "90"],
        "error: invalid -s/--scheduler-interval: must be in (0, 60] and divide 60, got 90",
      ],
      [
        "zero workers",
        ["consume", TASKS, "-w", "0"],
        "error: invalid -w/--workers: expected a positive integer, got 0",
      ],
      [
        "verbose and quiet",
        ["consume", TASKS, "-v", "-q"],
        "error: -v/--verbose and -q/--quiet cannot both be set",
      ],
      [
        "boolean flag with a value",
        ["consume", TASKS, "--verbose=yes"],
        "error: option -v/--verbose takes no value",
      ],
      [
        "consume flag on another command",
        ["info", TASKS, "-w", "2"],
        'error: option "-w" is for consume, not info',
      ],
      [
        "extra argument",
        ["flush", TASKS, "extra"],
        'error: unexpected argument "extra": flush MODULE [--instance NAME]',
      ],
      [
        "missing file",
        ["consume", "tests/fixtures/missing.ts"],
        "error: module not found: tests/fixtures/missing.ts",
      ],
      ["no instance", ["info", NONE], `error: ${NONE} exports no Dewey instance`],
      [
        "several instances",
        ["consume", TWO],
        `error: ${TWO} exports several Dewey instances (first, second): choose one with --instance NAME`,
      ],
      [
        "no such instance",
        ["info", TWO, "--instance", "third"],
        `error: ${TWO} exports no Dewey instance named "third" (found: first, second)`,
      ],
      [
        "Deno.openKv missing",
        ["consume", NO_KV],
        `error: cannot load ${NO_KV}: Deno.openKv is missing; run with --unstable-kv or set "unstable": ["kv"] in deno.json`,
      ],
      [
        "module throwing at load",
        ["info", THROWS],
        `error: cannot load ${THROWS}: the module failed`,
      ],
      ["enqueue without a task name", ["enqueue", TASKS], /^error: enqueue needs a task NAME: /],
      [
        "unknown task",
        ["enqueue", TASKS, "nope"],
        'error: unknown task "nope" (known: add, slow)',
        [
          MEMORY_WARNING,
        ],
      ],
      ["invalid JSON", ["enqueue", TASKS, "add", "[1"], /^error: ARGS_JSON is not valid JSON: \S/],
      [
        "JSON not an array",
        ["enqueue", TASKS, "add", '{"a": 1}'],
        "error: ARGS_JSON must be a JSON array of arguments, e.g. '[1, 2]'",
      ],
    ];
    for (const [name, args, expected, warnings] of cases) {
      it(name, () => assertUsageError(args, expected, warnings));
    }

    it("a log file in a missing directory", async () => {
      const file = join(tmp, "no-such-dir", "consumer.log");
      await assertUsageError(
        ["consume", TASKS, "-l", file],
        `error: cannot write the log file ${file}: its directory does not exist`,
      );
    });
  });

  it("an unexpected error: one line, exit code 1", async () => {
    const { code, stdout, stderr } = await runCli(["info", "tests/fixtures/cli_broken.ts"]);
    assert.equal(stdout, "");
    assert.deepEqual(lines(stderr), [MEMORY_WARNING, "error: Error: storage unreachable"]);
    assert.equal(code, 1);
  });

  it("info: one `name: value` line per count, then the task names", async () => {
    // Loading the fixture with a marker set enqueues one task in its (in-process) storage.
    const { code, stdout, stderr } = await runCli(["info", TASKS], {
      DEWEY_CLI_SLOW_MARKER: tmpFile("never-written"),
    });
    assert.equal(code, 0, stderr);
    assert.deepEqual(lines(stderr), [MEMORY_WARNING]);
    assert.deepEqual(lines(stdout), [
      "instance: cli-fixture",
      "storage: MemoryStorage",
      "pending: 1",
      "leased: 0",
      "scheduled: 0",
      "results: 0",
      "dead letters: 0",
      "tasks: add, slow",
    ]);
  });

  it("info --instance picks one of several instances", async () => {
    const { code, stdout, stderr } = await runCli(["info", TWO, "--instance", "second"]);
    assert.equal(code, 0, stderr);
    assert.ok(lines(stdout).includes("instance: cli-second"));
    assert.equal(lines(stdout).at(-1), "tasks: two");
  });

  it("flush: removes everything and says what was there", async () => {
    const { code, stdout, stderr } = await runCli(["flush", TASKS], {
      DEWEY_CLI_SLOW_MARKER: tmpFile("never-written"),
    });
    assert.equal(code, 0, stderr);
    assert.equal(
      stdout,
      'flushed instance "cli-fixture" (MemoryStorage): 1 pending, 0 leased, 0 scheduled, ' +
        "0 results, 0 dead letters removed\n",
    );
  });

  it("enqueue: prints the task id", async () => {
    const { code, stdout, stderr } = await runCli(["enqueue", TASKS, "add", "[1, 2]"]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(lines(stderr), [MEMORY_WARNING]);
    assert.match(stdout.trim(), UUID);
    const defaults = await runCli(["enqueue", TWO, "one", "--instance", "first"]);
    assert.equal(defaults.code, 0, defaults.stderr);
    assert.match(defaults.stdout.trim(), UUID);
    assert.match(defaults.stderr, /does not export the wrapper of "one": enqueued without its/);
  });

  describe("consume", () => {
    it("SIGTERM stops an idle consumer: exit 0", async () => {
      const cli = startCli(["consume", TASKS, "-n"]);
      try {
        await cli.waitForStderr(/consumer started/);
        assert.equal(
          lines(cli.stderr())[0],
          "warning: consuming a MemoryStorage: only this process can enqueue to it",
        );
        cli.signal("SIGTERM");
        assert.equal(await cli.exited(), 0, cli.stderr());
        assert.match(cli.stderr(), /INFO:dewey:consumer:Dewey consumer stopped$/m);
        assert.doesNotMatch(cli.stderr(), /error/i);
      } finally {
        cli.kill();
      }
    });

    it("SIGTERM waits for the running task to finish", async () => {
      const marker = tmpFile("graceful");
      const cli = startCli(["consume", TASKS, "-n"], {
        DEWEY_CLI_SLOW_MARKER: marker,
        DEWEY_CLI_SLOW_MS: "1500",
      });
      try {
        await cli.waitForStderr(/Executing slow /);
        cli.signal("SIGTERM");
        assert.equal(await cli.exited(), 0, cli.stderr());
        assert.ok(existsSync(marker), "the task finished before the exit");
        assert.match(cli.stderr(), /Stopping: finishing running tasks/);
        assert.match(cli.stderr(), /slow \S+ executed in/);
        assert.match(cli.stderr(), /Dewey consumer stopped$/m);
        assert.doesNotMatch(cli.stderr(), /interrupted/);
      } finally {
        cli.kill();
      }
    });

    it("a second SIGINT interrupts the running task and exits at once", async () => {
      const marker = tmpFile("interrupted");
      const cli = startCli(["consume", TASKS, "-n"], {
        DEWEY_CLI_SLOW_MARKER: marker,
        DEWEY_CLI_SLOW_MS: "20000",
      });
      try {
        await cli.waitForStderr(/Executing slow /);
        cli.signal("SIGINT");
        await cli.waitForStderr(/Stopping: finishing running tasks/);
        const second = Date.now();
        cli.signal("SIGINT");
        assert.equal(await cli.exited(5000), 0, cli.stderr());
        assert.ok(Date.now() - second < 5000);
        assert.match(cli.stderr(), /WARNING:dewey:worker:slow \S+ interrupted$/m);
        assert.match(cli.stderr(), /Dewey consumer stopped$/m);
        assert.ok(!existsSync(marker), "the task did not finish");
      } finally {
        cli.kill();
      }
    });

    it("--logfile appends the log lines to the file", async () => {
      const logfile = tmpFile("consumer.log");
      const cli = startCli(["consume", TASKS, "-n", "-S", "--logfile", logfile]);
      try {
        const started = () =>
          existsSync(logfile) && /consumer started/.test(readFileSync(logfile, "utf8"));
        const deadline = Date.now() + 20_000;
        while (!started() && Date.now() < deadline && cli.child.exitCode === null) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.ok(started(), cli.stderr());
        cli.signal("SIGTERM");
        assert.equal(await cli.exited(), 0, cli.stderr());
        const log = lines(readFileSync(logfile, "utf8"));
        assert.match(log[0], /^\d\d:\d\d:\d\d Dewey consumer started: instance "cli-fixture"/);
        assert.match(log.at(-1)!, /^\d\d:\d\d:\d\d Dewey consumer stopped$/);
        assert.doesNotMatch(cli.stderr(), /consumer started/); // only the file has the log
      } finally {
        cli.kill();
      }
    });
  });
});
