#!/usr/bin/env bash
# Builds the Java clients of the compatibility matrix into target/ (classes
# and, in target/lib, the runtime jars) with Maven, unless target/ already
# holds a build of exactly this pom and these sources. Maven resolves
# against its local repository (~/.m2/repository, or $REWIND_MAVEN_REPO), so
# only the first build needs Maven Central.
#
# Exit status 3: a prerequisite is missing (java 17+, mvn, or Maven could not
# fetch the jars); compat/java_test.go shows the rows as not run (or failed,
# with REWIND_COMPAT_REQUIRED=1) with this script's last line as the reason.
set -euo pipefail
cd "$(dirname "$0")"
missing() { echo "compat/java: missing prerequisite: $*" >&2; exit 3; }

command -v java >/dev/null || missing "no java on PATH (Java 17 or newer)"
v=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/{print $2}')
[ "${v%%.*}" -ge 17 ] 2>/dev/null || missing "java is Java $v; kafka-clients 4 needs 17 or newer"
command -v mvn >/dev/null || missing "no mvn on PATH (apt-get install maven)"

want=$(cat pom.xml $(find src -type f | sort) | sha256sum | cut -d' ' -f1)
[ "$(cat target/.built 2>/dev/null)" = "$want" ] && exit 0
rm -rf target
repo=${REWIND_MAVEN_REPO:-$HOME/.m2/repository}
if ! out=$(mvn -B -q -Dmaven.repo.local="$repo" package 2>&1); then
  echo "$out" | tail -20 >&2
  if grep -qE 'Could not (resolve|transfer)|Unknown host|Connection refused|Network is unreachable' <<<"$out"; then
    missing "Maven could not fetch kafka-clients/kafka-streams 4.4.0 (no network to Maven Central?)"
  fi
  echo "compat/java: mvn package failed" >&2
  exit 1
fi
echo "$want" >target/.built
