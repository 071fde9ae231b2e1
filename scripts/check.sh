#!/bin/sh
# The static checks: format, lint, types, doc lint on the public entry points, and a
# publish dry run. Stops at the first failure.
set -e
cd "$(dirname "$0")/.."
deno="sh scripts/deno.sh"
$deno fmt --check
$deno lint
$deno check mod.ts consumer.ts cli.ts sqlite.ts redis.ts deno_kv.ts examples/ bench/ tests/ scripts/
$deno doc --lint mod.ts consumer.ts sqlite.ts redis.ts deno_kv.ts
$deno test --doc --allow-all --quiet mod.ts consumer.ts sqlite.ts redis.ts deno_kv.ts src/
node scripts/doc_examples.mjs mod.ts consumer.ts sqlite.ts redis.ts deno_kv.ts
$deno publish --dry-run --allow-dirty
