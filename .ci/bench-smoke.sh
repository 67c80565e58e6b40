#!/usr/bin/env bash
# Smoke run of `rewind bench`: every scenario, briefly, against an
# in-process Rewind and kfake, to check that the benchmark works end to
# end. Not a timed assertion: the figures of a short run on a shared CI
# machine mean little. Takes about a minute. The JSON report is left in
# $BENCH_SMOKE_JSON (default: bench-smoke.json in a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/rewind" ./cmd/rewind
json=${BENCH_SMOKE_JSON:-$work/bench-smoke.json}

echo "== rewind bench --smoke"
"$work/rewind" bench --smoke --data-dir "$work" --save "$json"
echo "JSON report: $json"
