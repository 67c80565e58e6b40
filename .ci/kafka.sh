#!/usr/bin/env bash
# Apache Kafka on loopback, as the reference Rewind is checked against.
#
#   .ci/kafka.sh install                 fetch the pinned Kafka jars (Maven)
#   .ci/kafka.sh start [--nodes 1|3] [--dir DIR] [--watch PID]
#                                        format a KRaft cluster in DIR (a new
#                                        temp dir by default), start it on free
#                                        127.0.0.1 ports, wait until it answers
#                                        ApiVersions and Metadata, print
#                                        KAFKA_BOOTSTRAP=host:port,...
#   .ci/kafka.sh env [--dir DIR]         print KAFKA_BOOTSTRAP, KAFKA_DIR,
#                                        KAFKA_PIDS, KAFKA_CLASSPATH, KAFKA_JAVA
#   .ci/kafka.sh stop [--dir DIR]        stop it by PID and remove DIR
#   .ci/kafka.sh run CLASS ARGS...       run a Kafka tool class with the jars
#                                        (e.g. org.apache.kafka.tools.TopicCommand)
#
# One node is a combined broker+controller (process.roles=broker,controller).
# Three nodes are three combined JVMs forming one controller quorum: on two
# cores three JVMs are cheaper than six, and every node is a voter so the
# quorum survives one node stopping.
#
# Jars: Maven resolves .ci/kafka/pom.xml against its local repository
# (~/.m2/repository, or $REWIND_MAVEN_REPO) and copies them into
# .cache/kafka/<version>/libs in this tree (gitignored); later runs reuse it.
# Without DIR, start records the directory it made in .cache/kafka/current,
# which env and stop use.
#
# Exit status 3 means a prerequisite is missing (no Java 17+, no Maven, the
# jars could not be fetched); Go reads it as kafkascript.MissingError
# (internal/kafkascript), and the test harness (internal/kafkaref) skips on it
# unless REWIND_KAFKA_REQUIRED=1. Any other failure is a real failure.
#
# Environment: KAFKA_EXTRA_PROPERTIES (see write_config), KAFKA_HEAP_OPTS (default -Xms64m -Xmx512m; -Xmx384m for each of
# three nodes), KAFKA_JVM_OPTS (extra JVM flags), JAVA (java binary),
# REWIND_KAFKA_START_TIMEOUT (seconds, default 120).
set -euo pipefail

KAFKA_VERSION=4.4.0
ROOT=$(cd "$(dirname "$0")/.." && pwd)
POM="$ROOT/.ci/kafka/pom.xml"
CACHE="$ROOT/.cache/kafka"
LIBS="$CACHE/$KAFKA_VERSION/libs"
CURRENT="$CACHE/current"
# Kept equal to Rewind's test setting (rewindtest: no initial delay) so
# group scenarios take the same time on both brokers.
GROUP_INITIAL_REBALANCE_DELAY_MS=0

die() { echo "kafka.sh: $*" >&2; exit 1; }
missing() { echo "kafka.sh: missing prerequisite: $*" >&2; exit 3; }
log() { echo "kafka.sh: $*" >&2; }

find_java() {
  local j=${JAVA:-}
  if [ -z "$j" ] && [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then j=$JAVA_HOME/bin/java; fi
  [ -n "$j" ] || j=$(command -v java || true)
  [ -n "$j" ] || missing "no java on PATH (Kafka $KAFKA_VERSION needs Java 17 or newer)"
  local v
  v=$("$j" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/{print $2}')
  [ -n "$v" ] || missing "cannot tell the version of $j"
  [ "${v%%.*}" -ge 17 ] 2>/dev/null || missing "$j is Java $v; Kafka $KAFKA_VERSION needs 17 or newer"
  echo "$j"
}

# install: resolve the pom into $LIBS once; a stamp holds the pom's hash so a
# changed pin is fetched again.
install() {
  local want have=""
  want=$(sha256sum "$POM" | cut -d' ' -f1)
  [ -f "$LIBS/.complete" ] && have=$(cat "$LIBS/.complete")
  if [ "$have" = "$want" ]; then return 0; fi
  command -v mvn >/dev/null || missing "no mvn on PATH (apt-get install maven)"
  local repo=${REWIND_MAVEN_REPO:-$HOME/.m2/repository}
  local tmp="$LIBS.tmp.$$" out
  rm -rf "$tmp"; mkdir -p "$tmp"
  log "fetching Kafka $KAFKA_VERSION jars with Maven (local repository $repo)"
  local t0=$SECONDS
  if ! out=$(mvn -B -q -f "$POM" -Dmaven.repo.local="$repo" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1); then
    rm -rf "$tmp"
    echo "$out" | tail -20 >&2
    missing "Maven could not fetch Kafka $KAFKA_VERSION (no network to Maven Central?)"
  fi
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "no kafka_2.13 jar after Maven"; }
  echo "$want" >"$tmp/.complete"
  rm -rf "$LIBS"; mkdir -p "$(dirname "$LIBS")"; mv "$tmp" "$LIBS"
  log "fetched $(ls "$LIBS" | wc -l) jars in $((SECONDS - t0)) s"
}

classpath() { ls "$LIBS"/*.jar | tr '\n' ':' | sed 's/:$//'; }

# A free 127.0.0.1 port: random, not in the excluded list, nothing listening,
# and outside the kernel's ephemeral range (ip_local_port_range), where any
# outgoing connection or port-0 listener of a test running beside Kafka can
# take it while a node restarts. Kafka binding it later can still race
# another process; start retries.
free_port() {
  local p i lo=32768 hi=60999 base=10000 span
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  span=$((lo - base))
  if [ "$span" -lt 2000 ]; then base=$((hi + 1)); span=$((65536 - base)); fi
  [ "$span" -ge 200 ] || die "no port range outside the ephemeral range $lo-$hi"
  for i in $(seq 1 200); do
    p=$((base + RANDOM % span))
    case " $* " in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free port found"
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_config() { # dir node_id broker_port controller_port voters
  local d=$1 id=$2 bp=$3 cp=$4 voters=$5 rf=$6
  mkdir -p "$d/data"
  cat >"$d/server.properties" <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$bp,CONTROLLER://127.0.0.1:$cp
advertised.listeners=PLAINTEXT://127.0.0.1:$bp
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$d/data
num.partitions=1
default.replication.factor=1
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=50
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=$GROUP_INITIAL_REBALANCE_DELAY_MS
auto.create.topics.enable=true
EOF
  # KAFKA_EXTRA_PROPERTIES: a file appended to each node's server.properties
  # (a key given again there wins), with @BROKER_PORT@ and @CONTROLLER_PORT@
  # replaced by the node's ports: e.g. a SASL listener and an authorizer.
  if [ -n "${KAFKA_EXTRA_PROPERTIES:-}" ]; then
    sed -e "s/@BROKER_PORT@/$bp/g" -e "s/@CONTROLLER_PORT@/$cp/g" "$KAFKA_EXTRA_PROPERTIES" >>"$d/server.properties"
  fi
  cat >"$d/log4j2.properties" <<EOF
status=warn
appender.file.type=File
appender.file.name=file
appender.file.fileName=$d/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
EOF
}

start_node() { # dir heap -> pid
  local d=$1 heap=$2
  # setsid: the JVM leads its own process group, so stop (or the watchdog)
  # ends it and anything it started with one signal, and a Ctrl-C in the
  # caller's terminal does not reach it.
  # shellcheck disable=SC2086
  setsid "$JAVA_BIN" $heap -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$d/log4j2.properties" \
    ${KAFKA_JVM_OPTS:-} -cp "$CP" kafka.Kafka "$d/server.properties" \
    >"$d/stdout.log" 2>&1 </dev/null &
  echo $!
}

# api_probe sends ApiVersions and Metadata through Kafka's own
# kafka-broker-api-versions (an AdminClient: Metadata to find the brokers,
# then ApiVersions to each) and checks every node answered.
api_probe() { # bootstrap nodes
  local out
  out=$("$JAVA_BIN" -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.level=error \
    -cp "$CP" org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$1" 2>/dev/null) || return 1
  [ "$(grep -c '(id: [0-9]* rack' <<<"$out")" -ge "$2" ]
}

stop_dir() { # dir
  local d=$1 pids p i alive
  [ -d "$d" ] || return 0
  [ -f "$d/kafka.pids" ] && pids=$(cat "$d/kafka.pids") || pids=""
  for p in $pids; do kill -TERM -- "-$p" 2>/dev/null || true; done
  # A controlled shutdown of a KRaft node takes a few seconds; KILL after 30.
  for i in $(seq 1 60); do
    alive=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break
    sleep 0.5
  done
  for p in $pids; do kill -KILL -- "-$p" 2>/dev/null || true; done
  # The watchdog ends by itself once the directory is gone; when it is the
  # one stopping (it execs this script), it must not signal itself.
  if [ -f "$d/watch.pid" ] && [ "$(cat "$d/watch.pid")" != "$$" ]; then
    kill "$(cat "$d/watch.pid")" 2>/dev/null || true
  fi
  case "$d" in /|"$HOME"|"$ROOT") die "refusing to remove $d" ;; esac
  rm -rf "$d"
}

cmd_start() {
  local nodes=1 dir="" watch=""
  while [ $# -gt 0 ]; do
    case $1 in
      --nodes) nodes=$2; shift 2 ;;
      --dir) dir=$2; shift 2 ;;
      --watch) watch=$2; shift 2 ;;
      *) die "start: unknown argument $1" ;;
    esac
  done
  [ "$nodes" = 1 ] || [ "$nodes" = 3 ] || die "--nodes is 1 or 3"
  JAVA_BIN=$(find_java)
  install
  CP=$(classpath)
  local managed=""
  if [ -z "$dir" ] && [ -f "$CURRENT" ] && [ -f "$(cat "$CURRENT")/kafka.pids" ]; then
    local p
    for p in $(cat "$(cat "$CURRENT")/kafka.pids"); do
      kill -0 "$p" 2>/dev/null && die "a Kafka started here is running in $(cat "$CURRENT"): '$0 stop' first, or start another with --dir"
    done
  fi
  if [ -z "$dir" ]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/rewind-kafka.XXXXXX")
    managed=1
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ ! -f "$dir/kafka.pids" ] || die "$dir already holds a Kafka (stop it first)"
  local heap=${KAFKA_HEAP_OPTS:-}
  if [ -z "$heap" ]; then
    if [ "$nodes" = 1 ]; then heap="-Xms64m -Xmx512m"; else heap="-Xms64m -Xmx384m"; fi
  fi
  local timeout=${REWIND_KAFKA_START_TIMEOUT:-120} t0=$SECONDS
  local cluster_id
  cluster_id=$("$JAVA_BIN" -Xmx64m -XX:TieredStopAtLevel=1 -cp "$CP" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  [ -n "$cluster_id" ] || die "kafka-storage random-uuid gave nothing"

  local attempt
  for attempt in 1 2 3; do
    local used="" bports=() cports=() voters="" i
    for i in $(seq 1 "$nodes"); do
      bports[i]=$(free_port $used); used="$used ${bports[i]}"
      cports[i]=$(free_port $used); used="$used ${cports[i]}"
      voters="$voters${voters:+,}$i@127.0.0.1:${cports[i]}"
    done
    local rf=1; [ "$nodes" = 3 ] && rf=3
    local fpids=()
    for i in $(seq 1 "$nodes"); do
      rm -rf "$dir/node$i"
      write_config "$dir/node$i" "$i" "${bports[i]}" "${cports[i]}" "$voters" "$rf"
      "$JAVA_BIN" -Xmx128m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$dir/node$i/log4j2.properties" \
        -cp "$CP" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/node$i/server.properties" \
        >"$dir/node$i/format.log" 2>&1 &
      fpids[i]=$!
    done
    for i in $(seq 1 "$nodes"); do
      wait "${fpids[i]}" || { cat "$dir/node$i/format.log" >&2; die "kafka-storage format failed"; }
    done
    local pids="" bootstrap=""
    for i in $(seq 1 "$nodes"); do
      pids="$pids${pids:+ }$(start_node "$dir/node$i" "$heap")"
      bootstrap="$bootstrap${bootstrap:+,}127.0.0.1:${bports[i]}"
    done
    echo "$pids" >"$dir/kafka.pids"
    echo "$bootstrap" >"$dir/bootstrap"
    if [ -n "$watch" ]; then
      # The watchdog ends the cluster and removes its directory once the
      # process that asked for it is gone, however it ended (a test binary
      # that panicked or hit its -timeout runs no cleanup of its own).
      setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 1; done
        [ -d "$2" ] && exec "$3" stop --dir "$2"' watchdog "$watch" "$dir" "$ROOT/.ci/kafka.sh" \
        >/dev/null 2>&1 </dev/null &
      echo $! >"$dir/watch.pid"
    fi
    [ -n "$managed" ] && { mkdir -p "$CACHE"; echo "$dir" >"$CURRENT"; }

    # Wait for every broker port, then for ApiVersions and Metadata.
    local ok="" bound_fail=""
    while [ $((SECONDS - t0)) -lt "$timeout" ]; do
      local up=1 p
      for p in $pids; do
        if ! kill -0 "$p" 2>/dev/null; then up=""; bound_fail=1; fi
      done
      [ -n "$bound_fail" ] && break
      for i in $(seq 1 "$nodes"); do listening "${bports[i]}" || up=""; done
      if [ -n "$up" ] && api_probe "$bootstrap" "$nodes"; then ok=1; break; fi
      sleep 0.5
    done
    if [ -n "$ok" ]; then
      log "Kafka $KAFKA_VERSION ($nodes node(s), cluster $cluster_id) ready in $((SECONDS - t0)) s in $dir"
      echo "KAFKA_BOOTSTRAP=$bootstrap"
      echo "KAFKA_DIR=$dir"
      return 0
    fi
    if [ -n "$bound_fail" ] && grep -qs "Address already in use" "$dir"/node*/server.log "$dir"/node*/stdout.log && [ "$attempt" -lt 3 ]; then
      log "a port was taken meanwhile; retrying with other ports"
      stop_nodes_only "$dir"
      continue
    fi
    for i in $(seq 1 "$nodes"); do
      echo "--- node$i stdout" >&2; tail -20 "$dir/node$i/stdout.log" >&2 || true
      echo "--- node$i server.log" >&2; grep -E "ERROR|FATAL|Exception" "$dir/node$i/server.log" | tail -20 >&2 || true
    done
    stop_dir "$dir"
    die "Kafka did not answer ApiVersions and Metadata within $timeout s"
  done
}

stop_nodes_only() { # dir: kill the nodes of a failed attempt, keep the dir
  local p
  for p in $(cat "$1/kafka.pids" 2>/dev/null); do kill -KILL -- "-$p" 2>/dev/null || true; done
  if [ -f "$1/watch.pid" ]; then kill "$(cat "$1/watch.pid")" 2>/dev/null || true; rm -f "$1/watch.pid"; fi
  rm -f "$1/kafka.pids"
  sleep 1
}

pick_dir() { # args -> dir
  local dir=""
  while [ $# -gt 0 ]; do
    case $1 in
      --dir) dir=$2; shift 2 ;;
      *) die "unknown argument $1" ;;
    esac
  done
  if [ -z "$dir" ]; then
    [ -f "$CURRENT" ] || die "no Kafka started by '$0 start' (no $CURRENT)"
    dir=$(cat "$CURRENT")
  fi
  echo "$dir"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case $cmd in
  install)
    find_java >/dev/null
    install
    ;;
  start) cmd_start "$@" ;;
  stop)
    dir=$(pick_dir "$@")
    stop_dir "$dir"
    if [ -f "$CURRENT" ] && [ "$(cat "$CURRENT")" = "$dir" ]; then rm -f "$CURRENT"; fi
    ;;
  env)
    dir=$(pick_dir "$@")
    [ -f "$dir/bootstrap" ] || die "no Kafka in $dir"
    echo "KAFKA_BOOTSTRAP=$(cat "$dir/bootstrap")"
    echo "KAFKA_DIR=$dir"
    echo "KAFKA_PIDS=\"$(cat "$dir/kafka.pids")\""
    echo "KAFKA_CLASSPATH=$(classpath)"
    echo "KAFKA_JAVA=$(find_java)"
    ;;
  run)
    [ $# -ge 1 ] || die "run CLASS ARGS..."
    JAVA_BIN=$(find_java); install
    cls=$1; shift
    exec "$JAVA_BIN" -Xmx256m -Dlog4j2.level=warn -cp "$(classpath)" "$cls" "$@"
    ;;
  *)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    [ -z "$cmd" ] || exit 2
    ;;
esac
