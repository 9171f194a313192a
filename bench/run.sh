#!/usr/bin/env bash
# Runs every benchmark and records the results in bench/results/:
#   - bench/micro/parser.bench.ts (when present): parser micro-benchmark
#   - bench/load/edge.ts: CPU per call and call rate with topology hiding, against Kamailio with topoh
#   - bench/load/call-rate.ts: highest sustained call rate and response times, direct sipp
#     vs Kamailio vs sipwarden, in the same run (load-<date>.md)
#   - bench/load/blocked-drop.ts: datagrams per core dropped from a blocked source
#   - bench/load/block-propagation.ts: time from a block on one node to enforcement on another
#   - bench/load/memory.ts: resident memory with 10,000 INVITE transactions in flight
#     (load-memory-<date>.md)
#   - bench/load/msrp-relay.ts: MSRP MB/s through the relay, scanning with clamd on and off
#     (msrp-relay.md; skipped without clamd)
# Needs sipp and Kamailio (scripts/install-test-deps.sh). All traffic on loopback; every
# load step bounded in calls and time. Arguments after -- go to call-rate.ts, e.g.
#   bash bench/run.sh -- --rates 100,400,800 --step-seconds 3
# Set SKIP_MEMORY=1 or SKIP_MICRO=1 to leave one out.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--" ]; then shift; fi

if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
fi

for tool in sipp kamailio; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bench: $tool not found; run scripts/install-test-deps.sh as root" >&2
    exit 1
  fi
done

if [ -f bench/micro/parser.bench.ts ] && [ "${SKIP_MICRO:-0}" != "1" ]; then
  echo "== micro: parser"
  node --import tsx bench/micro/parser.bench.ts
fi

echo "== load: call rate"
node --import tsx bench/load/call-rate.ts "$@"
node --import tsx bench/load/edge.ts

if [ "${SKIP_MEMORY:-0}" != "1" ]; then
  echo "== load: memory with 10,000 transactions in flight"
  node --import tsx bench/load/memory.ts
fi

echo "== load: datagrams dropped from a blocked source"
node --import tsx bench/load/blocked-drop.ts

echo "== load: time from a block on one node to enforcement on another (Redis)"
node --import tsx bench/load/block-propagation.ts

echo "== load: the security pipeline's CPU cost per call"
node --import tsx bench/load/pipeline-cost.ts

echo "== load: legitimate calls during floods, sipwarden and Kamailio with pike"
node --import tsx bench/load/flood-resilience.ts

if command -v /usr/sbin/clamd >/dev/null 2>&1; then
  echo "== load: MSRP throughput through the relay, scanning on and off"
  node --import tsx bench/load/msrp-relay.ts
fi
