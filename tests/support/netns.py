"""Extra addresses on the test namespace's veth, for tests of hosts with several addresses.

``./dev test`` runs pytest as root in a network namespace of its own (tools/in-netns.sh)
with a veth ``voice0`` holding 10.77.0.1. A test that needs an interface with two
addresses adds them here for its own duration; elsewhere (not root, not in that
namespace) it is skipped, never run against the machine's real interfaces.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

DEVICE = "voice0"
VETH = "10.77.0.1"


def can_bind(host: str) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, 0))
        except OSError:
            return False
    return True


@contextmanager
def extra_addresses(*cidrs: str) -> Iterator[None]:
    """Adds ``cidrs`` to the veth for the block (IPv6 without duplicate detection, so they
    are usable at once); skips the test when that is not possible."""
    if not can_bind(VETH):
        pytest.skip("not in the test namespace (./dev test)")
    added: list[str] = []
    try:
        for cidr in cidrs:
            command = ["ip", "addr", "add", cidr, "dev", DEVICE]
            if ":" in cidr:
                command.append("nodad")
            if subprocess.run(command, capture_output=True, check=False).returncode != 0:
                pytest.skip(f"cannot add {cidr} to {DEVICE} (not root?)")
            added.append(cidr)
        yield
    finally:
        for cidr in added:
            subprocess.run(["ip", "addr", "del", cidr, "dev", DEVICE], check=False)
