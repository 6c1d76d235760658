#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need (the AWS emulator
# into ./.venv), then formatting, lints, unit, contract and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/moto_server ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5.2,<6'
fi
export TROVE_MOTO_SERVER="$PWD/.venv/bin/moto_server"

# The deployment: cfn-lint, sam validate --lint, asl-validator (installs them when missing).
scripts/lint-deploy.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
