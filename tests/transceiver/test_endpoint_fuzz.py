"""The transceiver endpoint's socket-facing entry points under hostile input.

:meth:`Endpoint.dispatch` (direct socket) and :meth:`Endpoint.from_relay` (relay input) get
what ``recvfrom`` returned; sessions answer through :meth:`Endpoint.send` on real
sockets. Here both are fed any bytes from addresses of every shape (IPv4, IPv6,
IPv4-mapped, scoped link-local, port 0 and 65535), with echoing sessions so that every
answer goes out through a real :class:`DirectPath` or :class:`RelayPath`: nothing may raise
out of them, whatever the address (VOICE-SHIM §5; a send the kernel refuses is counted).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice.metrics import Registry
from voice.relay.networks import NetworkAllowlist
from voice.relay.shim import INBOUND, encode_shim, forward_header
from voice.transceiver.endpoint import DirectPath, Endpoint, Path, RelayPath, SessionTable
from voice.types import Address

from .test_endpoint import binding_request

ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
mapped = ipv4.map(lambda a: f"::ffff:{a}")
scoped = st.tuples(
    st.ip_addresses(v=6, network="fe80::/10").map(str), st.sampled_from(["eth0", "1", "lo"])
).map(lambda t: f"{t[0]}%{t[1]}")
addresses = st.tuples(
    st.one_of(ipv4, ipv6, mapped, scoped),
    st.one_of(st.sampled_from([0, 1, 0xFFFF]), st.integers(0, 0xFFFF)),
)
payloads = st.one_of(
    st.just(binding_request(b"ufragA:c")),
    st.binary(max_size=48),
    st.binary(max_size=16).map(lambda b: b"\x80" + b),
)


class EchoSession:
    """Claims every address that reaches it and answers each datagram at once."""

    def __init__(self, endpoint: Endpoint, table: SessionTable) -> None:
        self.id, self.ufrag = "a", "ufragA"
        self.endpoint, self.table = endpoint, table

    def deliver(self, data: bytes, client: Address, arrived: float) -> bool:
        self.table.claim(self, client)
        self.endpoint.send(data, client)
        return True


@pytest.fixture(scope="module")
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    for sock, host in ((v4, "127.0.0.1"), (v6, "::1")):
        sock.setblocking(False)
        sock.bind((host, 0))
    yield v4, v6
    v4.close()
    v6.close()


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["direct4", "direct6", "relay", "forwarded"]),
            payloads,
            addresses,
            addresses,
        ),
        max_size=10,
    )
)
def test_endpoint_never_raises_whatever_arrives_from_whatever_address(
    sockets: tuple[socket.socket, socket.socket],
    steps: list[tuple[str, bytes, Address, Address]],
) -> None:
    registry = Registry()
    table = SessionTable()
    endpoint = Endpoint(table, registry.counter("packets", "p"), registry.counter("drops", "d"))
    table.add(EchoSession(endpoint, table))
    v4, v6 = sockets
    relays = NetworkAllowlist(("0.0.0.0/0", "::/0"))
    # Relay paths send to the fuzzed relay address from the v4 socket: the kernel refuses
    # most of them, which the endpoint must count, not raise.
    paths: dict[str, Path] = {"direct4": DirectPath(v4), "direct6": DirectPath(v6)}
    for where, payload, client, relay in steps:
        if where == "relay":
            shim = encode_shim(client, payload) if client[1] > 0 and payload else payload
            endpoint.from_relay(shim, relay, 0.0, relays, lambda r: RelayPath(v4, r))
        elif where == "forwarded":
            # VOICE-SHIM §10: a call from another cluster's ingress, the via fuzzed too.
            ok = client[1] > 0 and relay[1] > 0 and payload
            wire = forward_header(client, INBOUND, 2, 7, relay) + payload if ok else b"\x02"
            endpoint.from_relay(wire, relay, 0.0, relays, lambda r: RelayPath(v4, r))
        else:
            endpoint.dispatch(payload, client, paths[where], 0.0)
    rendered = registry.render()
    assert "internal_error" not in rendered
