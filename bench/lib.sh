# Shared by the bench scripts (sourced, not run): tools, the release binary, a `trove serve`
# on a free 127.0.0.1 port with a temp data dir (stopped by PID on exit), the lifted rate
# limits, and one wrk run. Callers set TMP_PARENT first; BENCH_BIN skips the build.

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# need_tools TOOL... ; installs wrk with apt-get when it is missing.
need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
    if ! command -v wrk >/dev/null; then
        log "installing wrk"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq wrk >/dev/null
        command -v wrk >/dev/null || die "wrk could not be installed"
    fi
}

# release_binary -> sets BIN
release_binary() {
    if [ -n "${BENCH_BIN:-}" ]; then
        BIN=$BENCH_BIN # an already built binary
    else
        log "building release binary"
        cargo build --release --bin trove
        BIN="$ROOT/target/release/trove"
    fi
    [ -x "$BIN" ] || die "no binary at $BIN"
}

SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    [ -z "${WORK:-}" ] || rm -rf "$WORK"
}

# start_server NAME -> sets WORK, BASE, DATA, TOKEN, AUTH, SERVER_PID; stops it on exit.
start_server() {
    WORK=$(mktemp -d "$TMP_PARENT/$1.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    local port ready=0
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    BASE="http://127.0.0.1:$port"
    DATA="$WORK/data"
    log "starting trove serve on $BASE (data: $DATA)"
    TROVE_LOG=${TROVE_LOG:-warn} "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$DATA" \
        >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 240); do
        if curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null; then ready=1; break; fi
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "server exited"; }
        sleep 0.25
    done
    [ "$ready" -eq 1 ] || { cat "$WORK/server.log" >&2; die "server not ready after 60 s"; }
    TOKEN=$(tr -d '[:space:]' <"$DATA/admin-token")
    AUTH="Authorization: Bearer $TOKEN"
}

# The reads go through the whole access layer (authorizer, rate limit, permission table).
# The admin tier's default limit would answer most of them 429, so the bench tenant lifts
# it: the leasing of tokens from the shared bucket stays in the path.
lift_rate_limits() {
    local big='{"per_second":1000000,"burst":1000000}'
    curl -fsS -X PUT -H "$AUTH" -H 'Content-Type: application/json' \
        --data-binary "{\"rate_limits\":{\"anonymous\":$big,\"user\":$big,\"service_account\":$big,\"admin\":$big}}" \
        "$BASE/v1/policy" >/dev/null
}

# run_wrk PATH [HEADER...] -> sets WRK_RPS WRK_P50 WRK_P99 WRK_ERR (2 threads, 32 connections)
run_wrk() {
    local path=$1 out
    shift
    local -a extra=()
    local h
    for h in "$@"; do extra+=(-H "$h"); done
    log "wrk: GET $path (2 threads, 32 connections, ${WRK_SECS}s)"
    out=$(wrk -t2 -c32 -d"${WRK_SECS}s" --latency -H "$AUTH" "${extra[@]}" "$BASE$path")
    printf '%s\n' "$out" >&2
    WRK_RPS=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ { print $2 }')
    WRK_P50=$(printf '%s\n' "$out" | awk '$1 == "50%" { print $2 }')
    WRK_P99=$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }')
    WRK_ERR=$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
    WRK_ERR=${WRK_ERR:-0}
}
