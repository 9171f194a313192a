#!/usr/bin/env bash
# Runs every test: type check, lint, then unit, conformance, property, interop tests, and
# last, in a step of their own, the workload tests.
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
npx tsc -p console/tsconfig.json --noEmit
npx biome check .

shopt -s globstar nullglob
# test/workload/ measures sipwarden under load and needs the cores to itself: it runs in a
# step of its own once every other test has ended, whatever order the runner sorts files in.
files=()
workload=()
for file in test/**/*.test.ts; do
  case "$file" in
    test/workload/*) workload+=("$file") ;;
    *) files+=("$file") ;;
  esac
done
if [ ${#files[@]} -eq 0 ]; then
  echo "no test files found" >&2
  exit 1
fi

# Both steps run even when the first fails; the exit status is the first failure's.
status=0
# Interop tests start real daemons on free ports; two files at a time suits 2 cores.
node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${files[@]}" || status=$?
if [ ${#workload[@]} -gt 0 ]; then
  echo "# workload tests, alone: ${workload[*]}"
  workload_status=0
  node --import tsx --test --test-concurrency=1 --test-timeout=300000 "${workload[@]}" || workload_status=$?
  if [ "$status" -eq 0 ]; then status=$workload_status; fi
fi
exit "$status"
