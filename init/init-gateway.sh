#!/bin/sh
# Calico's manifests run /init-gateway.sh in the (privileged) init container. Hand over to our CLI with
# the same environment; exec, so the CLI's exit status is the container's.
set -eu

locate_cli() {
	if [ -n "${EGRESS_GATEWAY_BIN:-}" ]; then
		printf '%s\n' "$EGRESS_GATEWAY_BIN"
		return 0
	fi
	here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
	# A checkout (init/../bin) first, so running the repo's script never picks up an installed copy.
	for candidate in "$here/../bin/egress-gateway" /opt/egress-gateway/bin/egress-gateway; do
		if [ -x "$candidate" ]; then
			printf '%s\n' "$candidate"
			return 0
		fi
	done
	if command -v egress-gateway >/dev/null 2>&1; then
		command -v egress-gateway
		return 0
	fi
	echo "init-gateway.sh: egress-gateway CLI not found (looked in $here/../bin, /opt/egress-gateway/bin, PATH; set EGRESS_GATEWAY_BIN)" >&2
	return 127
}

cli=$(locate_cli) || exit 127
exec "$cli" init "$@"
