#!/usr/bin/env bash
# Trove benchmark: read latency/throughput (wrk), end-to-end publish rate, large presigned
# transfers and the server's peak memory.
#
#   bench/run.sh
#
# Builds the release binary, starts `trove serve` on 127.0.0.1 (free port, temp data dir),
# measures, prints a summary, and stops the server (by PID) on exit. Needs curl, python3
# (standard library only), sha256sum and wrk (installed with apt-get if missing).
# Tunables (environment): BENCH_UPLOADS (500), BENCH_PARALLEL (16), BENCH_WRK_SECS (10),
# BENCH_BIG_MB (1024), BENCH_MID_MB (100), BENCH_TMP (temp dir parent, default /tmp),
# BENCH_BIN (use this binary instead of building target/release/trove).
set -euo pipefail

UPLOADS=${BENCH_UPLOADS:-500}
PARALLEL=${BENCH_PARALLEL:-16}
WRK_SECS=${BENCH_WRK_SECS:-10}
BIG_MB=${BENCH_BIG_MB:-1024}
MID_MB=${BENCH_MID_MB:-100}
TMP_PARENT=${BENCH_TMP:-/tmp}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
need_tools curl python3 sha256sum head
release_binary
start_server trove-bench

vm() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SERVER_PID/status"; } # kB
PEAK_RESET=0
reset_peak() { echo 5 2>/dev/null >"/proc/$SERVER_PID/clear_refs" && PEAK_RESET=1 || true; }
mb_of_kb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# json FIELD... : reads JSON on stdin, prints data["a"]["b"]...
json() {
    python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1:]:
    v = v[k]
print(v if not isinstance(v, (dict, list)) else json.dumps(v))' "$@"
}

api() { # METHOD PATH [JSON]
    if [ $# -ge 3 ]; then
        curl -fsS -X "$1" -H "$AUTH" -H 'Content-Type: application/json' --data-binary "$3" "$BASE$2"
    else
        curl -fsS -X "$1" -H "$AUTH" "$BASE$2"
    fi
}

lift_rate_limits || log "no /v1/policy (a build without rate limits)"

# upload_file FILE PACKAGE VERSION FILENAME -> sets UP_ID, UP_MBPS, UP_SECS
upload_file() {
    local file=$1 pkg=$2 ver=$3 name=$4 size sha ticket url stats speed headers
    size=$(stat -c %s "$file")
    sha=$(sha256sum "$file" | cut -d' ' -f1)
    ticket=$(api POST /v1/repositories/bench/uploads \
        "{\"package\":\"$pkg\",\"version\":\"$ver\",\"filename\":\"$name\",\"size\":$size,\"sha256\":\"$sha\"}")
    url=$(printf '%s' "$ticket" | json url)
    UP_ID=$(printf '%s' "$ticket" | json upload_id)
    # Exactly the ticket's headers (curl -T sets Content-Length itself).
    headers=$(printf '%s' "$ticket" | python3 -c 'import json, sys
for k, v in json.load(sys.stdin)["headers"].items():
    if k.lower() != "content-length":
        print(f"{k}: {v}")')
    local -a hdrs=()
    while IFS= read -r line; do
        [ -n "$line" ] && hdrs+=(-H "$line")
    done <<<"$headers"
    stats=$(curl -fsS -T "$file" "${hdrs[@]}" -o /dev/null \
        -w '%{speed_upload} %{time_total}' "$url")
    read -r speed UP_SECS <<<"$stats"
    UP_MBPS=$(awk -v s="$speed" 'BEGIN { printf "%.1f", s / 1048576 }')
}

# wait_published UPLOAD_ID [TIMEOUT_SECS]
wait_published() {
    local id=$1 limit=${2:-120} status=""
    local tries=$((limit * 5))
    for _ in $(seq 1 "$tries"); do
        status=$(api GET "/v1/repositories/bench/uploads/$id" | json status)
        case "$status" in
            published) return 0 ;;
            rejected) die "upload $id rejected" ;;
        esac
        sleep 0.2
    done
    die "upload $id still $status after ${limit}s"
}

# download PACKAGE VERSION FILENAME -> sets DL_MBPS, DL_SECS, DL_BYTES
download() {
    local link url stats speed
    link=$(api GET "/v1/repositories/bench/packages/$1/versions/$2/files/$3?redirect=false")
    url=$(printf '%s' "$link" | json url)
    stats=$(curl -fsS -o /dev/null -w '%{speed_download} %{time_total} %{size_download}' "$url")
    read -r speed DL_SECS DL_BYTES <<<"$stats"
    DL_MBPS=$(awk -v s="$speed" 'BEGIN { printf "%.1f", s / 1048576 }')
}

# --- seed -----------------------------------------------------------------------------------
log "seeding repository bench, package pkg 1.0.0"
api POST /v1/repositories '{"name":"bench","format":"generic","description":"benchmark"}' >/dev/null
head -c 4096 /dev/urandom >"$WORK/seed.bin"
upload_file "$WORK/seed.bin" pkg 1.0.0 seed.bin
wait_published "$UP_ID" 30
for i in $(seq 1 20); do
    head -c 256 /dev/urandom >"$WORK/extra.bin"
    upload_file "$WORK/extra.bin" "pkg-$i" 1.0.0 extra.bin
    wait_published "$UP_ID" 30
done
HWM_START=$(vm VmHWM)

# --- wrk ------------------------------------------------------------------------------------
run_wrk /v1/repositories/bench/packages/pkg/versions/1.0.0
V_RPS=$WRK_RPS V_P50=$WRK_P50 V_P99=$WRK_P99 V_ERR=$WRK_ERR
run_wrk /v1/repositories/bench/packages
P_RPS=$WRK_RPS P_P50=$WRK_P50 P_P99=$WRK_P99 P_ERR=$WRK_ERR

# --- publish rate ---------------------------------------------------------------------------
log "publish rate: $UPLOADS x 1 KB uploads, request + PUT + poll, $PARALLEL at a time"
cat >"$WORK/publish.py" <<'PY'
import hashlib, http.client, json, os, sys, threading, time, urllib.parse
from concurrent.futures import ThreadPoolExecutor

base, token, count, parallel = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
api = urllib.parse.urlsplit(base)
local = threading.local()

def conn():
    c = getattr(local, "c", None)
    if c is None:
        c = local.c = http.client.HTTPConnection(api.hostname, api.port, timeout=60)
    return c

def call(method, url, body=None, headers=None):
    u = urllib.parse.urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    for attempt in range(2):
        c = conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        except (http.client.HTTPException, OSError):
            c.close()
            local.c = None
            if attempt:
                raise

def one(i):
    data = os.urandom(1024)
    auth = {"Authorization": "Bearer " + token}
    req = {"package": "rate-%d" % (i % 25), "version": "1.0.%d" % i, "filename": "f.bin",
           "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    status, body = call("POST", base + "/v1/repositories/bench/uploads", json.dumps(req),
                        dict(auth, **{"Content-Type": "application/json"}))
    if status != 201:
        return "request-%d" % status
    ticket = json.loads(body)
    status, _ = call("PUT", ticket["url"], data, ticket["headers"])
    if status // 100 != 2:
        return "put-%d" % status
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, body = call("GET", base + "/v1/repositories/bench/uploads/" + ticket["upload_id"],
                            headers=auth)
        if status != 200:
            return "poll-%d" % status
        upload = json.loads(body)
        state = upload["status"]
        if state == "published":
            return state
        if state == "rejected":
            # The reason, so a refusal under load can be told from a refused file.
            return "rejected: %s" % (upload.get("reason") or "")[:120]
        time.sleep(0.01)
    return "timeout"

start = time.monotonic()
with ThreadPoolExecutor(parallel) as pool:
    results = list(pool.map(one, range(count)))
elapsed = time.monotonic() - start
published = results.count("published")
others = {}
for r in results:
    if r != "published":
        others[r] = others.get(r, 0) + 1
print("%d %.2f %.1f %s" % (published, elapsed, published / elapsed,
                           json.dumps(others, separators=(",", ":"))))
PY
PUB_OUT=$(python3 "$WORK/publish.py" "$BASE" "$TOKEN" "$UPLOADS" "$PARALLEL")
read -r PUB_OK PUB_SECS PUB_RATE PUB_OTHER <<<"$PUB_OUT"
printf 'published %s/%s in %ss: %s uploads/s; other outcomes: %s\n' \
    "$PUB_OK" "$UPLOADS" "$PUB_SECS" "$PUB_RATE" "$PUB_OTHER" >&2
HWM_BEFORE_BIG=$(vm VmHWM)

# --- large transfers --------------------------------------------------------------------------
# transfer MB -> sets T_PUT T_GET T_PIPE T_HWM
transfer() {
    local mb=$1 file="$WORK/big.bin" t0 t1
    log "large transfer: ${mb} MB"
    head -c "$((mb * 1048576))" /dev/urandom >"$file"
    reset_peak
    upload_file "$file" big "$mb.0.0" big.bin
    t0=$(date +%s.%N)
    wait_published "$UP_ID" 600
    t1=$(date +%s.%N)
    download big "$mb.0.0" big.bin
    [ "$DL_BYTES" -eq "$((mb * 1048576))" ] || die "downloaded $DL_BYTES bytes of ${mb} MB"
    T_PUT=$UP_MBPS
    T_GET=$DL_MBPS
    T_PIPE=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    T_HWM=$(vm VmHWM)
    rm -f "$file"
    printf 'PUT %s MB/s (%ss), publish pipeline %ss, GET %s MB/s (%ss), VmHWM %s MB\n' \
        "$T_PUT" "$UP_SECS" "$T_PIPE" "$T_GET" "$DL_SECS" "$(mb_of_kb "$T_HWM")" >&2
}
transfer "$MID_MB"
MID_PUT=$T_PUT MID_GET=$T_GET MID_PIPE=$T_PIPE MID_HWM=$T_HWM
transfer "$BIG_MB"
BIG_PUT=$T_PUT BIG_GET=$T_GET BIG_PIPE=$T_PIPE BIG_HWM=$T_HWM
RSS_END=$(vm VmRSS)

# --- scheduled jobs -----------------------------------------------------------------------------
# The daily report and the hourly cleanup over what the bench published (~540 versions in 48
# packages, 2 large files), run as `trove admin run-job` against the live server's data dir.
# Retention keep_last 5 makes cleanup delete and collect for real.
REPORT_SECS=- REPORT_VERSIONS=- DRY_SECS=- CLEAN_SECS=- CLEAN_VERSIONS=- CLEAN_BLOBS=-
if "$BIN" admin run-job --help >/dev/null 2>&1; then
    log "scheduled jobs: report, cleanup dry run, cleanup (keep_last 5)"
    api PUT /v1/repositories/bench/retention '{"keep_last":5}' >/dev/null
    # job NAME ARGS... -> sets JOB_SECS, JOB_OUT
    job() {
        local t0 t1
        t0=$(date +%s.%N)
        JOB_OUT=$("$BIN" admin run-job "$@" --data-dir "$DATA" --public-url "$BASE")
        t1=$(date +%s.%N)
        JOB_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    }
    job report --date "$(date -u +%F)"
    REPORT_SECS=$JOB_SECS
    REPORT_VERSIONS=$(printf '%s' "$JOB_OUT" | python3 -c 'import json, sys
s = json.load(sys.stdin)
print(sum(r["versions"] for t in s["reports"] for r in t["repositories"]))')
    job cleanup --dry-run
    DRY_SECS=$JOB_SECS
    job cleanup
    CLEAN_SECS=$JOB_SECS
    read -r CLEAN_VERSIONS CLEAN_BLOBS CLEAN_MB <<<"$(printf '%s' "$JOB_OUT" | python3 -c 'import json, sys
s = json.load(sys.stdin)
versions = sum(len(r["versions_removed"]) for t in s["tenants"] for r in t["repositories"])
print(versions, s["blobs_collected"], "%.1f" % (s["bytes_freed"] / 1048576))')"
    printf 'report %ss (%s versions), cleanup dry run %ss, cleanup %ss: %s versions, %s blobs, %s MB freed\n' \
        "$REPORT_SECS" "$REPORT_VERSIONS" "$DRY_SECS" "$CLEAN_SECS" "$CLEAN_VERSIONS" "$CLEAN_BLOBS" "$CLEAN_MB" >&2
else
    log "no trove admin run-job (a build without scheduled jobs): jobs not timed"
fi

# --- summary ----------------------------------------------------------------------------------
printf '\nTrove bench (%s, %s cores, server pid %s)\n' "$(date -u +%FT%TZ)" "$(nproc)" "$SERVER_PID"
printf '%-44s %14s %10s %10s\n' "measure" "rate" "p50" "p99"
printf '%-44s %14s %10s %10s\n' "GET version (wrk 2t/32c/${WRK_SECS}s)" "$V_RPS req/s" "$V_P50" "$V_P99"
printf '%-44s %14s %10s %10s\n' "GET packages (wrk 2t/32c/${WRK_SECS}s)" "$P_RPS req/s" "$P_P50" "$P_P99"
printf '%-44s %14s\n' "publish 1 KB end to end (x$UPLOADS, -P$PARALLEL)" "$PUB_RATE up/s"
printf '%-44s %14s\n' "PUT ${MID_MB} MB presigned" "$MID_PUT MB/s"
printf '%-44s %14s\n' "GET ${MID_MB} MB presigned" "$MID_GET MB/s"
printf '%-44s %14s\n' "publish pipeline ${MID_MB} MB (after PUT)" "${MID_PIPE} s"
printf '%-44s %14s\n' "PUT ${BIG_MB} MB presigned" "$BIG_PUT MB/s"
printf '%-44s %14s\n' "GET ${BIG_MB} MB presigned" "$BIG_GET MB/s"
printf '%-44s %14s\n' "publish pipeline ${BIG_MB} MB (after PUT)" "${BIG_PIPE} s"
printf '%-44s %14s\n' "server VmHWM after seeding" "$(mb_of_kb "$HWM_START") MB"
printf '%-44s %14s\n' "server VmHWM after wrk + publish rate" "$(mb_of_kb "$HWM_BEFORE_BIG") MB"
printf '%-44s %14s\n' "server VmHWM during ${MID_MB} MB transfer" "$(mb_of_kb "$MID_HWM") MB"
printf '%-44s %14s\n' "server VmHWM during ${BIG_MB} MB transfer" "$(mb_of_kb "$BIG_HWM") MB"
printf '%-44s %14s\n' "server VmRSS at end" "$(mb_of_kb "$RSS_END") MB"
printf '%-44s %14s\n' "report job ($REPORT_VERSIONS versions)" "$REPORT_SECS s"
printf '%-44s %14s\n' "cleanup job, dry run" "$DRY_SECS s"
printf '%-44s %14s\n' "cleanup job ($CLEAN_VERSIONS versions, $CLEAN_BLOBS blobs)" "$CLEAN_SECS s"
if [ "$V_ERR" != 0 ] || [ "$P_ERR" != 0 ]; then
    printf 'WARNING: non-2xx answers under wrk: version %s, packages %s\n' "$V_ERR" "$P_ERR"
fi
if [ "$PUB_OK" != "$UPLOADS" ]; then
    printf 'WARNING: only %s of %s uploads published: %s\n' "$PUB_OK" "$UPLOADS" "$PUB_OTHER"
fi
if [ "$PEAK_RESET" = 1 ]; then
    printf '(VmHWM is reset through /proc/PID/clear_refs before each large transfer, so each\n'
    printf ' row is the peak during that transfer; without reset it is the peak since start.)\n'
fi
