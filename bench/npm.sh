#!/usr/bin/env bash
# The npm packument under load: `/npm/{tenant}/{repo}/{package}` in the abbreviated form
# (`application/vnd.npm.install-v1+json`, what installers such as pnpm ask for first) for a
# package of 20 versions and one of 2,000, wrk 2 threads / 32 connections against
# `trove serve` on 127.0.0.1. Prints req/s, p50, p99 and the document size.
#
#   bench/npm.sh
#
# Builds the release binary (or takes BENCH_BIN), publishes the versions through npm's own
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
start_server trove-bench-npm
api() { curl -fsS -X "$1" -H "$AUTH" -H 'Content-Type: application/json' --data-binary "$3" "$BASE$2"; }

lift_rate_limits
api POST /v1/repositories '{"name":"js","format":"npm"}' >/dev/null

cat >"$WORK/publish.py" <<'PY'
"""Publishes versions of a package through npm's publish route, in parallel."""
import base64, hashlib, http.client, io, json, sys, tarfile, urllib.parse
from concurrent.futures import ThreadPoolExecutor

base, token, name, versions, parallel = sys.argv[1:6]
versions, parallel = int(versions), int(parallel)
url = urllib.parse.urlsplit(base)

def tarball(version):
    manifest = json.dumps({"name": name, "version": version, "description": "bench package",
                           "main": "index.js", "license": "MIT",
                           "dependencies": {"left-pad": "^1.3.0", "lodash": "^4.17.21"}}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for path, data in [("package/package.json", manifest),
                           ("package/index.js", f"module.exports = {version!r};\n".encode())]:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()

def publish(version):
    data = tarball(version)
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    doc = {"_id": name, "name": name, "dist-tags": {"latest": version},
           "versions": {version: {"name": name, "version": version,
                                  "dist": {"integrity": integrity, "shasum": hashlib.sha1(data).hexdigest()}}},
           "_attachments": {f"{name}-{version}.tgz": {"content_type": "application/octet-stream",
                                                     "data": base64.b64encode(data).decode(),
                                                     "length": len(data)}}}
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request("PUT", f"/npm/default/js/{name}", json.dumps(doc),
                 {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    text = resp.read().decode(errors="replace")
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"{name}@{version}: {resp.status} {text}")

with ThreadPoolExecutor(parallel) as pool:
    list(pool.map(publish, [f"1.{i}.0" for i in range(versions)]))
print(versions)
PY

publish() { # PACKAGE VERSIONS
    local started ended n
    started=$(date +%s.%N)
    n=$(python3 "$WORK/publish.py" "$BASE" "$TOKEN" "$1" "$2" "$PARALLEL")
    ended=$(date +%s.%N)
    log "$1: $n versions published in $(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", b - a }') s"
}
log "publishing: small (20 versions), large ($LARGE_VERSIONS versions)"
publish small 20
publish large "$LARGE_VERSIONS"

ACCEPT="Accept: application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"

printf '\n| packument (abbreviated) | versions | bytes | req/s | p50 | p99 | non-2xx | MB/s |\n|---|---|---|---|---|---|---|---|\n'
for package in small large; do
    path="/npm/default/js/$package"
    bytes=$(curl -fsS -H "$AUTH" -H "$ACCEPT" "$BASE$path" | wc -c)
    count=$(curl -fsS -H "$AUTH" -H "$ACCEPT" "$BASE$path" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["versions"]))')
    run_wrk "$path" "$ACCEPT"
    mbps=$(awk -v r="$WRK_RPS" -v b="$bytes" 'BEGIN { printf "%.0f", r * b / 1048576 }')
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$package" "$count" "$bytes" "$WRK_RPS" "$WRK_P50" "$WRK_P99" "$WRK_ERR" "$mbps"
done
