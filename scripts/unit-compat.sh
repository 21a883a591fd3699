#!/usr/bin/env bash
# The unit tests on another Node release than the project's own (.node-version): CI runs them on the
# oldest LTS that engines.node allows, so that what package.json promises is tested.
#   scripts/unit-compat.sh <node version>       e.g. 22.23.5
# Native modules are built for one Node ABI, so the other release gets its own node_modules: a copy of the
# package manifest under .build/node-<version>/, installed with that Node (cached until the lock file
# changes), next to a copy of dist/ (Node resolves modules from a file's real path) and links to the rest
# of the checkout that tests read (proto/, charts/, README.md, ...). Run after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: scripts/unit-compat.sh <node version>}
here=$PWD
tree=.build/node-$version

NODE_VERSION=$version source scripts/node-env.sh
mkdir -p "$tree"
stamp="$(cat package-lock.json .npmrc) node=$version"
if [[ "$(cat "$tree/node_modules/.lock-stamp" 2>/dev/null)" != "$stamp" ]]; then
  rm -rf "$tree/node_modules"
  cp package.json package-lock.json .npmrc "$tree/"
  (cd "$tree" && npm ci --no-audit --no-fund --loglevel=error)
  printf '%s' "$stamp" > "$tree/node_modules/.lock-stamp"
fi
shopt -s dotglob
for entry in *; do
  case $entry in .git | .build | node_modules | dist | bin | package.json | package-lock.json | .npmrc) continue ;; esac
  ln -sfn "$here/$entry" "$tree/$entry"
done
# Copies, not links: bin/egress-gateway loads ../dist, which must resolve to this tree's node_modules.
rm -rf "$tree/dist" "$tree/bin"
cp -a dist bin "$tree/"

cd "$tree"
echo "unit tests on Node $(node --version)" >&2
mapfile -t files < <(find dist/test/unit -name '*.test.js' | sort)
exec node --test --test-reporter=tap "${files[@]}"
