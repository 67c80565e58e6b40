#!/usr/bin/env bash
# Smoke run of `rewind bench`: every scenario, briefly, against an
# in-process Rewind, kfake (the kfakepeer program, built here and put
# next to the rewind binary, where the bench looks for it) and Apache
# Kafka (started by the bench with .ci/kafka.sh; skipped, saying why,
# without Java 17 or Maven unless REWIND_KAFKA_REQUIRED=1), to check that
# the benchmark works end to
# end. Not a timed assertion: the figures of a short run on a shared CI
# machine mean little. Takes two to three minutes (Kafka's JVM starts in 30-60 s on two cores). The JSON report is left in
# $BENCH_SMOKE_JSON (default: bench-smoke.json in a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/rewind" ./cmd/rewind
(cd bench/kfakepeer && go build -o "$work/rewind-kfakepeer" .)
# The shipped binary must not carry kfake.
if go list -deps ./cmd/rewind | grep kfake; then echo "cmd/rewind links kfake"; exit 1; fi
json=${BENCH_SMOKE_JSON:-$work/bench-smoke.json}

echo "== rewind bench --smoke"
"$work/rewind" bench --smoke --data-dir "$work" --save "$json"
if ! grep -q "\"kfake\": \"$work/rewind-kfakepeer\"" "$json"; then
  echo "rewind bench did not run kfake from $work/rewind-kfakepeer:"; grep '"kfake"' "$json"; exit 1
fi
# The transaction figures (txn scenario) and the rejoin figures of both
# group protocols are in the report.
for f in '"figure": "transactions, ' '"figure": "consume read_committed ' \
  '"figure": "group of 10 stable after 1 more joins, classic protocol' \
  '"figure": "group of 10 stable after 1 more joins, consumer protocol (KIP-848)'; do
  if ! grep -q "$f" "$json"; then echo "no $f figure in $json"; exit 1; fi
done
kafka=$(grep -m1 '"kafka": ' "$json" || true)
case $kafka in
  *'"not measured: '*)
    echo "Kafka was not measured: $kafka"
    if [ "${REWIND_KAFKA_REQUIRED:-}" = 1 ]; then exit 1; fi ;;
  '') echo "no \"kafka\" field in $json"; exit 1 ;;
esac
echo "JSON report: $json"
