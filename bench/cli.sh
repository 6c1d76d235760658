#!/usr/bin/env bash
# The `trove` client moving big files against `trove serve` on 127.0.0.1: `trove push`
# (hash, parts in parallel, the pipeline's scan and publish) and `trove pull` (download and
# verify) of 1 GiB and 5 GiB files, next to the same push done by hand with `sha256sum` and
# one `curl -T` PUT to the presigned URL, and the same download by `curl -o`. Prints seconds, MB/s, the client's peak RSS
# (GNU time's "Maximum resident set size") and the server's (VmHWM, a high-water mark since
# it started).
#
#   bench/cli.sh
#
# Builds the release binary (or takes BENCH_BIN), writes the files from /dev/urandom under
# BENCH_TMP (needs twice the largest size free, plus the server's copy), and stops the
# server (by PID) on exit. Needs curl, python3, sha256sum and /usr/bin/time (Debian's
# `time`). Tunables: BENCH_SIZES (GiB, "1 5"), BENCH_PARALLEL (4), BENCH_PART_SIZE (16MiB),
# BENCH_TMP (temp dir parent, default /tmp).
set -euo pipefail

SIZES=${BENCH_SIZES:-1 5}
PARALLEL=${BENCH_PARALLEL:-4}
PART_SIZE=${BENCH_PART_SIZE:-16MiB}
TMP_PARENT=${BENCH_TMP:-/tmp}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
for tool in curl python3 sha256sum /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
release_binary
start_server trove-bench-cli
api() { curl -fsS -X "$1" -H "$AUTH" -H 'Content-Type: application/json' --data-binary "$3" "$BASE$2"; }
lift_rate_limits
api POST /v1/repositories '{"name":"bench","format":"generic"}' >/dev/null

# The client's own login, isolated from the user's.
export XDG_CONFIG_HOME="$WORK/config"
"$BIN" login --url "$BASE" --key-file "$DATA/admin-token" --quiet >/dev/null

# timed NAME COMMAND... -> sets SECS and RSS_MB (GNU time of COMMAND, output in $WORK/NAME.out)
timed() {
    local name=$1 started ended
    shift
    started=$(date +%s.%N)
    /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out"
    ended=$(date +%s.%N)
    SECS=$(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", b - a }')
    RSS_MB=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$WORK/$name.time")
}

server_hwm_mb() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status"; }

# wait_published UPLOAD_ID
wait_published() {
    local status
    for _ in $(seq 1 36000); do
        status=$(curl -fsS -H "$AUTH" "$BASE/v1/repositories/bench/uploads/$1" |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
        case $status in
            published) return 0 ;;
            rejected | cancelled) die "upload $1 ended $status" ;;
        esac
        sleep 0.2
    done
    die "upload $1 not published after 2 hours"
}

# The same publish without the client: hash, ask for one presigned PUT, curl -T, wait.
curl_push() { # FILE VERSION
    local file=$1 version=$2 size sha ticket url
    size=$(stat -c %s "$file")
    sha=$(sha256sum "$file" | cut -d' ' -f1)
    ticket=$(api POST /v1/repositories/bench/uploads \
        "{\"package\":\"by-curl\",\"version\":\"$version\",\"filename\":\"f.bin\",\"size\":$size,\"sha256\":\"$sha\"}")
    url=$(printf '%s' "$ticket" | python3 -c 'import json, sys; print(json.load(sys.stdin)["url"])')
    local -a headers=()
    while IFS= read -r line; do headers+=(-H "$line"); done < <(printf '%s' "$ticket" |
        python3 -c 'import json, sys; [print(f"{k}: {v}") for k, v in json.load(sys.stdin)["headers"].items() if k.lower() != "content-length"]')
    curl -fsS -o /dev/null -T "$file" "${headers[@]}" "$url"
    wait_published "$(printf '%s' "$ticket" | python3 -c 'import json, sys; print(json.load(sys.stdin)["upload_id"])')"
}
export -f curl_push api wait_published die
export AUTH BASE

printf '\n| size | what | seconds | MB/s | client peak RSS (MB) | server VmHWM (MB) |\n|---|---|---|---|---|---|\n'
for gib in $SIZES; do
    file="$WORK/file-$gib.bin"
    bytes=$((gib * 1024 * 1024 * 1024))
    log "writing $gib GiB of random bytes"
    head -c "$bytes" /dev/urandom >"$file"
    # Written back now, not while the runs below read and write.
    sync
    row() { # WHAT
        printf '| %s GiB | %s | %s | %s | %s | %s |\n' "$gib" "$1" "$SECS" \
            "$(awk -v b="$bytes" -v s="$SECS" 'BEGIN { printf "%.0f", b / 1e6 / s }')" "$RSS_MB" "$(server_hwm_mb)"
    }

    log "trove push of $gib GiB"
    timed "push-$gib" "$BIN" push bench "$file" --package by-trove --version "$gib.0.0" \
        --part-size "$PART_SIZE" --parallel "$PARALLEL" --quiet --json
    row "trove push (hash, parts, pipeline)"

    log "sha256sum + curl -T of $gib GiB"
    timed "curl-$gib" bash -c 'curl_push "$1" "$2"' _ "$file" "$gib.0.0"
    row "sha256sum + curl -T + pipeline"

    log "trove pull of $gib GiB"
    rm -f "$file"
    timed "pull-$gib" "$BIN" pull bench by-trove "$gib.0.0" -o "$WORK/pulled-$gib.bin" --quiet --json
    row "trove pull (download, verify, fsync)"
    rm -f "$WORK/pulled-$gib.bin"

    # The floor a download to disk has on this machine: the same presigned URL fetched by
    # curl into a file (no hash, no fsync), and into /dev/null (the server alone).
    link=$(curl -fsS -H "$AUTH" "$BASE/v1/repositories/bench/packages/by-trove/versions/$gib.0.0/files/file-$gib.bin?redirect=false" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["url"])')
    case $link in http*) ;; *) link="$BASE$link" ;; esac
    timed "curl-get-$gib" curl -fsS -o "$WORK/pulled-$gib.bin" "$link"
    row "curl -o FILE of the presigned GET"
    rm -f "$WORK/pulled-$gib.bin"
    timed "curl-null-$gib" curl -fsS -o /dev/null "$link"
    row "curl -o /dev/null of the presigned GET"
done
