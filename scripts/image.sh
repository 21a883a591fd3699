#!/usr/bin/env bash
# `make image`: builds the container image from the Dockerfile, with Docker when a Docker daemon answers,
# else with buildah (--isolation chroot: buildah's default runtime fails on some kernels' cgroup setups;
# --network host: npm ci and apt-get reach their registries as this machine does).
#   scripts/image.sh [--stand-in] [IMAGE]      IMAGE defaults to $IMAGE or egress-gateway:dev
#   --stand-in   build stand-ins for the base images first (scripts/image-base.sh), for machines that
#                cannot pull node:24-bookworm-slim and debian:bookworm-slim (buildah only)
# Environment: NODE_IMAGE, RUNTIME_IMAGE override the Dockerfile's base images; IMAGE_STORAGE gives buildah
# a storage folder of its own (scripts/buildah-env.sh). Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."

stand_in=false
if [[ ${1:-} == --stand-in ]]; then stand_in=true; shift; fi
image=${1:-${IMAGE:-egress-gateway:dev}}
started=$SECONDS

args=()
if $stand_in; then
  bases=$(bash scripts/image-base.sh)
  eval "$bases"
  echo "image: stand-in bases ready in $((SECONDS - started)) s: $NODE_IMAGE, $RUNTIME_IMAGE" >&2
fi
[[ -n ${NODE_IMAGE:-} ]] && args+=(--build-arg "NODE_IMAGE=$NODE_IMAGE")
[[ -n ${RUNTIME_IMAGE:-} ]] && args+=(--build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE")

built=$SECONDS
if ! $stand_in && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  docker build "${args[@]}" -t "$image" .
elif command -v buildah >/dev/null 2>&1; then
  source scripts/buildah-env.sh
  pull=()
  $stand_in && pull=(--pull=never)
  if ! buildah "${BUILDAH_STORAGE[@]}" build --isolation chroot --network host --layers "${pull[@]}" "${args[@]}" -t "$image" . >&2; then
    $stand_in || echo "image: the build failed; if the base images cannot be pulled here, build stand-ins for them: make image STAND_IN=1" >&2
    exit 1
  fi
else
  echo "image: neither a Docker daemon nor buildah is available (apt-get install buildah)" >&2
  exit 1
fi
echo "image: $image built in $((SECONDS - built)) s ($((SECONDS - started)) s in all)" >&2
