#!/usr/bin/env bash
# The PyPI project page under load: `/pypi/{tenant}/{repo}/simple/{project}/` (PEP 691 JSON,
# what pip and uv ask for) for a project of 20 files and one of 2,000, wrk 2 threads / 32
# connections against `trove serve` on 127.0.0.1. Prints req/s, p50, p99 and the page size.
#
#   bench/pypi.sh
#
# Builds the release binary (or takes BENCH_BIN), publishes the files through twine's upload
# route (each waits for the pipeline), measures, and stops the server (by PID) on exit.
# Needs curl, python3 (standard library only) and wrk (installed with apt-get if missing).
# Tunables: BENCH_WRK_SECS (10), BENCH_LARGE_VERSIONS (1000: two files each),
# BENCH_PARALLEL (8), BENCH_TMP (temp dir parent, default /tmp).
set -euo pipefail

WRK_SECS=${BENCH_WRK_SECS:-10}
LARGE_VERSIONS=${BENCH_LARGE_VERSIONS:-1000}
PARALLEL=${BENCH_PARALLEL:-8}
TMP_PARENT=${BENCH_TMP:-/tmp}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
need_tools curl python3
release_binary
start_server trove-bench-pypi
api() { curl -fsS -X "$1" -H "$AUTH" -H 'Content-Type: application/json' --data-binary "$3" "$BASE$2"; }

lift_rate_limits
api POST /v1/repositories '{"name":"py","format":"pypi"}' >/dev/null

cat >"$WORK/publish.py" <<'PY'
"""Publishes wheels (and sdists) of a project through twine's upload route, in parallel."""
import hashlib, http.client, io, sys, tarfile, urllib.parse, uuid, zipfile
from concurrent.futures import ThreadPoolExecutor

base, token, project, versions, with_sdist, parallel = sys.argv[1:7]
versions, parallel, with_sdist = int(versions), int(parallel), with_sdist == "1"
url = urllib.parse.urlsplit(base)
dist = project.replace("-", "_")

def metadata(version):
    return f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\nRequires-Python: >=3.8\n\n".encode()

def wheel(version):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{dist}/__init__.py", f"VERSION = {version!r}\n")
        z.writestr(f"{dist}-{version}.dist-info/METADATA", metadata(version))
        z.writestr(f"{dist}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    return f"{dist}-{version}-py3-none-any.whl", buf.getvalue()

def sdist(version):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in [(f"{dist}-{version}/PKG-INFO", metadata(version)),
                           (f"{dist}-{version}/{dist}/__init__.py", b"")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return f"{dist}-{version}.tar.gz", buf.getvalue()

def upload(item):
    version, (filename, data) = item
    boundary = uuid.uuid4().hex
    fields = {":action": "file_upload", "protocol_version": "1", "name": project,
              "version": version, "sha256_digest": hashlib.sha256(data).hexdigest()}
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items())
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"\r\n'
             f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request("POST", "/pypi/default/py/legacy/", body, {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    resp = conn.getresponse()
    text = resp.read().decode(errors="replace")
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"{filename}: {resp.status} {text}")

items = []
for i in range(versions):
    version = f"1.{i}.0"
    items.append((version, wheel(version)))
    if with_sdist:
        items.append((version, sdist(version)))
with ThreadPoolExecutor(parallel) as pool:
    list(pool.map(upload, items))
print(len(items))
PY

publish() { # PROJECT VERSIONS WITH_SDIST
    local started ended n
    started=$(date +%s.%N)
    n=$(python3 "$WORK/publish.py" "$BASE" "$TOKEN" "$1" "$2" "$3" "$PARALLEL")
    ended=$(date +%s.%N)
    log "$1: $n files published in $(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", b - a }') s"
}
log "publishing: small (20 wheels), large ($LARGE_VERSIONS versions x wheel + sdist)"
publish small 20 0
publish large "$LARGE_VERSIONS" 1

JSON_ACCEPT="Accept: application/vnd.pypi.simple.v1+json"

printf '\n| project page | files | page bytes | req/s | p50 | p99 | non-2xx | page MB/s |\n|---|---|---|---|---|---|---|---|\n'
for project in small large; do
    path="/pypi/default/py/simple/$project/"
    bytes=$(curl -fsS -H "$AUTH" -H "$JSON_ACCEPT" "$BASE$path" | wc -c)
    files=$(curl -fsS -H "$AUTH" -H "$JSON_ACCEPT" "$BASE$path" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["files"]))')
    run_wrk "$path" "$JSON_ACCEPT"
    mbps=$(awk -v r="$WRK_RPS" -v b="$bytes" 'BEGIN { printf "%.0f", r * b / 1048576 }')
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$project" "$files" "$bytes" "$WRK_RPS" "$WRK_P50" "$WRK_P99" "$WRK_ERR" "$mbps"
done
