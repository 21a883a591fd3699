#!/usr/bin/env bash
# The test command: sets up what is missing, builds, lints, then runs every test with Node's test
# runner: unit tests (in-memory fakes; also on Node 22), chart tests (real helm), kernel tests (real
# network namespaces) and the image test (built with buildah, run as a pod); they need root, as in CI.
# `npm test` is the part without root: lint, types, unit tests.
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
# The unit tests on the oldest Node that engines.node allows (22 LTS), with a node_modules of its own.
status=0
bash scripts/unit-compat.sh "${COMPAT_NODE_VERSION:-22.23.5}" || status=$?

# Everything on the project's Node (.node-version). One file at a time: kernel tests share the machine's
# two cores and must not starve each other. test/image builds the container image (a few minutes on a
# fresh machine, cached under .build/ after that) and runs it as a pod.
node --test --test-reporter=tap --test-concurrency=1 "${files[@]}" || status=$?
exit "$status"
