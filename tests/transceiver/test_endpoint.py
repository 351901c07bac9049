"""Routing datagrams to sessions: STUN by ufrag, everything else by claimed address."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

import pytest
import trio

from tests.support.netns import extra_addresses
from tests.support.rawudp import raw_udp_available, send_raw_udp
from tests.support.relay import binding_request as relay_binding_request
from voice.metrics import Registry
from voice.transceiver.endpoint import (
    CLIENT_BURST,
    CLIENT_RATE,
    MAX_ADDRESSES,
    MAX_SOURCES,
    UNVERIFIED_BURST,
    UNVERIFIED_RATE,
    Endpoint,
    SessionTable,
)
from voice.types import Address

CLIENT = ("198.51.100.1", 5000)


@dataclass
class FakeSession:
    id: str
    ufrag: str
    inbox: list[tuple[bytes, Address]] = field(default_factory=list)
    full: bool = False
    #: Set it to make the session's "ICE agent" authenticate every client that reaches it
    #: (claiming the address during delivery, as the real session does).
    table: SessionTable | None = None

    def deliver(self, data: bytes, client: Address, arrived: float) -> bool:
        if self.full:
            return False
        self.inbox.append((data, client))
        if self.table is not None:
            self.table.claim(self, client)
        return True


@dataclass
class FakePath:
    name: str = "direct"
    sent: list[tuple[bytes, Address]] = field(default_factory=list)

    def send(self, data: bytes, client: Address) -> None:
        self.sent.append((data, client))


def binding_request(username: bytes) -> bytes:
    """The same check every time for a username (a fixed transaction id), so tests can
    compare what was forwarded with what was sent."""
    return relay_binding_request(username, bytes(12))


def make() -> tuple[Endpoint, SessionTable, Registry]:
    registry = Registry()
    table = SessionTable()
    endpoint = Endpoint(table, registry.counter("packets", "p"), registry.counter("drops", "d"))
    return endpoint, table, registry


def test_stun_finds_its_session_by_ufrag() -> None:
    endpoint, table, _ = make()
    a, b = FakeSession("a", "ufragA"), FakeSession("b", "ufragB")
    table.add(a)
    table.add(b)
    endpoint.dispatch(binding_request(b"ufragB:client"), CLIENT, FakePath(), 0.0)
    assert b.inbox == [(binding_request(b"ufragB:client"), CLIENT)] and not a.inbox


def test_media_is_routed_only_after_the_session_claims_the_address() -> None:
    endpoint, table, registry = make()
    session = FakeSession("a", "ufragA")
    table.add(session)
    endpoint.dispatch(b"\x16\xfe\xfd" + bytes(20), CLIENT, FakePath(), 0.0)
    assert not session.inbox
    assert registry.render().count('drops{reason="no_session"} 1') == 1
    table.claim(session, CLIENT)
    endpoint.dispatch(b"\x16\xfe\xfd" + bytes(20), CLIENT, FakePath(), 0.0)
    assert len(session.inbox) == 1


def test_replies_go_back_on_the_path_the_client_used() -> None:
    endpoint, table, registry = make()
    session = FakeSession("a", "ufragA", table=table)
    table.add(session)
    relay = FakePath(name="relay")
    endpoint.dispatch(binding_request(b"ufragA:client"), CLIENT, relay, 0.0)
    endpoint.send(b"reply", CLIENT)
    assert relay.sent == [(b"reply", CLIENT)]
    endpoint.send(b"lost", ("203.0.113.9", 1))
    assert 'drops{reason="no_path"} 1' in registry.render()


def test_packets_for_an_ended_session_and_after_removal_are_counted_drops() -> None:
    endpoint, table, registry = make()
    session = FakeSession("a", "ufragA", full=True)
    table.add(session)
    table.claim(session, CLIENT)
    endpoint.dispatch(b"\x80" + bytes(20), CLIENT, FakePath(), 0.0)
    assert 'drops{reason="session_ended"} 1' in registry.render()
    table.remove(session)
    assert not table.by_address and not table.by_ufrag and len(table) == 0
    endpoint.dispatch(b"\x80" + bytes(20), CLIENT, FakePath(), 0.0)
    assert 'drops{reason="no_session"} 1' in registry.render()


def test_shim_only_from_relay_networks() -> None:
    """VOICE-SHIM §7 and §5: shim datagrams from outside the relay networks, and bad shim
    headers, are counted and dropped; good ones reach their session as the client's."""
    from voice.relay.networks import NetworkAllowlist
    from voice.relay.shim import encode_shim

    endpoint, table, registry = make()
    session = FakeSession("a", "ufragA", table=table)
    table.add(session)
    relay_path = FakePath(name="relay")
    relays = NetworkAllowlist(("10.0.0.0/8",))
    check = binding_request(b"ufragA:c")
    endpoint.from_relay(encode_shim(CLIENT, check), ("192.0.2.9", 4000), 0.0, relays,
                        lambda _: relay_path)  # fmt: skip
    endpoint.from_relay(b"\x09garbage", ("10.0.0.5", 4000), 0.0, relays, lambda _: relay_path)
    assert not session.inbox
    endpoint.from_relay(encode_shim(CLIENT, check), ("10.0.0.5", 4000), 0.0, relays,
                        lambda _: relay_path)  # fmt: skip
    assert session.inbox == [(check, CLIENT)]
    rendered = registry.render()
    assert 'drops{reason="shim_from_unknown_host"} 1' in rendered
    assert 'drops{reason="bad_shim"} 1' in rendered
    assert table.path_of[CLIENT] is relay_path


def test_only_authenticated_addresses_get_a_path_and_lose_it_with_their_session() -> None:
    """Issue 11 §6: checks naming a live ufrag from unauthenticated sources leave nothing in
    the table (their answers still go back the way they came); an authenticated address is
    bound, and unbound when its session goes."""
    endpoint, table, registry = make()
    session = FakeSession("a", "ufragA")
    table.add(session)
    path = FakePath()
    answered: list[Address] = []

    def answer(data: bytes, client: Address, arrived: float) -> bool:
        endpoint.send(b"401", client)  # what the ICE agent does with a bad check
        answered.append(client)
        return True

    session.deliver = answer  # type: ignore[method-assign]
    for n, port in enumerate(range(1000, 1100)):
        # 20 a second: within the session's budget for unverified checks.
        endpoint.dispatch(binding_request(b"ufragA:forged"), ("203.0.113.5", port), path, n / 20)
    assert len(answered) == 100 and len(path.sent) == 100
    assert table.path_of == {} and table.by_address == {}
    good = FakeSession("b", "ufragB", table=table)
    table.add(good)
    endpoint.dispatch(binding_request(b"ufragB:c"), CLIENT, path, 0.0)
    assert table.path_of == {CLIENT: path}
    table.remove(good)
    assert table.path_of == {} and table.by_address == {}
    assert "no_path" not in registry.render()


async def serve_direct_on(host: str, endpoint: Endpoint, nursery: trio.Nursery) -> Address:
    """Starts the endpoint's real receive loop on a fresh non-blocking UDP socket."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind((host, 0))
    nursery.start_soon(endpoint.serve_direct, sock)
    return sock.getsockname()[:2]  # type: ignore[no-any-return]


class Witness(FakeSession):
    """A session that tells a waiting test when a datagram arrived."""

    def __init__(self, id: str, ufrag: str, raises_on: bytes = b"\xff\xff") -> None:
        super().__init__(id, ufrag)
        self.arrived = trio.Event()
        self.raises_on = raises_on

    def deliver(self, data: bytes, client: Address, arrived: float) -> bool:
        if self.raises_on in data:
            raise RuntimeError("a bug outside the session's own guard")
        self.arrived.set()
        return super().deliver(data, client, arrived)


@pytest.mark.skipif(not raw_udp_available(), reason="raw sockets need root")
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_source_port_zero_is_dropped_before_any_session(
    nursery: trio.Nursery, host: str
) -> None:
    endpoint, table, registry = make()
    session = Witness("a", "ufragA")
    table.add(session)
    with trio.fail_after(10):
        at = await serve_direct_on(host, endpoint, nursery)
        send_raw_udp((host, 0), at, binding_request(b"ufragA:client"))
        with socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM
        ) as good:
            good.bind((host, 0))
            good.sendto(binding_request(b"ufragA:client"), at)
            await session.arrived.wait()
            assert [client for _, client in session.inbox] == [good.getsockname()[:2]]
    assert 'drops{reason="bad_source"} 1' in registry.render()
    assert (host, 0) not in table.path_of


async def test_a_datagram_that_raises_does_not_end_the_receive_loop(
    nursery: trio.Nursery,
) -> None:
    endpoint, table, registry = make()
    session = Witness("a", "ufragA", raises_on=b"poison")
    table.add(session)
    with trio.fail_after(10):
        at = await serve_direct_on("127.0.0.1", endpoint, nursery)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(binding_request(b"ufragA:poison"), at)
            client.sendto(binding_request(b"ufragA:client"), at)
            await session.arrived.wait()
    assert len(session.inbox) == 1
    assert 'drops{reason="internal_error"} 1' in registry.render()


def test_checks_from_unauthenticated_addresses_reach_a_session_at_a_bounded_rate() -> None:
    """Issue 11 §3: a flood of checks naming a live ufrag (bad integrity, or from anywhere
    the session has not authenticated) costs that session a bounded number of
    verifications and answers; another session's media is not touched."""
    endpoint, table, registry = make()
    victim, other = FakeSession("a", "ufragA"), FakeSession("b", "ufragB", table=table)
    table.add(victim)
    table.add(other)
    endpoint.dispatch(binding_request(b"ufragB:c"), CLIENT, FakePath(), 0.0)
    for n in range(10_000):
        source = ("203.0.113.5", 1024 + n % 60_000)
        endpoint.dispatch(binding_request(b"ufragA:forged"), source, FakePath(), n / 10_000)
        if n % 200 == 0:
            endpoint.dispatch(b"\x80 audio", CLIENT, FakePath(), n / 10_000)
    # One second of flood at 10 000 a second: the burst, plus one second at the rate.
    assert len(victim.inbox) <= UNVERIFIED_BURST + UNVERIFIED_RATE + 1
    assert len(other.inbox) == 1 + 50
    assert 'drops{reason="unverified_check_limit"}' in registry.render()


def test_an_authenticated_address_floods_only_up_to_its_budget() -> None:
    """Issue 11 §3: correctly signed traffic of the attacker's own call is cut to the
    per-address budget; the victim's call, from its own address, is not."""
    endpoint, table, registry = make()
    attacker, victim = (
        FakeSession("a", "ufragA", table=table),
        FakeSession("b", "ufragB", table=table),
    )
    table.add(attacker)
    table.add(victim)
    flooder = ("203.0.113.5", 4000)
    endpoint.dispatch(binding_request(b"ufragA:x"), flooder, FakePath(), 0.0)
    endpoint.dispatch(binding_request(b"ufragB:y"), CLIENT, FakePath(), 0.0)
    for n in range(20_000):
        endpoint.dispatch(binding_request(b"ufragA:x"), flooder, FakePath(), n / 20_000)
        if n % 400 == 0:
            endpoint.dispatch(b"\x80 audio", CLIENT, FakePath(), n / 20_000)
    assert len(attacker.inbox) <= 1 + CLIENT_BURST + CLIENT_RATE + 1
    assert len(victim.inbox) == 1 + 50
    assert 'drops{reason="rate_limited"}' in registry.render()


def test_authenticated_addresses_per_session_are_bounded() -> None:
    endpoint, table, _ = make()
    session = FakeSession("a", "ufragA", table=table)
    table.add(session)
    for port in range(1000, 1000 + 5 * MAX_ADDRESSES):
        endpoint.dispatch(binding_request(b"ufragA:x"), ("203.0.113.5", port), FakePath(), port)
    assert len(table.by_address) == len(table.path_of) == len(table.budget_of) == MAX_ADDRESSES
    newest = ("203.0.113.5", 1000 + 5 * MAX_ADDRESSES - 1)
    assert newest in table.by_address and ("203.0.113.5", 1000) not in table.by_address
    table.remove(session)
    assert not table.by_address and not table.path_of and not table.budget_of


def test_an_unauthenticated_source_is_budgeted_before_anything_is_parsed() -> None:
    endpoint, table, registry = make()
    session = FakeSession("a", "ufragA")
    table.add(session)
    flooder = ("203.0.113.5", 4000)
    for n in range(5000):
        endpoint.dispatch(binding_request(b"ufragA:forged"), flooder, FakePath(), n / 5000)
    assert len(session.inbox) <= UNVERIFIED_BURST + UNVERIFIED_RATE + 1
    rendered = registry.render()
    assert 'drops{reason="unverified_source_limit"}' in rendered
    # The sources remembered are bounded; forgetting one only makes it start afresh.
    for port in range(1, MAX_SOURCES + 100):
        endpoint.dispatch(b"\x80", ("198.51.100.9", port), FakePath(), 10.0)
    assert len(endpoint._sources) == MAX_SOURCES


class Echo(FakeSession):
    """Authenticates whoever reaches it and answers each datagram at once, like a call."""

    def __init__(self, endpoint: Endpoint, table: SessionTable) -> None:
        super().__init__("e", "ufragE", table=table)
        self.endpoint = endpoint

    def deliver(self, data: bytes, client: Address, arrived: float) -> bool:
        super().deliver(data, client, arrived)
        self.endpoint.send(b"answer:" + data[:4], client)
        return True


@pytest.mark.parametrize(
    ("wildcard", "first", "second", "cidrs"),
    [
        ("0.0.0.0", "10.77.0.1", "10.77.0.2", ["10.77.0.2/24"]),
        ("::", "fd00:77::1", "fd00:77::2", ["fd00:77::1/64", "fd00:77::2/64"]),
        # A dual-stack socket: IPv4 peers, seen as IPv4-mapped addresses.
        ("::", "10.77.0.1", "10.77.0.2", ["10.77.0.2/24"]),
    ],
)
@pytest.mark.parametrize("via", ["direct", "relay"])
async def test_wildcard_sockets_answer_from_the_address_written_to(
    nursery: trio.Nursery, via: str, wildcard: str, first: str, second: str, cidrs: list[str]
) -> None:
    """Issue 11 §5b (VOICE-RELAY §11): the transceiver's client-facing socket and its relay
    input, bound to a wildcard on a host with two addresses, answer from the address each
    peer wrote to (a browser's candidate pair; the address a relay knows it by)."""
    from voice.relay.networks import NetworkAllowlist
    from voice.relay.shim import decode_shim, encode_shim

    endpoint, table, _ = make()
    table.add(Echo(endpoint, table))
    family = socket.AF_INET6 if ":" in wildcard else socket.AF_INET
    with extra_addresses(*cidrs), trio.fail_after(10):
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind((wildcard, 0))
        port = sock.getsockname()[1]
        if via == "direct":
            nursery.start_soon(endpoint.serve_direct, sock)
        else:
            everyone = NetworkAllowlist(("0.0.0.0/0", "::/0"))
            nursery.start_soon(endpoint.serve_relays, sock, everyone)
        for target in (second, first):
            peer_family = socket.AF_INET6 if ":" in first else socket.AF_INET
            peer = trio.socket.socket(peer_family, socket.SOCK_DGRAM)
            await peer.bind((first, 0))
            check = binding_request(b"ufragE:c")
            client = ("198.51.100.7", 5000)
            await peer.sendto(check if via == "direct" else encode_shim(client, check),
                              (target, port))  # fmt: skip
            data, source = await peer.recvfrom(2048)
            assert source[:2] == (target, port)
            payload = data if via == "direct" else decode_shim(data)[1]
            assert payload == b"answer:" + check[:4]
            peer.close()


def test_a_call_from_another_clusters_ingress_is_answered_through_it() -> None:
    """VOICE-SHIM §10: a version 2 datagram reaches its session as the client's own, and the
    session's replies repeat the header (direction outbound, same ids and via), so they go
    back through the owning relay to the ingress the caller writes to."""
    import socket

    from voice.relay.networks import NetworkAllowlist
    from voice.relay.shim import INBOUND, OUTBOUND, forward_header
    from voice.transceiver.endpoint import RelayPath

    endpoint, table, registry = make()
    session = FakeSession("a", "ufragA", table=table)
    table.add(session)
    relays = NetworkAllowlist(("127.0.0.0/8",))
    ingress = ("10.1.0.5", 50100)
    check = binding_request(b"ufragA:c")
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as relay,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as own,
    ):
        relay.bind(("127.0.0.1", 0))
        own.bind(("127.0.0.1", 0))
        relay.settimeout(5)
        where = relay.getsockname()
        inbound = forward_header(CLIENT, INBOUND, 2, 7, ingress) + check
        endpoint.from_relay(inbound, where, 0.0, relays, lambda r: RelayPath(own, r))
        assert session.inbox == [(check, CLIENT)]
        endpoint.send(b"answer", CLIENT)
        data, _ = relay.recvfrom(2048)
        assert data == forward_header(CLIENT, OUTBOUND, 2, 7, ingress) + b"answer"
        # What only relays receive, and garbage, is counted and dropped.
        for bad in (
            forward_header(CLIENT, OUTBOUND, 2, 7, ingress) + check,
            forward_header(CLIENT, INBOUND, 2, 7, None) + check,
            b"\x02garbage",
        ):
            endpoint.from_relay(bad, where, 0.0, relays, lambda r: RelayPath(own, r))
    assert len(session.inbox) == 1
    assert 'drops{reason="bad_shim"} 3' in registry.render()
