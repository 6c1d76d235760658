#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need into ./.venv (the
# AWS emulator, the SAM translator the contract tests expand template.yaml with, offline,
# and the Python clients the PyPI end-to-end tests drive) and pnpm into ./.tools, then
# formatting, lints, unit, contract and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# twine 6.1: from 6.2 on, --skip-existing is refused for any index but pypi.org.
if [ ! -x .venv/bin/moto_server ] || [ ! -x .venv/bin/twine ] || [ ! -x .venv/bin/uv ] \
  || ! .venv/bin/python -c 'import samtranslator, yaml' 2>/dev/null; then
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5.2,<6' \
    'aws-sam-translator>=1.90,<2' 'PyYAML>=6,<7' 'pip>=25' 'twine>=6.1,<6.2' 'uv>=0.5,<1'
fi
# pnpm for the npm end-to-end tests (npm itself is the machine's), in a local folder.
if [ ! -x .tools/pnpm/node_modules/.bin/pnpm ]; then
  npm install --silent --no-audit --no-fund --prefix .tools/pnpm 'pnpm@9.15.9'
fi
export TROVE_MOTO_SERVER="$PWD/.venv/bin/moto_server"
export TROVE_SAM_PYTHON="$PWD/.venv/bin/python"

# The deployment: cfn-lint, sam validate --lint, asl-validator (installs them when missing).
scripts/lint-deploy.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
