# syntax=docker/dockerfile:1
#
# The egress gateway image: a drop-in for Calico's egress gateway image. Calico's manifests run
# /init-gateway.sh (init container) and /start-gateway.sh (main container); both are here and hand over to
# the CLI at /opt/egress-gateway/bin/egress-gateway. See docs/image.md for the choices made below.
#
# Node 24 (LTS). raw-socket pins nan 2.19, which does not compile against Node 24's V8; package.json's
# `overrides` lifts it to a current nan. Build and final stage must use the same Node major (native ABI).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
# Toolchain for the native modules (netlink, raw-socket); it stays in this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY proto ./proto
COPY src ./src
# Only src/ is copied, so tsc compiles the program and not the tests.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
# iptables brings both iptables-legacy and iptables-nft (IPTABLES_BACKEND picks one); nftables for
# DATAPLANE=nftables; iproute2 for diagnosis with `kubectl exec ... ip`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables nftables iproute2 \
 && rm -rf /var/lib/apt/lists/*
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
# namespace, so a private lock file is enough.
ENV XTABLES_LOCKFILE=/tmp/xtables.lock \
    NODE_ENV=production
# Root, with only the capabilities the pod spec grants (NET_ADMIN, NET_RAW; the init container is
# privileged). Kubernetes gives added capabilities to a non-root user's bounding set only, not its effective
# set, so a non-root daemon could not program routes. docs/image.md explains the alternatives.
USER 0:0
CMD ["/start-gateway.sh"]
