#!/usr/bin/env bash
# Generates src/policysync/gen/ from proto/felixbackend.proto with protobufjs' static code generator
# (pbjs, from the dev dependency protobufjs-cli): felixbackend.js (encoders/decoders, CommonJS, on the
# protobufjs/minimal runtime) and felixbackend.d.ts (its types). The output is committed; a unit test
# (test/unit/policysync-gen.test.ts) runs this script into a temporary folder and compares.
# Usage: scripts/gen-proto.sh [OUT_DIR]   (default src/policysync/gen)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-src/policysync/gen}"
mkdir -p "$out"
# --keep-case: fields keep the .proto's names (dst_node_name), so the code reads like the wire contract.
# Only encode/decode: no reflection, verify, JSON conversion or service stubs (grpc-js carries the calls).
node node_modules/protobufjs-cli/bin/pbjs -t static-module -w commonjs --keep-case --dts \
  --no-create --no-verify --no-convert --no-delimited --no-typeurl --no-service \
  --root egress-gateway -o "$out/felixbackend.js" proto/felixbackend.proto
