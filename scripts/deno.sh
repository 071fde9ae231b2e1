#!/bin/sh
# Runs the project's Deno (installed from npm). `deno task` cannot call it by name: it puts
# node_modules/.bin first on PATH and runs what it finds there as JavaScript.
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$root/node_modules/.bin/deno" ]; then exec "$root/node_modules/.bin/deno" "$@"; fi
exec deno "$@"
