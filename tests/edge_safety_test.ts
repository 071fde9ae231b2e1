// mod.ts must run unchanged on Deno, Bun, Node and edge runtimes (API.md "Entry points"):
// no `node:*` import, no `require`, no `Deno.*` / `Bun.*` (or Node globals) anywhere in
// the files it pulls in, and only pure npm packages. Checked statically: hiding the
// runtime globals before a dynamic import is not reliable, so the source is read instead.
// node:test + node:assert/strict only; node:fs/path/url are fine in the test itself.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The npm packages the core may import: pure JavaScript, no runtime APIs at load. */
const ALLOWED_PACKAGES = ["@ungap/structured-clone", "croner"];

interface Scanned {
  /** The source with comments blanked (strings kept, for import specifiers). */
  code: string;
  /** The source with comments and the text of string/template literals blanked. */
  bare: string;
}

const KEYWORDS_BEFORE_EXPRESSION = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/**
 * A small TypeScript lexer: enough to tell comments, string literals, template literals
 * (with `${}` expressions, nested) and regular expression literals from code. Blanked
 * characters become spaces (newlines kept), so offsets and line numbers survive.
 */
function scan(source: string): Scanned {
  let code = "";
  let bare = "";
  let i = 0;
  const n = source.length;
  // For each open template expression, the brace depth at which it closes.
  const templateStack: number[] = [];
  let depth = 0;
  let previous = ""; // the last significant code token (char or word), for regex detection

  const blank = (text: string) => text.replace(/[^\n]/g, " ");
  const emitCode = (text: string) => {
    code += text;
    bare += text;
  };
  const emitString = (text: string) => {
    code += text;
    bare += text[0] + blank(text.slice(1, -1)) + text[text.length - 1];
  };
  const emitComment = (text: string) => {
    code += blank(text);
    bare += blank(text);
  };

  /** Reads template text from `i` (just after "`" or "}") to "`" or "${". */
  const templateChunk = () => {
    const start = i;
    while (i < n) {
      if (source[i] === "\\") {
        i += 2;
        continue;
      }
      if (source[i] === "`") {
        i++;
        code += source.slice(start, i);
        bare += blank(source.slice(start, i - 1)) + "`";
        previous = "`";
        return;
      }
      if (source[i] === "$" && source[i + 1] === "{") {
        code += source.slice(start, i) + "${";
        bare += blank(source.slice(start, i)) + "${";
        i += 2;
        templateStack.push(depth);
        depth++;
        previous = "{";
        return;
      }
      i++;
    }
    throw new SyntaxError("unterminated template literal");
  };

  const regexAllowed = () =>
    previous === "" || /^[(,=:[!&|?{};+\-*%<>~^]$/.test(previous) ||
    KEYWORDS_BEFORE_EXPRESSION.has(previous);

  while (i < n) {
    const ch = source[i];
    const next = source[i + 1];
    if (ch === "/" && next === "/") {
      const end = source.indexOf("\n", i);
      const stop = end === -1 ? n : end;
      emitComment(source.slice(i, stop));
      i = stop;
    } else if (ch === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      if (end === -1) throw new SyntaxError("unterminated comment");
      emitComment(source.slice(i, end + 2));
      i = end + 2;
    } else if (ch === '"' || ch === "'") {
      let j = i + 1;
      while (j < n && source[j] !== ch) {
        if (source[j] === "\\") j++;
        if (source[j] === "\n") throw new SyntaxError("unterminated string literal");
        j++;
      }
      emitString(source.slice(i, j + 1));
      i = j + 1;
      previous = "string";
    } else if (ch === "`") {
      emitCode("`");
      i++;
      templateChunk();
    } else if (ch === "/" && regexAllowed()) {
      let j = i + 1;
      let inClass = false;
      while (j < n && (inClass || source[j] !== "/")) {
        if (source[j] === "\\") j++;
        else if (source[j] === "[") inClass = true;
        else if (source[j] === "]") inClass = false;
        else if (source[j] === "\n") throw new SyntaxError("unterminated regular expression");
        j++;
      }
      j++;
      while (j < n && /[a-z]/.test(source[j])) j++; // flags
      emitString(source.slice(i, j));
      i = j;
      previous = "regex";
    } else if (/[A-Za-z_$]/.test(ch)) {
      let j = i + 1;
      while (j < n && /[\w$]/.test(source[j])) j++;
      previous = source.slice(i, j);
      emitCode(previous);
      i = j;
    } else if (ch === "}" && templateStack.length && templateStack.at(-1) === depth - 1) {
      templateStack.pop();
      depth--;
      emitCode("}");
      i++;
      templateChunk();
    } else {
      if (ch === "{") depth++;
      if (ch === "}") depth--;
      if (!/\s/.test(ch)) previous = ch;
      emitCode(ch);
      i++;
    }
  }
  return { code, bare };
}

interface ImportRef {
  specifier: string;
  dynamic: boolean;
}

/**
 * Static `import`/`export ... from` specifiers and literal dynamic `import("...")`. The
 * statements are matched in `bare` (so an import written inside a string is no import);
 * the specifier is read from `code` at the same offsets.
 */
function importsOf({ code, bare }: Scanned): ImportRef[] {
  const refs: { at: number; ref: ImportRef }[] = [];
  const fromClause =
    /(?:^|[^\w$.])(?:import|export)\s+(?:type\s+)?(?:[\w$*{}\s,]+?\s+from\s*)?(["'])( *)\1/dg;
  const dynamicImport = /(?:^|[^\w$.])import\s*\(\s*(["'])( *)\1\s*[,)]/dg;
  for (const [pattern, dynamic] of [[fromClause, false], [dynamicImport, true]] as const) {
    for (const match of bare.matchAll(pattern)) {
      const [start, end] = match.indices![2]!;
      refs.push({ at: start, ref: { specifier: code.slice(start, end), dynamic } });
    }
  }
  return refs.sort((a, b) => a.at - b.at).map(({ ref }) => ref);
}

/** Runtime-specific usage in code (comments and string contents already blanked). */
function runtimeUsage(bare: string, code: string): string[] {
  const found: string[] = [];
  const patterns: [RegExp, string][] = [
    [/(?<![\w$])(?:globalThis\s*\.\s*)?Deno\s*(?:\.|\?\.|\[)/g, "Deno.*"],
    [/(?<![\w$])(?:globalThis\s*\.\s*)?Bun\s*(?:\.|\?\.|\[)/g, "Bun.*"],
    [/(?<![\w$.])require\s*\(/g, "require()"],
    // Not a property access (`o.process`) nor an object key / type member (`process: 1`).
    [/(?<![\w$.])(?:process|Buffer|__dirname|__filename)(?![\w$]|\s*\??:)/g, "a Node global"],
    [/(?<![\w$])import\s*\(\s*(?!["'])/g, "a computed dynamic import()"],
  ];
  for (const [pattern, what] of patterns) {
    for (const match of bare.matchAll(pattern)) found.push(`${what}: ${match[0].trim()}`);
  }
  // globalThis["Deno"] and the like: the name is a string literal, so look at `code`.
  for (const match of code.matchAll(/\[\s*(["'])(Deno|Bun|process|require)\1\s*\]/g)) {
    found.push(`indexed runtime global: ${match[0]}`);
  }
  return found;
}

interface Graph {
  /** Every file reached, relative to the repository root. */
  files: string[];
  /** Bare specifiers (npm packages) and who imports them. */
  packages: Map<string, string[]>;
  /** Problems found, as "file: what". */
  problems: string[];
}

/** Follows every relative import from `entry`, checking each file. */
function walk(entry: string): Graph {
  const seen = new Set<string>();
  const packages = new Map<string, string[]>();
  const problems: string[] = [];
  const queue = [resolve(ROOT, entry)];
  while (queue.length) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const name = relative(ROOT, file);
    const scanned = scan(readFileSync(file, "utf8"));
    for (const usage of runtimeUsage(scanned.bare, scanned.code)) {
      problems.push(`${name}: ${usage}`);
    }
    for (const { specifier, dynamic } of importsOf(scanned)) {
      if (specifier.startsWith("./") || specifier.startsWith("../")) {
        queue.push(resolve(dirname(file), specifier));
      } else if (/^(?:node|npm|jsr|bun|https?|file|data):/.test(specifier)) {
        problems.push(`${name}: imports "${specifier}"`);
      } else if (specifier.startsWith("/")) {
        problems.push(`${name}: imports an absolute path "${specifier}"`);
      } else {
        if (dynamic) problems.push(`${name}: dynamic import("${specifier}")`);
        packages.set(specifier, [...(packages.get(specifier) ?? []), name]);
      }
    }
  }
  return { files: [...seen].map((f) => relative(ROOT, f)).sort(), packages, problems };
}

describe("mod.ts is edge-safe", () => {
  const graph = walk("mod.ts");

  it("reaches the whole core through its relative imports", () => {
    for (
      const file of [
        "mod.ts",
        "src/canvas.ts",
        "src/codec.ts",
        "src/crontab.ts",
        "src/dewey.ts",
        "src/errors.ts",
        "src/executor.ts",
        "src/locks.ts",
        "src/rate_limit.ts",
        "src/result.ts",
        "src/storage/memory.ts",
        "src/storage/storage.ts",
        "src/task.ts",
      ]
    ) {
      assert.ok(graph.files.includes(file), `${file} not reached: ${graph.files.join(", ")}`);
    }
  });

  it("uses no node: import, require, Deno.*, Bun.* or Node global", () => {
    assert.deepEqual(graph.problems, []);
  });

  it("imports exactly the allowed pure npm packages", () => {
    assert.deepEqual([...graph.packages.keys()].sort(), ALLOWED_PACKAGES);
  });
});

describe("the scanner behind the edge-safety check", () => {
  const check = (source: string) => {
    const scanned = scan(source);
    return {
      usage: runtimeUsage(scanned.bare, scanned.code),
      imports: importsOf(scanned).map((r) => r.specifier),
    };
  };

  it("ignores doc comments, line comments and string literals", () => {
    const source = [
      "/**",
      " * @example",
      " * ```ts",
      ' * import { open } from "node:fs";',
      " * const kv = await Deno.openKv();",
      " * Bun.serve({ fetch }); require('x'); process.env.X;",
      " * ```",
      " */",
      "// Deno.exit(1); import('node:os')",
      'const message = "use Deno.openKv or Bun.file or require(x) // not a comment";',
      "const other = 'process.env';",
      "const url = `see Deno.env and ${1 + 1} Bun.spawn`;",
      "const re = /Deno\\.\"[/]/g, quote = '\"';",
      "const ratio = 4 / 2 / 1; // Deno.",
      'export { a } from "./a.ts";',
    ].join("\n");
    assert.deepEqual(check(source), { usage: [], imports: ["./a.ts"] });
  });

  it("finds runtime usage in code, template expressions included", () => {
    const cases: [string, string][] = [
      ["const kv = await Deno.openKv();", "Deno.*"],
      ["const f = Bun.file('x');", "Bun.*"],
      ["const ok = typeof globalThis.Deno?.env;", "Deno.*"],
      ["const x = `pid ${Deno.pid} here`;", "Deno.*"],
      ["const x = `a ${`b ${Bun.version}`}`;", "Bun.*"],
      ["const fs = require('fs');", "require()"],
      ["const home = process.env.HOME;", "a Node global"],
      ["const b = Buffer.from('x');", "a Node global"],
      ["const d = (globalThis as any)['Deno'];", "indexed runtime global"],
      ["const m = await import(name);", "a computed dynamic import()"],
    ];
    for (const [source, what] of cases) {
      const { usage } = check(source);
      assert.equal(usage.length, 1, `${source} -> ${JSON.stringify(usage)}`);
      assert.ok(usage[0].startsWith(what), `${source} -> ${usage[0]}`);
    }
    // Property names and longer identifiers are not runtime globals.
    assert.deepEqual(
      check("const o = { process: 1 }; o.process; const Denominator = 2;").usage,
      [],
    );
  });

  it("collects static, re-export, type-only, side-effect and dynamic imports", () => {
    const source = [
      "import { a,",
      "  type B } from './a.ts';",
      'import type { C } from "./c.ts";',
      'import * as d from "node:fs";',
      'import "./side.ts";',
      'export * from "croner";',
      'export type { E } from "./e.ts";',
      'const lazy = await import("node:sqlite");',
      "const notAnImport = 'import x from \"./fake.ts\"';",
    ].join("\n");
    assert.deepEqual(check(source).imports, [
      "./a.ts",
      "./c.ts",
      "node:fs",
      "./side.ts",
      "croner",
      "./e.ts",
      "node:sqlite",
    ]);
  });
});
