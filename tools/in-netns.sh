#!/usr/bin/env bash
# Runs a command inside the network namespace `unshare --net` just created: only loopback,
# plus a veth pair with 10.77.0.1 (aiortc, like many stacks, gathers no 127.0.0.1 candidate,
# so it needs one non-loopback address). Nothing a test sends can leave this namespace.
set -euo pipefail
ip link set lo up
if ip link add voice0 type veth peer name voice1 2>/dev/null; then
    ip addr add 10.77.0.1/24 dev voice0
    ip link set voice0 up
    ip link set voice1 up
fi
exec "$@"
