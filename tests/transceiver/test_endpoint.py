"""Routing datagrams to sessions: STUN by ufrag, everything else by claimed address."""

from __future__ import annotations

import socket
import struct
import zlib
from dataclasses import dataclass, field

import pytest
import trio

from tests.support.rawudp import raw_udp_available, send_raw_udp
from voice.metrics import Registry
from voice.transceiver.endpoint import Endpoint, SessionTable
from voice.types import Address

CLIENT = ("198.51.100.1", 5000)


@dataclass
class FakeSession:
    id: str
    ufrag: str
    inbox: list[tuple[bytes, Address]] = field(default_factory=list)
    full: bool = False

    def deliver(self, data: bytes, client: Address, arrived: float) -> bool:
        if self.full:
            return False
        self.inbox.append((data, client))
        return True


@dataclass
class FakePath:
    name: str = "direct"
    sent: list[tuple[bytes, Address]] = field(default_factory=list)

    def send(self, data: bytes, client: Address) -> None:
        self.sent.append((data, client))


def binding_request(username: bytes) -> bytes:
    attr = struct.pack("!HH", 6, len(username)) + username + bytes(-len(username) % 4)
    header = struct.pack("!HHI12s", 1, len(attr) + 8, 0x2112A442, bytes(12))
    crc = zlib.crc32(header + attr) ^ 0x5354554E
    return header + attr + struct.pack("!HHI", 0x8028, 4, crc)


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
    session = FakeSession("a", "ufragA")
    table.add(session)
    relay = FakePath(name="relay")
    endpoint.dispatch(binding_request(b"ufragA:client"), CLIENT, relay, 0.0)
    endpoint.send(b"reply", CLIENT)
    assert relay.sent == [(b"reply", CLIENT)]
    endpoint.send(b"lost", ("203.0.113.9", 1))
    assert 'drops{reason="no_path"} 1' in registry.render()


def test_full_inbox_and_removal_are_counted_drops() -> None:
    endpoint, table, registry = make()
    session = FakeSession("a", "ufragA", full=True)
    table.add(session)
    table.claim(session, CLIENT)
    endpoint.dispatch(b"\x80" + bytes(20), CLIENT, FakePath(), 0.0)
    assert 'drops{reason="session_inbox_full"} 1' in registry.render()
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
    session = FakeSession("a", "ufragA")
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
