#!/usr/bin/env bash
# Lints the deployment: cfn-lint and `sam validate --lint` on template.yaml (both offline),
# and asl-validator on every state machine of statemachines/ (neither linter reads ASL files).
# Installs what it needs on first use: aws-sam-cli and cfn-lint into ./.venv (beside moto),
# asl-validator into ./.tools/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/sam ] || [ ! -x .venv/bin/cfn-lint ]; then
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'aws-sam-cli>=1.170,<2' 'cfn-lint>=1.58,<2'
fi
if [ ! -x .tools/node_modules/.bin/asl-validator ]; then
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --silent 'asl-validator@^4'
fi

# Offline and quiet: no telemetry, no update check, a region so nothing asks for one.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" SAM_CLI_TELEMETRY=0 \
  SAM_CLI_DISABLE_UPDATE_CHECK=1 AWS_EC2_METADATA_DISABLED=true

echo "cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml
echo "sam validate --lint"
.venv/bin/sam validate --lint --template-file template.yaml
for env in dev stage prod; do
  .venv/bin/sam validate --lint --template-file template.yaml --config-env "$env" >/dev/null
done

# The definitions name their functions as ${XFunctionArn} (DefinitionSubstitutions): give
# each a well-formed Lambda ARN in a temporary copy, so the ARN checks run too.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for asl in statemachines/*.asl.json; do
  sed -E 's/\$\{([A-Za-z0-9]+)FunctionArn\}/arn:aws:lambda:us-east-1:123456789012:function:trove-\1:live/g' \
    "$asl" > "$tmp/$(basename "$asl")"
  if grep -q '\${' "$tmp/$(basename "$asl")"; then
    echo "$asl: a substitution other than \${XFunctionArn} is left: teach scripts/lint-deploy.sh" >&2
    exit 1
  fi
  echo "asl-validator $asl"
  .tools/node_modules/.bin/asl-validator --json-path "$tmp/$(basename "$asl")"
done
echo "deployment lint: ok"
