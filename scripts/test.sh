#!/usr/bin/env bash
# Runs every test: type check, lint, then unit, conformance, property, interop tests.
# As root it first installs the Debian components the interop tests start (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
  bash scripts/install-test-deps.sh
fi
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
fi

npx tsc -p tsconfig.json --noEmit
npx biome check .

shopt -s globstar nullglob
files=(test/**/*.test.ts)
if [ ${#files[@]} -eq 0 ]; then
  echo "no test files found" >&2
  exit 1
fi
# Interop tests start real daemons on free ports; two files at a time suits 2 cores.
exec node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
