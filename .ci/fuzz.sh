#!/usr/bin/env bash
# Runs every go test -fuzz target for a short, bounded time (FUZZTIME per
# target, 15s by default: about 2 minutes in all) on top of its committed
# seed corpus (testdata/fuzz/<Target>), then prints the inputs each tried.
# A failure leaves the crashing input in testdata/fuzz/<Target>/ for
# `go test -run <Target>/<name>` and fails the script.
#
#   .ci/fuzz.sh                 # CI
#   FUZZTIME=10m .ci/fuzz.sh    # a longer session
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-15s}
targets=(
  "./broker FuzzConnFrames"
  "./broker FuzzRequests"
  "./storage FuzzParseBatchHeader"
  "./storage FuzzValidateRecords"
  "./storage FuzzRecover"
  "./storage FuzzRecoverFiles"
  "./storage FuzzTxnFiles"
)

# The storage targets create a log per input and fsync its checkpoint:
# on tmpfs that costs nothing, on a disk it caps them at a few hundred
# inputs a second.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
summary=""
total=0
start=$(date +%s)
for t in "${targets[@]}"; do
  set -- $t
  pkg=$1 name=$2
  echo "== fuzz $name ($pkg, $fuzztime)"
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"$out" 2>&1; then
    result=ok
  else
    result=FAIL
    status=1
    cat "$out"
  fi
  execs=$(grep -o 'execs: [0-9]*' "$out" | tail -1 | awk '{print $2}')
  execs=${execs:-0}
  total=$((total + execs))
  tail -2 "$out"
  summary+=$(printf '%-22s %-10s %12s inputs  %s' "$name" "$pkg" "$execs" "$result")$'\n'
done
echo
echo "== fuzz summary ($(($(date +%s) - start))s)"
printf '%s' "$summary"
echo "total inputs: $total"
exit $status
