#!/usr/bin/env bash
# ESLint (typescript-eslint, type-checked rules: tools/lint/eslint.config.mjs) over src, test, bench
# and demo. The linter lives in tools/lint/ with its own packages: typescript-eslint needs
# TypeScript's JS API (TypeScript < 6.1), while the project compiles with TypeScript 7.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node-env.sh
stamp="$(cat tools/lint/package-lock.json) node=$NODE_VERSION"
if [[ ! -f tools/lint/node_modules/.package-lock.json ]] || [[ "$(cat tools/lint/node_modules/.lock-stamp 2>/dev/null)" != "$stamp" ]]; then
  npm ci --prefix tools/lint --no-audit --no-fund >&2
  printf '%s' "$stamp" > tools/lint/node_modules/.lock-stamp
fi
exec node tools/lint/node_modules/eslint/bin/eslint.js --config tools/lint/eslint.config.mjs --max-warnings 0 "$@" .
