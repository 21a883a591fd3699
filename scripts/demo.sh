#!/usr/bin/env bash
# `make demo`: set up what a fresh clone needs (Debian and npm packages, the build), then run the
# narrated demo (demo/run.ts) in network namespaces, Enterprise then OSS: a cluster, the gateway
# started as a pod would start it, and the blog's tcpdump lines before and after the client pod is
# steered; then a second cluster with OSS Felix's rules, the Kubernetes API stand-in and the node
# agents steering the same way. Needs root.
# DEMO_DATAPLANE=nftables shows the nftables variant. Exits non-zero when any step did not show
# what it should; everything it created is removed, also on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "demo: needs root (network namespaces, netfilter); run it as root" >&2
  exit 1
fi
bash scripts/setup.sh
source scripts/node-env.sh
# exec: Ctrl-C and SIGTERM reach the demo itself, which tears the lab down before it exits.
exec node dist/demo/run.js
