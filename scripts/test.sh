#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need into ./.venv (the
# AWS emulator, and the SAM translator the contract tests expand template.yaml with,
# offline), then formatting, lints, unit, contract and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/moto_server ] || ! .venv/bin/python -c 'import samtranslator, yaml' 2>/dev/null; then
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5.2,<6' \
    'aws-sam-translator>=1.90,<2' 'PyYAML>=6,<7'
fi
export TROVE_MOTO_SERVER="$PWD/.venv/bin/moto_server"
export TROVE_SAM_PYTHON="$PWD/.venv/bin/python"

# The deployment: cfn-lint, sam validate --lint, asl-validator (installs them when missing).
scripts/lint-deploy.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
