#!/usr/bin/env bash
# Runs every go test -fuzz target for a short, bounded budget on top of its
# committed seed corpus (testdata/fuzz/<Target>), then prints the inputs
# each tried. A failure leaves the crashing input in testdata/fuzz/<Target>/
# for `go test -run <Target>/<name>` and fails the script.
#
# CI gives each target a number of inputs (-fuzztime Nx), sized to about
# ten seconds on an unloaded 2-core machine (about 70 s in all), not a
# duration: with a duration, Go before 1.27 can report its own deadline as
# a failure ("context deadline exceeded", no crasher; golang/go#75804, a
# race in the fuzzing coordinator between the deadline and the workers'
# cancellation). A count sets no deadline, so that race cannot happen.
#
#   .ci/fuzz.sh                 # CI: the per-target counts below
#   FUZZTIME=10m .ci/fuzz.sh    # a longer session, the same for every target
set -euo pipefail
cd "$(dirname "$0")/.."

# package, target, inputs for CI (about 2/3 of what each tried in 15 s)
targets=(
  "./broker FuzzConnFrames 23000x"
  "./broker FuzzRequests 17000x"
  "./storage FuzzParseBatchHeader 300000x"
  "./storage FuzzValidateRecords 19000x"
  "./storage FuzzRecover 25000x"
  "./storage FuzzRecoverFiles 8000x"
  "./storage FuzzTxnFiles 230000x"
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
  pkg=$1 name=$2 fuzztime=${FUZZTIME:-$3}
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
