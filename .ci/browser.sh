#!/usr/bin/env bash
# Installs Debian's Chromium (idempotent: only when missing) and runs the
# web console's end-to-end tests in it headless, with
# REWIND_BROWSER_REQUIRED=1 so that a missing browser fails instead of
# skipping. Screenshots go to $REWIND_SCREENSHOTS if set (for example
# REWIND_SCREENSHOTS=$PWD/docs/screenshots to refresh the committed ones),
# else to a temporary directory. Developers can run it directly.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

if ! command -v chromium >/dev/null 2>&1; then
  echo "== browser: apt-get install chromium"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
    cat "$log"
    echo "browser: apt-get install chromium failed" >&2
    exit 1
  fi
  rm -f "$log"
fi
chromium --version

echo "== browser: console end-to-end tests (headless Chromium, loopback only)"
REWIND_BROWSER_REQUIRED=1 go test -count=1 -timeout 10m -run 'TestConsole' -v ./test/browser/
echo "== browser: done in $(( $(date +%s) - start ))s"
