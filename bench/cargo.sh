#!/usr/bin/env bash
# Cargo's sparse index under load: `/cargo/{tenant}/{repo}/index/{..}/{crate}` (what cargo
# fetches for every dependency it resolves) for a crate of 20 versions and one of 2,000,
# wrk 2 threads / 32 connections against `trove serve` on 127.0.0.1. Prints req/s, p50,
# p99 and the index file's size.
#
#   bench/cargo.sh
#
# Builds the release binary (or takes BENCH_BIN), publishes the versions through cargo's own
# publish route (each waits for the pipeline), measures, and stops the server (by PID) on
# exit. Needs curl, python3 (standard library only) and wrk (installed with apt-get if
# missing). Tunables: BENCH_WRK_SECS (10), BENCH_LARGE_VERSIONS (2000), BENCH_PARALLEL (8),
# BENCH_TMP (temp dir parent, default /tmp).
set -euo pipefail

WRK_SECS=${BENCH_WRK_SECS:-10}
LARGE_VERSIONS=${BENCH_LARGE_VERSIONS:-2000}
PARALLEL=${BENCH_PARALLEL:-8}
TMP_PARENT=${BENCH_TMP:-/tmp}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
need_tools curl python3
release_binary
start_server trove-bench-cargo
api() { curl -fsS -X "$1" -H "$AUTH" -H 'Content-Type: application/json' --data-binary "$3" "$BASE$2"; }

lift_rate_limits
api POST /v1/repositories '{"name":"crates","format":"cargo"}' >/dev/null

cat >"$WORK/publish.py" <<'PY'
"""Publishes versions of a crate through cargo's publish route, in parallel."""
import http.client, io, json, struct, sys, tarfile, urllib.parse
from concurrent.futures import ThreadPoolExecutor

base, token, name, versions, parallel = sys.argv[1:6]
versions, parallel = int(versions), int(parallel)
url = urllib.parse.urlsplit(base)

def krate(version):
    manifest = (f'[package]\nedition = "2021"\nname = "{name}"\nversion = "{version}"\n'
                f'description = "bench crate"\nlicense = "MIT"\n\n'
                f'[dependencies.serde]\nversion = "^1.0"\nfeatures = ["derive"]\n\n'
                f'[features]\ndefault = ["std"]\nstd = []\n').encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for path, data in [(f"{name}-{version}/Cargo.toml", manifest),
                           (f"{name}-{version}/src/lib.rs", b"pub fn f() {}\n")]:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()

def publish(version):
    data = krate(version)
    meta = json.dumps({"name": name, "vers": version, "deps": [], "features": {}}).encode()
    body = struct.pack("<I", len(meta)) + meta + struct.pack("<I", len(data)) + data
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request("PUT", "/cargo/default/crates/api/v1/crates/new", body,
                 {"Authorization": token, "Content-Type": "application/octet-stream"})
    resp = conn.getresponse()
    text = resp.read().decode(errors="replace")
    conn.close()
    if resp.status != 200 or json.loads(text)["warnings"]["other"]:
        raise SystemExit(f"{name}@{version}: {resp.status} {text}")

with ThreadPoolExecutor(parallel) as pool:
    list(pool.map(publish, [f"1.{i}.0" for i in range(versions)]))
print(versions)
PY

publish() { # CRATE VERSIONS
    local started ended n
    started=$(date +%s.%N)
    n=$(python3 "$WORK/publish.py" "$BASE" "$TOKEN" "$1" "$2" "$PARALLEL")
    ended=$(date +%s.%N)
    log "$1: $n versions published in $(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", b - a }') s"
}
log "publishing: small (20 versions), large ($LARGE_VERSIONS versions)"
publish small 20
publish large "$LARGE_VERSIONS"

printf '\n| index file | versions | bytes | req/s | p50 | p99 | non-2xx | MB/s |\n|---|---|---|---|---|---|---|---|\n'
for crate in small large; do
    path="/cargo/default/crates/index/${crate:0:2}/${crate:2:2}/$crate"
    bytes=$(curl -fsS -H "$AUTH" "$BASE$path" | wc -c)
    count=$(curl -fsS -H "$AUTH" "$BASE$path" | wc -l)
    run_wrk "$path"
    mbps=$(awk -v r="$WRK_RPS" -v b="$bytes" 'BEGIN { printf "%.0f", r * b / 1048576 }')
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$crate" "$count" "$bytes" "$WRK_RPS" "$WRK_P50" "$WRK_P99" "$WRK_ERR" "$mbps"
done
