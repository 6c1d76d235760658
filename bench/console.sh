#!/usr/bin/env bash
# The console's pages under load: server time of the repositories list, a repository's page
# (100 packages), a package's versions and a version's files, signed in, with wrk (1 thread,
# 2 connections: latency, not saturation) against `trove serve` on 127.0.0.1. Prints req/s,
# p50 and p99 per page.
#
#   bench/console.sh
#
# Tunables: BENCH_WRK_SECS (5), BENCH_TMP (/tmp), BENCH_BIN (a built trove). Stops the
# server (by PID) on exit.
set -euo pipefail

WRK_SECS=${BENCH_WRK_SECS:-5}
TMP_PARENT=${BENCH_TMP:-/tmp}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
need_tools curl python3
release_binary
start_server trove-bench-console
lift_rate_limits
api() { curl -fsS -X "$1" -H "$AUTH" -H 'Content-Type: application/json' --data-binary "$3" "$BASE$2"; }

api POST /v1/repositories '{"name":"libs","format":"generic"}' >/dev/null
log "publishing 100 packages (the first with 10 versions)"
python3 - "$BASE" "$TOKEN" <<'PY'
import hashlib, json, sys, time, urllib.request
base, token = sys.argv[1:3]
def call(method, path, body=None, headers=None, raw=None):
    req = urllib.request.Request(base + path if path.startswith("/") else path, method=method,
                                 data=raw if raw is not None else (json.dumps(body).encode() if body is not None else None))
    if raw is None:
        req.add_header("Authorization", f"Bearer {token}")
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")
ids = []
for i in range(100):
    for v in range(10 if i == 0 else 1):
        data = f"package {i} version {v}".encode()
        t = call("POST", "/v1/repositories/libs/uploads", {"package": f"pkg-{i:03}", "version": f"1.{v}.0",
                 "filename": f"pkg-{i:03}-1.{v}.0.bin", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        call(t["method"], t["url"], headers=t["headers"], raw=data)
        ids.append(t["upload_id"])
for upload in ids:
    for _ in range(400):
        if call("GET", f"/v1/repositories/libs/uploads/{upload}")["status"] in ("published", "rejected"):
            break
        time.sleep(0.05)
PY

COOKIE=$(curl -fsS -o /dev/null -D - --data-urlencode "api_key=$TOKEN" "$BASE/console/sign-in" \
    | awk -F'[ ;]' 'tolower($1) == "set-cookie:" { print $2 }')
[ -n "$COOKIE" ] || die "signing in to the console gave no cookie"

ROWS="page req/s p50 p99"
for entry in "repositories|/console/" "repository|/console/r/libs" "package|/console/r/libs/p/pkg-000" \
    "version|/console/r/libs/p/pkg-000/v/1.9.0" "search|/console/search?q=name%3Apkg-0*" "asset|"; do
    name=${entry%%|*}
    path=${entry#*|}
    if [ "$name" = asset ]; then
        path=$(curl -fsS -H "Cookie: $COOKIE" "$BASE/console/" | grep -o '/console/assets/console-[0-9a-f]*\.js' | head -1)
    fi
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "$BASE$path")
    [ "$status" = 200 ] || die "$path answered $status"
    out=$(wrk -t1 -c2 -d"${WRK_SECS}s" --latency -H "Cookie: $COOKIE" "$BASE$path")
    rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ { print $2 }')
    p50=$(printf '%s\n' "$out" | awk '$1 == "50%" { print $2 }')
    p99=$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }')
    err=$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
    [ -z "$err" ] || die "$name: $err non-2xx answers"
    ROWS+=$'\n'"$name $rps $p50 $p99"
done
log "console pages (signed in; wrk 1 thread, 2 connections, ${WRK_SECS}s each)"
printf '%s\n' "$ROWS" | column -t
