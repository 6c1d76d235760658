#!/usr/bin/env bash
# Lambda functions under the Runtime API harness (functions/tests/lambda), against moto:
#   - per function of template.yaml: binary size, init time (spawn → first /next) and RSS
#     at that point, median of TROVE_LAMBDA_BENCH_RUNS (20) cold starts;
#   - warm handler times of a metadata read and of each step of a publish, what the
#     functions' adapters metered meanwhile (requests per service and operation, DynamoDB's
#     consumed capacity), and the cost per million of each at AWS list prices (us-east-1,
#     x86_64, the template's memory sizes) from those meters and the measured durations.
#
#   bench/lambda.sh                                   # builds release binaries (target/release)
#   TROVE_LAMBDA_BIN_DIR=target/lambda bench/lambda.sh  # what `sam build` / `cargo lambda build` shipped
#
# A clean release build of the AWS SDK set takes ~15 min on 2 idle cores.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/moto_server ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5.2,<6'
fi
export TROVE_MOTO_SERVER="${TROVE_MOTO_SERVER:-$PWD/.venv/bin/moto_server}"

if [ -z "${TROVE_LAMBDA_BIN_DIR:-}" ]; then
  cargo build --release -p trove-functions --bins
  # A command of its own, so the scanner's feature stays out of the other binaries.
  cargo build --release -p trove-functions-scan --bins
  export TROVE_LAMBDA_BIN_DIR="$PWD/target/release"
fi
echo "binaries: $TROVE_LAMBDA_BIN_DIR" >&2

# One test at a time: the cold starts should not compete with the warm runs for 2 cores.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! cargo bench -p trove-functions --bench lambda >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  exit 1
fi
grep -E '^(\||$)' "$log" | cat -s
