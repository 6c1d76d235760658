#!/usr/bin/env bash
# The whole test suite RUNS times in a row (default 3) while release builds of the Lambda
# functions run beside it, one after another, in a second checkout: a suite that passes here
# does not lean on an idle machine. Prints one line per run. Needs what scripts/test.sh
# installs (./.venv, ./.tools); run that once first.
#
#   scripts/suite-under-load.sh            # 3 runs
#   RUNS=5 scripts/suite-under-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-3}"
export TROVE_MOTO_SERVER="$PWD/.venv/bin/moto_server"
export TROVE_SAM_PYTHON="$PWD/.venv/bin/python"
export TROVE_CONSOLE_PYTHON="$PWD/.venv/bin/python"
[ -x "$TROVE_MOTO_SERVER" ] || { echo "run scripts/test.sh once first" >&2; exit 2; }

cargo test --workspace --no-run >/dev/null 2>&1

load=$(mktemp -d)
logs=$(mktemp -d)
git worktree add --quiet --detach "$load/tree" HEAD
running="$load/running"
touch "$running"
(
  cd "$load/tree"
  while [ -e "$running" ]; do
    touch shared/core/src/lib.rs
    cargo build --release -p trove-functions --bins >/dev/null 2>&1 || true
  done
) &
loader=$!
cleanup() {
  rm -f "$running"
  pkill -P "$loader" 2>/dev/null || true
  kill "$loader" 2>/dev/null || true
  wait "$loader" 2>/dev/null || true
  git worktree remove --force "$load/tree" 2>/dev/null || true
  rm -rf "$load"
}
trap cleanup EXIT

failed=0
for i in $(seq 1 "$runs"); do
  started=$(date +%s)
  if cargo test --workspace --no-fail-fast >"$logs/run-$i.log" 2>&1; then rc=0; else rc=$?; failed=1; fi
  counts=$(grep -h '^test result' "$logs/run-$i.log" | awk '{p+=$4; f+=$6} END {print p" passed, "f" failed"}')
  echo "run $i: exit $rc in $(( $(date +%s) - started )) s, $counts (log: $logs/run-$i.log)"
done
exit "$failed"
