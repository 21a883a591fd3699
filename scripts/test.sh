#!/usr/bin/env bash
# The test command: sets up what is missing, builds, lints, then runs every test with Node's test
# runner: unit tests (in-memory fakes) and kernel tests (real network namespaces; they need root, as
# in CI). `npm test` is the part without root: lint, types, unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
source scripts/node-env.sh

if [[ $(id -u) -ne 0 ]]; then
  echo "test: the kernel tests need root (network namespaces, netfilter); run as root, as CI does" >&2
  exit 1
fi

bash scripts/lint.sh

mapfile -t files < <(find dist/test -name '*.test.js' | sort)
if ((${#files[@]} == 0)); then
  echo "test: no compiled tests found under dist/test" >&2
  exit 1
fi
# One file at a time: kernel tests share the machine's two cores and must not starve each other.
exec node --test --test-reporter=tap --test-concurrency=1 "${files[@]}"
