#!/usr/bin/env bash
# Search latency by query kind as the catalogue grows: a tenant of 1,000, 10,000 and
# 100,000 versions (5 repositories, 10 versions per package), seeded straight into the data
# directory through Persist's own transaction (shared/testkit/examples/seed_search.rs), then
# `GET /v1/search` per kind with wrk (1 thread, 2 connections: latency, not saturation)
# against `trove serve` on 127.0.0.1. Prints size, kind, req/s, p50, p99 and the hits.
#
#   bench/search.sh
#
# Tunables: BENCH_WRK_SECS (5), BENCH_SIZES ("1000 10000 100000"), BENCH_TMP (/tmp),
# BENCH_BIN (a built trove). Stops the server (by PID) on exit.
set -euo pipefail

WRK_SECS=${BENCH_WRK_SECS:-5}
SIZES=${BENCH_SIZES:-"1000 10000 100000"}
TMP_PARENT=${BENCH_TMP:-/tmp}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
need_tools curl python3
release_binary
log "building the seeder"
cargo build --release -p trove-testkit --features host --example seed_search
SEED="$ROOT/target/release/examples/seed_search"

start_server trove-bench-search
lift_rate_limits
PORT=${BASE##*:}

stop_server() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

serve_again() {
    TROVE_LOG=${TROVE_LOG:-warn} "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" \
        >>"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 240); do
        curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null && return 0
        sleep 0.25
    done
    die "server not ready again"
}

urlq() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }

SHARED=$(python3 -c 'import hashlib; print(hashlib.sha256(b"shared").hexdigest())')
KINDS=(
    "name|name:pkg-00042"
    "name-glob|name:pkg-0004*"
    "name+version|name:pkg-00042 version:>=1.5"
    "repository|repo:libs3"
    "checksum|sha256:${SHARED:0:16}"
    "publisher|by:user_ci"
    "recent|published:<1d"
    "word|00042"
    "or|name:pkg-00001 OR name:pkg-00077"
    "scan:status|status:yanked"
)

ROWS="size kind req/s p50 p99 hits"
seeded=0
for size in $SIZES; do
    stop_server
    log "seeding versions $seeded..$size"
    "$SEED" "$DATA" "$seeded" "$size"
    seeded=$size
    serve_again
    for entry in "${KINDS[@]}"; do
        kind=${entry%%|*}
        q=${entry#*|}
        path="/v1/search?q=$(urlq "$q")&limit=20"
        hits=$(curl -fsS -H "$AUTH" "$BASE$path" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["items"]))')
        out=$(wrk -t1 -c2 -d"${WRK_SECS}s" --latency -H "$AUTH" "$BASE$path")
        rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ { print $2 }')
        p50=$(printf '%s\n' "$out" | awk '$1 == "50%" { print $2 }')
        p99=$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }')
        err=$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
        [ -z "$err" ] || die "$kind: $err non-2xx answers"
        ROWS+=$'\n'"$size $kind $rps $p50 $p99 $hits"
        printf '%s %s %s %s %s %s\n' "$size" "$kind" "$rps" "$p50" "$p99" "$hits" >&2
    done
done
log "search latency (limit=20; wrk 1 thread, 2 connections, ${WRK_SECS}s each)"
printf '%s\n' "$ROWS" | column -t
