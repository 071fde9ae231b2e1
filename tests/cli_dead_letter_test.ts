/**
 * `cli.ts dead-letter list|requeue|purge`: argument parsing in process, and each action
 * in a real child process (run by the runtime running the tests) on an SQLite file the
 * test fills through the fault fixture's instance (signing key set).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageSigner } from "../mod.ts";
import { parseArguments } from "../src/cli/args.ts";
import { createFaultApp, type FaultApp, type FaultConfig, faultEnv } from "./faults/fixture.ts";
import { lines, runCli } from "./support/cli.ts";

const FIXTURE = "tests/faults/fixture.ts";
const MEMORY_FIXTURE = "tests/fixtures/cli_tasks.ts";
const MEMORY_WARNING =
  "warning: the instance uses a MemoryStorage, which lives in this process only";
const SIGNING_KEY = `cli-key-${crypto.randomUUID()}`;
const TOKEN = `tok-${crypto.randomUUID()}`;
const AT = Date.UTC(2026, 10, 22, 10, 0, 0);

const bytes = (text: string) => new TextEncoder().encode(text).length;

describe("dead-letter argument parsing", () => {
  const base = { kind: "dead-letter", all: false, showData: false, instance: undefined };

  it("reads each action, its MODULE, ID and flags", () => {
    assert.deepEqual(parseArguments(["dead-letter", "list", "t.ts"]), {
      ...base,
      action: "list",
      module: "t.ts",
      id: undefined,
    });
    assert.deepEqual(
      parseArguments(["dead-letter", "list", "t.ts", "--show-data", "--instance", "main"]),
      { ...base, action: "list", module: "t.ts", id: undefined, showData: true, instance: "main" },
    );
    assert.deepEqual(parseArguments(["dead-letter", "requeue", "t.ts", "abc"]), {
      ...base,
      action: "requeue",
      module: "t.ts",
      id: "abc",
    });
    assert.deepEqual(parseArguments(["--instance=x", "dead-letter", "requeue", "--all", "t.ts"]), {
      ...base,
      action: "requeue",
      module: "t.ts",
      id: undefined,
      all: true,
      instance: "x",
    });
    assert.deepEqual(parseArguments(["dead-letter", "purge", "t.ts"]), {
      ...base,
      action: "purge",
      module: "t.ts",
      id: undefined,
    });
    // An id that looks like a flag, after "--".
    const parsed = parseArguments(["dead-letter", "requeue", "t.ts", "--", "-odd"]);
    assert.equal(parsed.kind === "dead-letter" && parsed.id, "-odd");
  });

  it("--help and --version still win", () => {
    assert.deepEqual(parseArguments(["dead-letter", "list", "--help"]), { kind: "help" });
    assert.deepEqual(parseArguments(["dead-letter", "--version"]), { kind: "version" });
  });

  it("throws a UsageError naming the problem", () => {
    const cases: [string[], string][] = [
      [["dead-letter"], "dead-letter needs an action (list, requeue, purge; see --help)"],
      [
        ["dead-letter", "show", "t.ts"],
        'unknown dead-letter action "show" (expected list, requeue, purge)',
      ],
      [
        ["dead-letter", "list"],
        "dead-letter list needs a MODULE: dead-letter list MODULE [--show-data] [--instance NAME]",
      ],
      [
        ["dead-letter", "requeue", "t.ts"],
        "dead-letter requeue needs an ID or --all: dead-letter requeue MODULE ID|--all [--instance NAME]",
      ],
      [
        ["dead-letter", "requeue", "t.ts", "a", "b"],
        'unexpected argument "b": dead-letter requeue MODULE ID|--all [--instance NAME]',
      ],
      [
        ["dead-letter", "requeue", "t.ts", "a", "--all"],
        'unexpected argument "a": dead-letter requeue MODULE ID|--all [--instance NAME]',
      ],
      [
        ["dead-letter", "purge", "t.ts", "extra"],
        'unexpected argument "extra": dead-letter purge MODULE [--instance NAME]',
      ],
      [
        ["dead-letter", "list", "t.ts", "--all"],
        'option "--all" is for dead-letter requeue, not list',
      ],
      [
        ["dead-letter", "purge", "t.ts", "--show-data"],
        'option "--show-data" is for dead-letter list, not purge',
      ],
      [["dead-letter", "list", "t.ts", "--all=yes"], "option --all takes no value"],
      [["dead-letter", "list", "t.ts", "--instance"], "option --instance needs a value"],
      [
        ["dead-letter", "list", "t.ts", "-w", "2"],
        'unknown option "-w" for dead-letter (see --help)',
      ],
      [
        ["dead-letter", "list", "t.ts", "--bogus"],
        'unknown option "--bogus" for dead-letter (see --help)',
      ],
    ];
    for (const [args, message] of cases) {
      assert.throws(() => parseArguments(args), { name: "UsageError", message }, args.join(" "));
    }
  });

  it("the general command errors name dead-letter among the commands", () => {
    assert.throws(() => parseArguments([]), {
      name: "UsageError",
      message: /^missing command \(consume, info, flush, enqueue, dead-letter[,;]/,
    });
    assert.throws(() => parseArguments(["deadletter", "list"]), {
      name: "UsageError",
      message:
        /^unknown command "deadletter" \(expected consume, info, flush, enqueue, dead-letter[,)]/,
    });
  });
});

describe("cli.ts dead-letter", () => {
  const dir = mkdtempSync(join(tmpdir(), "dewey-cli-dead-"));
  const config: FaultConfig = {
    storage: "sqlite",
    location: join(dir, "queue.db"),
    signingKey: SIGNING_KEY,
  };
  const env = faultEnv(config);
  let app: FaultApp;
  let signed: string;
  let forged: string;
  const garbage = "\u0001not\ta message\n";
  const ids: string[] = [];

  /** Fills the dead letters afresh: a signed task, garbage, a forged message. */
  async function fill(): Promise<void> {
    const storage = app.dewey.storage;
    await storage.purgeDeadLetters();
    await storage.flushQueue();
    ids.length = 0;
    ids.push(await storage.deadLetter(signed, 'cannot decode message: Unknown task "record"', AT));
    ids.push(
      await storage.deadLetter(garbage, "cannot decode message: bad\nsecond line\tend", AT + 1),
    );
    ids.push(
      await storage.deadLetter(
        forged,
        "cannot decode message: message signature does not match",
        AT + 2,
      ),
    );
  }

  before(async () => {
    app = createFaultApp(config);
    signed = await app.dewey.serialize(app.record.s(7, TOKEN));
    forged = await new MessageSigner("not-the-key").sign(
      "1j" + JSON.stringify({ id: "f", name: "report-v2", args: [TOKEN] }),
    );
  });

  after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("--help lists the dead-letter commands and flags", async () => {
    const { code, stdout } = await runCli(["--help"]);
    assert.equal(code, 0);
    const row = (start: string) =>
      stdout.split("\n").find((line) => line.startsWith(start))?.slice(start.length).trim();
    assert.equal(
      row("  dead-letter list MODULE "),
      "print the dead letters: id, time, reason, task name and size",
    );
    assert.equal(
      row("  dead-letter requeue MODULE ID|--all "),
      "move one dead letter (or all) back to the queue",
    );
    assert.equal(row("  dead-letter purge MODULE "), "remove every dead letter");
    assert.equal(
      row("      --show-data "),
      "list: also print each message as stored (it may hold secrets)",
    );
    assert.equal(row("      --all "), "requeue: every dead letter");
    assert.ok(stdout.split("\n").every((l) => l.length <= 100));
  });

  it("list: one line per entry, oldest first, no data and no secret", async () => {
    await fill();
    const { code, stdout, stderr } = await runCli(["dead-letter", "list", FIXTURE], env);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
    assert.deepEqual(stdout.split("\n"), [
      [
        ids[0],
        "2026-11-22T10:00:00.000Z",
        'cannot decode message: Unknown task "record"',
        `task record, ${bytes(signed)} bytes`,
      ].join("\t"),
      [
        ids[1],
        "2026-11-22T10:00:00.001Z",
        "cannot decode message: bad\\nsecond line\\tend",
        `${bytes(garbage)} bytes`,
      ].join("\t"),
      [
        ids[2],
        "2026-11-22T10:00:00.002Z",
        "cannot decode message: message signature does not match",
        `task report-v2, ${bytes(forged)} bytes`,
      ].join("\t"),
      "",
    ]);
    assert.ok(!stdout.includes(TOKEN), "the task's argument is not shown");
    assert.ok(!stdout.includes(SIGNING_KEY));
  });

  it("list --show-data: the message as a JSON string at the end of the line", async () => {
    await fill();
    const { code, stdout, stderr } = await runCli(
      ["dead-letter", "list", FIXTURE, "--show-data"],
      env,
    );
    assert.equal(code, 0, stderr);
    const rows = lines(stdout).map((line) => line.split("\t"));
    assert.equal(rows.length, 3);
    assert.deepEqual(rows.map((row) => JSON.parse(row[4])), [signed, garbage, forged]);
    assert.deepEqual(rows.map((row) => row.length), [5, 5, 5]);
  });

  it("list reads hostile entries without failing", async () => {
    const storage = app.dewey.storage;
    await storage.purgeDeadLetters();
    const message = { id: "h", name: "record", retries: 0, retryDelay: 0, retryBackoff: 0 };
    const deep = "1j" + JSON.stringify({ ...message, args: [] })
      .replace('"args":[]', `"args":${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    const tagged = "1j" + JSON.stringify({
      ...message,
      name: "bell\u0007name",
      args: [{ $deweyTaskError: [{ toString: 1 }, "m"] }],
    });
    const plain = await app.dewey.serialize(app.record.s(1));
    const id1 = await storage.deadLetter(plain, "x", AT);
    const id2 = await storage.deadLetter(deep, "deep", AT + 1);
    const id3 = await storage.deadLetter(tagged, "tagged", AT + 2);
    const { code, stdout, stderr } = await runCli(["dead-letter", "list", FIXTURE], env);
    assert.equal(code, 0, stderr);
    assert.deepEqual(lines(stdout).map((line) => line.split("\t")), [
      [id1, "2026-11-22T10:00:00.000Z", "x", `task record, ${bytes(plain)} bytes`],
      [id2, "2026-11-22T10:00:00.001Z", "deep", `task record, ${bytes(deep)} bytes`],
      [id3, "2026-11-22T10:00:00.002Z", "tagged", `task bell\\u0007name, ${bytes(tagged)} bytes`],
    ]);
  });

  it("list with no dead letters prints nothing", async () => {
    await app.dewey.storage.purgeDeadLetters();
    const { code, stdout, stderr } = await runCli(["dead-letter", "list", FIXTURE], env);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "");
  });

  it("requeue ID: the entry goes back to the queue", async () => {
    await fill();
    const { code, stdout, stderr } = await runCli(
      ["dead-letter", "requeue", FIXTURE, ids[0]],
      env,
    );
    assert.equal(code, 0, stderr);
    assert.equal(stdout, `requeued ${ids[0]}\n`);
    assert.deepEqual(await app.dewey.storage.enqueuedItems(), [signed]);
    assert.deepEqual((await app.dewey.deadLetters()).map((e) => e.id), [ids[1], ids[2]]);
    // The requeued message is a real task again: the instance runs it.
    const [task] = await app.dewey.dequeue();
    assert.equal(task?.name, "record");
    assert.deepEqual(task?.args, [7, TOKEN]);
  });

  it("requeue of an unknown id: one error line, exit code 1", async () => {
    await fill();
    const { code, stdout, stderr } = await runCli(
      ["dead-letter", "requeue", FIXTURE, "no-such-id"],
      env,
    );
    assert.equal(stdout, "");
    assert.equal(stderr, 'error: no dead letter with id "no-such-id"\n');
    assert.equal(code, 1);
    assert.equal((await app.dewey.deadLetters()).length, 3);
  });

  it("requeue --all: every entry back to the queue", async () => {
    await fill();
    const { code, stdout, stderr } = await runCli(
      ["dead-letter", "requeue", FIXTURE, "--all"],
      env,
    );
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "requeued 3 dead letters\n");
    assert.deepEqual(
      (await app.dewey.storage.enqueuedItems()).sort(),
      [signed, garbage, forged].sort(),
    );
    assert.deepEqual(await app.dewey.deadLetters(), []);
  });

  it("purge: removes every entry and says how many", async () => {
    await fill();
    const first = await runCli(["dead-letter", "purge", FIXTURE], env);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, "purged 3 dead letters\n");
    assert.deepEqual(await app.dewey.deadLetters(), []);
    assert.equal(await app.dewey.storage.queueSize(), 0, "purge requeues nothing");
    const again = await runCli(["dead-letter", "purge", FIXTURE], env);
    assert.equal(again.stdout, "purged 0 dead letters\n");
  });

  it("a MemoryStorage instance: the usual warning", async () => {
    const { code, stdout, stderr } = await runCli(["dead-letter", "purge", MEMORY_FIXTURE]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(lines(stderr), [MEMORY_WARNING]);
    assert.equal(stdout, "purged 0 dead letters\n");
  });

  it("usage errors: one line on stderr, exit code 2", async () => {
    const cases: [string[], string][] = [
      [["dead-letter", "requeue", FIXTURE], "error: dead-letter requeue needs an ID or --all: "],
      [["dead-letter", "frob", FIXTURE], 'error: unknown dead-letter action "frob" (expected '],
      [["dead-letter", "list", "tests/fixtures/missing.ts"], "error: module not found: "],
    ];
    for (const [args, start] of cases) {
      const { code, stdout, stderr } = await runCli(args, env);
      assert.equal(stdout, "");
      assert.equal(lines(stderr).length, 1, stderr);
      assert.ok(stderr.startsWith(start), stderr);
      assert.equal(code, 2);
    }
  });
});
