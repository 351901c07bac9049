"""The relay's socket-facing entry points under hostile input: any bytes, any source address.

The worker hands :class:`~voice.relay.router.Router` exactly what ``recvfrom`` returned
(IPv6 sockets' 4-tuples cut to ``(host, port)``), so these tests call the router the same
way with addresses of every shape a kernel (or a bug) can produce: IPv4, IPv6, IPv4-mapped
IPv6, scoped link-local, port 0 and the largest port, and with datagrams that go deep
(valid tokens, shim headers naming such addresses) as well as garbage. The rule under test
is VOICE-RELAY §7: whatever arrives is forwarded or counted, never raised.

Every input that ever crashed the router is kept in :data:`CRASHERS` and replayed by
:func:`test_corpus_of_crashers`, through the router and through the real worker.
"""

from __future__ import annotations

import struct

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.rawudp import raw_udp_available, send_raw_udp
from tests.support.relay import FakeTransceiver, binding_request
from voice.relay.config import RelayConfig
from voice.relay.counters import DropReason
from voice.relay.directory import Directory
from voice.relay.fleet import Fleet
from voice.relay.networks import NetworkAllowlist
from voice.relay.router import Router
from voice.relay.shim import INBOUND, OUTBOUND, encode_shim, forward_header
from voice.relay.token import TokenKey, TokenMinter, TokenVerifier
from voice.relay.worker import RelayWorker
from voice.types import Address

from .conftest import HANG, KEY, Client, check

FUZZ_KEY = TokenKey(1, b"f" * 32)
WALL = 1_735_689_600.0
TRANSCEIVER = ("10.0.0.1", 4001)

ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
mapped = ipv4.map(lambda a: f"::ffff:{a}")
scoped = st.tuples(
    st.ip_addresses(v=6, network="fe80::/10").map(str),
    st.sampled_from(["eth0", "1", "lo", "x" * 15]),
).map(lambda t: f"{t[0]}%{t[1]}")
hosts = st.one_of(ipv4, ipv6, mapped, scoped)
ports = st.one_of(st.sampled_from([0, 1, 0xFFFF]), st.integers(0, 0xFFFF))
addresses = st.tuples(hosts, ports)


def routed_check(cluster: int = 0) -> bytes:
    token = TokenMinter(FUZZ_KEY, cluster, 1).mint(WALL).encode()
    return binding_request(token + b":fuzz")


def raw_forward(fields: tuple[int, int, int, int, int, int, int], rest: bytes) -> bytes:
    """A version 2 shim datagram (VOICE-SHIM §10) with any field values and tail."""
    return struct.pack("!BBHBBHHH", 2, *fields) + rest


def good_forward(
    client: Address, direction: int, via: Address | None, cluster: int, payload: bytes
) -> bytes:
    if client[1] == 0 or (via is not None and via[1] == 0):
        return b"\x02" + payload
    return forward_header(client, direction, cluster, 1, via) + payload


def raw_shim(family: int, port: int, address: bytes, payload: bytes) -> bytes:
    return struct.pack("!BBH", 1, family, port) + address + payload


datagrams = st.one_of(
    st.just(routed_check()),
    st.just(routed_check(cluster=2)),  # another cluster's: over the backbone (VOICE-RELAY §12)
    st.binary(max_size=64),
    st.binary(max_size=8).map(lambda b: routed_check() + b),
    st.binary(min_size=1, max_size=30).map(lambda b: b"\x00\x01" + b),
)
shim_datagrams = st.one_of(
    st.binary(max_size=40),
    st.tuples(
        st.sampled_from([0, 4, 5, 6]), ports, st.binary(max_size=20), st.binary(max_size=8)
    ).map(lambda t: raw_shim(*t)),
    st.tuples(addresses, st.binary(min_size=1, max_size=8)).map(
        lambda t: encode_shim(t[0], t[1]) if t[0][1] > 0 else b"\x01\x04\x00\x00" + bytes(5)
    ),
    st.tuples(
        st.tuples(
            st.sampled_from([0, 4, 5, 6]),
            ports,
            st.sampled_from([0, 1, 2, 3]),
            st.sampled_from([0, 4, 5, 6]),
            ports,
            st.sampled_from([0, 1, 2]),
            st.integers(0, 0xFFFF),
        ),
        st.binary(max_size=40),
    ).map(lambda t: raw_forward(*t)),
    st.tuples(
        addresses,
        st.sampled_from([INBOUND, OUTBOUND]),
        st.one_of(st.none(), addresses),
        st.sampled_from([0, 2]),
        st.binary(min_size=1, max_size=8),
    ).map(lambda t: good_forward(*t)),
)


def make_router() -> Router:
    directory = Directory({1: TRANSCEIVER})
    router = Router(
        TokenVerifier([FUZZ_KEY]),
        directory,
        allowlist=NetworkAllowlist(("0.0.0.0/0", "::/0")),  # let every shim datagram in
        fleet=Fleet({2: (("10.2.0.5", 50100),)}),
        backbone=NetworkAllowlist(("0.0.0.0/0", "::/0")),  # and every backbone datagram
    )
    router.handle_timeout(0.0, wall=WALL)
    return router


def forward_everything(router: Router, steps: list[tuple[bool, bytes, Address]]) -> None:
    now = 1.0
    for from_client, data, address in steps:
        now += 0.01
        if from_client:
            out = router.from_client(data, address, now)
        else:
            out = router.from_transceiver(data, address, now)
        if out is not None:
            payload, where = out
            assert isinstance(payload, bytes) and len(where) == 2
    router.handle_timeout(now + 100.0, wall=WALL + now + 100.0)  # expiry runs over whatever got in


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just(True), datagrams, addresses),
            st.tuples(st.just(False), shim_datagrams, addresses),
        ),
        max_size=12,
    )
)
def test_router_never_raises_whatever_arrives_from_whatever_address(
    steps: list[tuple[bool, bytes, Address]],
) -> None:
    router = make_router()
    forward_everything(router, steps)
    counters = router.counters
    assert counters.client_packets + counters.transceiver_packets == len(steps)


#: Inputs that once made the router (and so the worker, and `voice serve`) raise. Each is
#: ``(from_client, datagram, source address)``; a ``None`` datagram means "a check carrying
#: a valid routing token".
CRASHERS: list[tuple[bool, bytes | None, Address]] = [
    # issue 11 §1: a valid token from source port 0 (shim_header refused the port).
    (True, None, ("198.51.100.7", 0)),
    (True, None, ("2001:db8::7", 0)),
    (True, None, ("::ffff:198.51.100.7", 0)),
    (True, None, ("fe80::1%eth0", 0)),
]


@pytest.mark.parametrize(("from_client", "data", "address"), CRASHERS)
def test_corpus_of_crashers(from_client: bool, data: bytes | None, address: Address) -> None:
    router = make_router()
    forward_everything(router, [(from_client, data or routed_check(), address)])
    assert router.counters.dropped == 1
    assert len(router.table) == 0


needs_raw = pytest.mark.skipif(not raw_udp_available(), reason="raw sockets need root")


@needs_raw
async def test_corpus_through_the_real_worker(nursery: trio.Nursery) -> None:
    """The corpus entries a socket can deliver on loopback, sent to a real worker; a good
    check sent after them still gets through, so the worker survived all of them."""
    sendable = [
        (host, port)
        for fc, _, (host, port) in CRASHERS
        if fc and host in ("198.51.100.7", "2001:db8::7")
    ]
    with trio.fail_after(HANG):
        for family_host in ("127.0.0.1", "::1"):
            fake = FakeTransceiver(family_host)
            await nursery.start(fake.run)
            assert fake.address is not None
            worker = RelayWorker(
                RelayConfig(
                    keys=(KEY,),
                    log_interval=0,
                    static_directory={1: fake.address},
                    public=(family_host, 0),
                    internal=(family_host, 0),
                )
            )
            await nursery.start(worker.run)
            assert worker.public_address is not None
            for _, port in sendable:
                send_raw_udp((family_host, port), worker.public_address, check(1))
            client = await Client(family_host).open()
            await client.send(check(1), worker.public_address)
            assert (await fake.next()).client == client.address
            assert worker.counters.drops[DropReason.BAD_SOURCE] == len(sendable)


def test_a_backbone_datagram_from_port_zero_is_dropped() -> None:
    """Found by the fuzzer: an inbound version 2 datagram from source port 0 made the owning
    relay raise while writing that port as the via (VOICE-SHIM §10)."""
    router = make_router()
    data = forward_header(("192.0.2.1", 1), INBOUND, 0, 1, None) + b"x"
    forward_everything(router, [(False, data, ("0.0.0.0", 0))])
    assert router.counters.drops[DropReason.BAD_SOURCE] == 1
    assert router.datagrams_to_send() == []
