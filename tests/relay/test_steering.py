"""The reuseport steering program, checked against this kernel (the one CI runs on)."""

from __future__ import annotations

import select
import socket

import pytest

from voice.relay.steering import (
    attach_steering,
    open_reuseport_group,
    steering_index,
    steering_program,
)


def receiving_index(group: list[socket.socket]) -> int:
    readable, _, _ = select.select(group, [], [], 5.0)
    assert len(readable) == 1, "exactly one socket of the group gets the datagram"
    index = group.index(readable[0])
    readable[0].recvfrom(64)
    return index


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_kernel_picks_the_socket_the_hash_names(host: str, workers: int) -> None:
    group = open_reuseport_group(host, 0, workers)
    try:
        attach_steering(group[0], workers)
        port = group[0].getsockname()[1]
        seen = set()
        for _ in range(24):
            with socket.socket(group[0].family, socket.SOCK_DGRAM) as client:
                client.bind((host, 0))
                client.sendto(b"x", (host, port))
                index = receiving_index(group)
                assert index == steering_index(client.getsockname()[:2], workers)
                # The same client always lands on the same socket.
                client.sendto(b"y", (host, port))
                assert receiving_index(group) == index
                seen.add(index)
        assert seen == set(range(workers))  # and the hash spreads clients over all of them
    finally:
        for sock in group:
            sock.close()


def test_steering_index_is_a_pure_function_of_the_source() -> None:
    assert steering_index(("192.0.2.1", 5000), 4) == steering_index(("192.0.2.1", 5000), 4)
    spread = {steering_index(("192.0.2.1", port), 4) for port in range(5000, 5100)}
    assert spread == {0, 1, 2, 3}
    assert all(0 <= steering_index(("2001:db8::1", p), 3) < 3 for p in range(1, 200))


def test_program_shape() -> None:
    program = steering_program(2)
    assert len(program) % 8 == 0 and len(program) // 8 < 4096  # BPF_MAXINSNS
    with pytest.raises(ValueError):
        steering_program(0)
