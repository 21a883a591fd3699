#!/usr/bin/env bash
# Sourced by the image scripts: buildah's global options. IMAGE_STORAGE (a folder) gives the build a
# storage of its own (CI uses .build/containers, so its images and layer cache stay in the checkout);
# unset, buildah's default storage is used, where podman and `buildah push` find the image.
BUILDAH_STORAGE=()
if [[ -n ${IMAGE_STORAGE:-} ]]; then
  mkdir -p "$IMAGE_STORAGE"
  IMAGE_STORAGE=$(cd "$IMAGE_STORAGE" && pwd)
  BUILDAH_STORAGE=(--root "$IMAGE_STORAGE/storage" --runroot "$IMAGE_STORAGE/run" --storage-driver overlay)
fi
