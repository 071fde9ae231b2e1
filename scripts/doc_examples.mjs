#!/usr/bin/env node
// Lists the exported symbols of the given entry points that have no `@example` in their
// doc comment (the project's standard: every export has one). Exit code 1 when any lacks.
import { execFileSync } from "node:child_process";

const entries = process.argv.slice(2);
const json = execFileSync("node_modules/.bin/deno", ["doc", "--json", ...entries], {
  encoding: "utf8",
  maxBuffer: 64 * 1024 * 1024,
});
// A symbol re-exported by several entry points is resolved under one of them only: judge
// each name by all its declarations.
const withExample = new Set();
const seen = new Map();
for (const [file, module] of Object.entries(JSON.parse(json).nodes)) {
  for (const symbol of module.symbols ?? []) {
    const declarations = symbol.declarations ?? [];
    if (declarations.some((d) => (d.jsDoc?.tags ?? []).some((t) => t.kind === "example"))) {
      withExample.add(symbol.name);
    }
    if (!seen.has(symbol.name)) seen.set(symbol.name, file.replace(/^file:\/\/.*?\/main\//, ""));
  }
}
const missing = [...seen].filter(([name]) => !withExample.has(name)).map(([name, file]) =>
  `${name} (${file})`
);
for (const name of missing) console.log(`no @example: ${name}`);
process.exit(missing.length ? 1 : 0);
