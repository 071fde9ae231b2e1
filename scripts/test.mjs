#!/usr/bin/env node
// Runs the test suite under Deno and under Bun (the same runtime-agnostic files), then
// prints one closing line "N passed, N failed" summed over both. Exits non-zero on any
// failure, any skipped test, or a runtime that ran no test. Plain Node, so a machine with
// only Node and npm can run it (`npm test`).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const tmp = join(root, ".tmp");
mkdirSync(tmp, { recursive: true });
const filter = process.argv.slice(2); // optional test files, e.g. tests/codec_test.ts

function run(cmd, args) {
  const result = spawnSync(cmd, args, {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  if (result.error) throw result.error;
  return { code: result.status ?? 1, out: `${result.stdout}\n${result.stderr}` };
}

function decode(text) {
  return text.replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&apos;/g, "'").replace(
    /&quot;/g,
    '"',
  ).replace(/&amp;/g, "&");
}

// Deno: node:test suites appear as steps; count leaves (cases that are no other case's parent).
function denoCounts(junitPath) {
  const xml = readFileSync(junitPath, "utf8");
  const cases = [...xml.matchAll(/<testcase name="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)]
    .map((m) => ({
      name: decode(m[1]),
      failed: /<failure|<error/.test(m[3] ?? ""),
      skipped: /<skipped/.test(m[3] ?? ""),
    }));
  const names = cases.map((c) => c.name);
  const leaves = cases.filter((c) => !names.some((n) => n.startsWith(`${c.name} > `)));
  return {
    passed: leaves.filter((c) => !c.failed && !c.skipped).length,
    failed: leaves.filter((c) => c.failed).length,
    skipped: leaves.filter((c) => c.skipped).length,
  };
}

function bunCounts(out) {
  const count = (word) => Number(out.match(new RegExp(`^\\s*(\\d+) ${word}$`, "m"))?.[1] ?? 0);
  return {
    passed: count("pass"),
    failed: count("fail") + count("error"),
    skipped: count("skip") + count("todo"),
  };
}

const junit = join(tmp, "deno-junit.xml");
rmSync(junit, { force: true });
console.log("== deno test ==");
const deno = run(bin("deno"), [
  "test",
  "-A",
  `--junit-path=${junit}`,
  ...(filter.length ? filter : ["tests/"]),
]);
let denoResult;
try {
  denoResult = denoCounts(junit);
} catch {
  denoResult = { passed: 0, failed: 1, skipped: 0 };
}
if (deno.code !== 0 && denoResult.failed === 0) denoResult.failed = 1; // a crash outside any test

console.log("== bun test ==");
const bun = run(bin("bun"), [
  "test",
  ...(filter.length ? filter.map((f) => `./${f}`) : ["tests/"]),
]);
const bunResult = bunCounts(bun.out);
if (bun.code !== 0 && bunResult.failed === 0) bunResult.failed = 1;

const problems = [];
for (const [name, r] of [["deno", denoResult], ["bun", bunResult]]) {
  console.log(`${name}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
  if (r.passed === 0) problems.push(`${name} ran no test`);
  if (r.skipped) problems.push(`${name} skipped ${r.skipped} test(s)`);
}
for (const p of problems) console.log(`error: ${p}`);
const passed = denoResult.passed + bunResult.passed;
const failed = denoResult.failed + bunResult.failed + problems.length;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
