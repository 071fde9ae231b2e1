/**
 * Dewey's command line: `consume` runs a consumer for a module's `Dewey` instance;
 * `info`, `flush` and `enqueue` inspect and feed its storage.
 *
 * ```sh
 * deno run -A cli.ts consume ./tasks.ts -w 4
 * bun cli.ts consume ./tasks.ts -w 4
 * deno run -A cli.ts enqueue ./tasks.ts add '[1, 2]'
 * deno run -A cli.ts --help
 * ```
 *
 * Exit codes: 0 success, 2 usage error (one `error: …` line on stderr), 1 unexpected
 * error.
 *
 * @module
 */

import process from "node:process";
import { main } from "./src/cli/main.ts";

process.exit(await main(process.argv.slice(2)));
