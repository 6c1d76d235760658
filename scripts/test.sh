#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need into ./.venv (the
# AWS emulator, the SAM translator the contract tests expand template.yaml with, offline,
# the Python clients the PyPI end-to-end tests drive, Playwright for the console's browser
# test and Schemathesis for the API contract test), pnpm into ./.tools and Debian's
# Chromium, then formatting, lints, unit, contract and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# twine 6.1: from 6.2 on, --skip-existing is refused for any index but pypi.org.
# Playwright drives the machine's Chromium (below): `playwright install` is never run.
if [ ! -x .venv/bin/moto_server ] || [ ! -x .venv/bin/twine ] || [ ! -x .venv/bin/uv ] \
  || ! .venv/bin/python -c 'import samtranslator, yaml' 2>/dev/null \
  || ! .venv/bin/python -c 'import playwright.sync_api' 2>/dev/null \
  || [ ! -x .venv/bin/schemathesis ]; then
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5.2,<6' \
    'aws-sam-translator>=1.90,<2' 'PyYAML>=6,<7' 'pip>=25' 'twine>=6.1,<6.2' 'uv>=0.5,<1' \
    'playwright>=1.48,<2' 'schemathesis>=4.32,<5'
fi
# From Debian: Chromium for the console's browser test (tests/console), and the LLVM tools
# of rustc's own LLVM major version, which cargo-llvm-cov reads the coverage profiles with.
llvm_major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
llvm_bin="/usr/lib/llvm-$llvm_major/bin"
if [ ! -x /usr/bin/chromium ] || [ ! -x "$llvm_bin/llvm-profdata" ]; then
  sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends chromium chromium-driver "llvm-$llvm_major"
fi
# cargo-llvm-cov, in a local folder.
if [ ! -x .tools/cargo-llvm-cov/bin/cargo-llvm-cov ]; then
  cargo install --locked --quiet cargo-llvm-cov --version 0.9.1 --root .tools/cargo-llvm-cov
fi
# pnpm for the npm end-to-end tests (npm itself is the machine's), in a local folder.
if [ ! -x .tools/pnpm/node_modules/.bin/pnpm ]; then
  npm install --silent --no-audit --no-fund --prefix .tools/pnpm 'pnpm@9.15.9'
fi
export TROVE_MOTO_SERVER="$PWD/.venv/bin/moto_server"
export TROVE_SAM_PYTHON="$PWD/.venv/bin/python"
export TROVE_CONSOLE_PYTHON="$PWD/.venv/bin/python"

# The deployment: cfn-lint, sam validate --lint, asl-validator (installs them when missing).
scripts/lint-deploy.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The suite runs once, instrumented: every test of the workspace, then the line coverage of
# its code (the test-support crate left out), which must stay at 75 % or more.
export PATH="$PWD/.tools/cargo-llvm-cov/bin:$PATH"
export LLVM_COV="$llvm_bin/llvm-cov" LLVM_PROFDATA="$llvm_bin/llvm-profdata"
cargo llvm-cov --workspace --no-report
total() { tail -n 1 target/coverage-summary.txt | awk '{ print "line coverage: " $10 " of " $8 " lines (" $9 " never run); regions " $4 }'; }
if ! cargo llvm-cov report --summary-only --ignore-filename-regex 'shared/testkit/' \
  --fail-under-lines 75 > target/coverage-summary.txt; then
  total
  echo "line coverage is under the 75 % gate (per file: target/coverage-summary.txt)" >&2
  exit 1
fi
total
