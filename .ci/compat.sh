#!/usr/bin/env bash
# Installs what the real-client compatibility suite (compat/) needs and runs
# it, writing docs/compatibility.md. Idempotent: installs only what is
# missing. Called by .ci/run; developers can run it directly.
#
#   Debian: kcat, kafka-python, confluent-kafka-python (+ the Python codec
#           modules kafka-python needs), Burrow, ZooKeeper (the server jar
#           from package zookeeper; zookeeperd would only add a system
#           service listening on 0.0.0.0:2181, and the suite starts its own
#           ZooKeeper on a loopback port)
#   npm:    KafkaJS and its codecs, from compat/node/package-lock.json
#   PyPI:   newer kafka-python, confluent-kafka-python and aiokafka, pinned
#           in compat/python/requirements.txt, into the project-local
#           virtual environment .cache/venv (gitignored), made with Debian's
#           python3 -m venv. In CI a failing pip fails the run; elsewhere
#           (no network) the PyPI rows are "not run" with pip's reason.
#   Maven:  the Java rows' kafka-clients and kafka-streams, built by
#           compat/java/build.sh (Debian's JDK and maven; jars into ~/.m2),
#           and Kafka's own tools from the jars .ci/kafka.sh install fetches
#           (.cache/kafka). Failing either fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

debs=(kcat python3-kafka python3-confluent-kafka python3-snappy python3-lz4 python3-zstandard python3-venv burrow zookeeper)
command -v java >/dev/null || debs+=(default-jre-headless)
command -v javac >/dev/null || debs+=(default-jdk-headless)
command -v mvn >/dev/null || debs+=(maven)
command -v node >/dev/null || debs+=(nodejs)
command -v npm >/dev/null || debs+=(npm)

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== compat: apt-get install ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log"
    echo "compat: apt-get failed" >&2
    exit 1
  fi
  rm -f "$log"
fi

# npm ci only when node_modules was not installed from this lock file.
stamp=compat/node/node_modules/.rewind-installed-lock
if ! cmp -s compat/node/package-lock.json "$stamp" 2>/dev/null; then
  echo "== compat: npm ci (compat/node)"
  log=$(mktemp)
  if ! (cd compat/node && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
    cat "$log"
    echo "compat: npm ci failed" >&2
    exit 1
  fi
  rm -f "$log"
  cp compat/node/package-lock.json "$stamp"
fi
# The venv is remade only when the requirements changed since it was made.
venv=.cache/venv
reqs=compat/python/requirements.txt
if ! cmp -s "$reqs" "$venv/.rewind-installed-requirements" 2>/dev/null; then
  echo "== compat: pip install -r $reqs (into $venv)"
  rm -rf "$venv" .cache/venv.error
  mkdir -p .cache
  log=$(mktemp)
  if { /usr/bin/python3 -m venv "$venv" && "$venv/bin/pip" install --no-input -q --timeout 60 --retries 2 -r "$reqs"; } >"$log" 2>&1; then
    cp "$reqs" "$venv/.rewind-installed-requirements"
  else
    cat "$log"
    rm -rf "$venv"
    if [ "${CI:-}" = true ]; then
      echo "compat: pip install failed" >&2
      exit 1
    fi
    cp "$log" .cache/venv.error
    echo "compat: pip install failed; the PyPI rows will say so (not run)" >&2
    export REWIND_COMPAT_PYPI_OPTIONAL=1
  fi
  rm -f "$log"
fi
echo "== compat: Java clients (compat/java/build.sh) and Kafka's tools (.ci/kafka.sh install)"
compat/java/build.sh
.ci/kafka.sh install
echo "== compat: installs done in $(( $(date +%s) - start ))s"

# A missing tool is a failure here, and the suite rewrites the table.
export REWIND_COMPAT_REQUIRED=1 REWIND_COMPAT_WRITE=1
go test -count=1 -timeout 10m -run '^TestCompat$' -v ./compat/ 2>&1 | grep -v '^=== '
echo "== compat: done in $(( $(date +%s) - start ))s; table in docs/compatibility.md"
