"""Conformance against aioice, an independent Python ICE/STUN implementation (aiortc's).

Three levels: aioice's STUN codec reads what we write and we read what it writes, with
MESSAGE-INTEGRITY and FINGERPRINT checked on both sides; and a real aioice ``Connection``,
as the controlling full agent, completes ICE over loopback UDP against our lite agent.
"""

import asyncio
from typing import cast

import pytest
from aioice import Candidate as AioiceCandidate
from aioice import Connection, stun

from voice.ice import IceConnected, IceControllingClient, IceLiteAgent, host_candidate
from voice.stun import (
    IceControlling,
    MessageClass,
    Priority,
    UseCandidate,
    Username,
    XorMappedAddress,
    parse_message,
)
from voice.types import Address

pytestmark = pytest.mark.interop

S_UFRAG, S_PWD = "srv1", "server-password-0123456789"
C_UFRAG, C_PWD = "cli1", "client-password-0123456789"
CLIENT = ("192.0.2.10", 50000)


def aioice_check(*, nominate: bool, password: str = S_PWD) -> stun.Message:
    """A connectivity check built the way aioice's own agent builds one."""
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    request.attributes["USERNAME"] = f"{S_UFRAG}:{C_UFRAG}"
    request.attributes["PRIORITY"] = 1853824767
    request.attributes["ICE-CONTROLLING"] = 0x0102030405060708
    if nominate:
        request.attributes["USE-CANDIDATE"] = None
    request.add_message_integrity(password.encode())  # also adds FINGERPRINT
    return request


def test_agent_answers_an_aioice_check_in_a_form_aioice_accepts() -> None:
    agent = IceLiteAgent(S_UFRAG, S_PWD, remote_ufrag=C_UFRAG, remote_pwd=C_PWD)
    request = aioice_check(nominate=True)
    agent.receive_datagram(bytes(request), CLIENT, 0.0)
    [(data, to)] = agent.datagrams_to_send()
    assert to == CLIENT
    response = stun.parse_message(data)  # aioice checks the FINGERPRINT while parsing
    assert response.message_class == stun.Class.RESPONSE
    assert response.transaction_id == request.transaction_id
    assert response.attributes["XOR-MAPPED-ADDRESS"] == CLIENT
    assert response.check_message_integrity(S_PWD.encode())
    assert agent.next_event() == IceConnected(CLIENT)


def test_agent_401_parses_in_aioice() -> None:
    agent = IceLiteAgent(S_UFRAG, S_PWD)
    agent.receive_datagram(bytes(aioice_check(nominate=False, password="x" * 22)), CLIENT, 0.0)
    [(data, _)] = agent.datagrams_to_send()
    response = stun.parse_message(data)
    assert response.message_class == stun.Class.ERROR
    assert response.error_code == 401


def test_our_check_parses_and_verifies_in_aioice() -> None:
    client = IceControllingClient(C_UFRAG, C_PWD, S_UFRAG, S_PWD, ("203.0.113.5", 3478))
    client.connect(0.0)
    [(data, _)] = client.datagrams_to_send()
    request = stun.parse_message(data)
    assert request.message_method == stun.Method.BINDING
    assert request.attributes["USERNAME"] == f"{S_UFRAG}:{C_UFRAG}"
    assert request.attributes["ICE-CONTROLLING"] == client.tie_breaker
    assert "USE-CANDIDATE" in request.attributes
    assert request.check_message_integrity(S_PWD.encode())
    assert not request.check_message_integrity(b"wrong")


def test_aioice_messages_parse_and_verify_in_ours() -> None:
    request = aioice_check(nominate=True)
    ours = parse_message(bytes(request))
    assert ours.message_class is MessageClass.REQUEST
    assert ours.get(Username) == Username(f"{S_UFRAG}:{C_UFRAG}")
    assert ours.get(Priority) == Priority(1853824767)
    assert ours.get(IceControlling) == IceControlling(0x0102030405060708)
    assert ours.get(UseCandidate) is not None
    assert ours.check_integrity(S_PWD.encode())
    assert ours.has_fingerprint
    response = stun.Message(
        message_method=stun.Method.BINDING,
        message_class=stun.Class.RESPONSE,
        transaction_id=request.transaction_id,
    )
    response.attributes["XOR-MAPPED-ADDRESS"] = ("2001:db8::5", 4242)
    response.add_message_integrity(S_PWD.encode())
    parsed = parse_message(bytes(response))
    assert parsed.get(XorMappedAddress) == XorMappedAddress("2001:db8::5", 4242)
    assert parsed.check_integrity(S_PWD.encode())


class _LiteServer(asyncio.DatagramProtocol):
    """A throwaway asyncio driver for the sans-IO agent, just for this test."""

    def __init__(self, agent: IceLiteAgent) -> None:
        self.agent = agent
        self.connected: asyncio.Future[Address] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.agent.receive_datagram(data, (addr[0], addr[1]), asyncio.get_running_loop().time())
        for out, to in self.agent.datagrams_to_send():
            self.transport.sendto(out, to)
        while (event := self.agent.next_event()) is not None:
            if isinstance(event, IceConnected) and not self.connected.done():
                self.connected.set_result(event.address)


async def _aioice_connects_to_lite_agent() -> tuple[Address, IceLiteAgent, Connection]:
    loop = asyncio.get_running_loop()
    agent = IceLiteAgent(S_UFRAG, S_PWD)
    transport, server = await loop.create_datagram_endpoint(
        lambda: _LiteServer(agent), local_addr=("127.0.0.1", 0)
    )
    host, port = transport.get_extra_info("sockname")[:2]
    conn = Connection(ice_controlling=True, use_ipv6=False)
    try:
        await conn.gather_candidates()
        agent.set_remote_credentials(conn.local_username, conn.local_password)
        conn.remote_username = S_UFRAG
        conn.remote_password = S_PWD
        await conn.add_remote_candidate(AioiceCandidate.from_sdp(host_candidate(host, port)))
        await conn.add_remote_candidate(None)
        await asyncio.wait_for(conn.connect(), 10)
        address = await asyncio.wait_for(server.connected, 10)
        return address, agent, conn
    finally:
        await conn.close()
        transport.close()


def test_aioice_full_agent_completes_ice_with_our_lite_agent() -> None:
    address, agent, _conn = asyncio.run(_aioice_connects_to_lite_agent())
    assert agent.selected_address == address
    assert agent.counters["success_responses"] >= 1
    assert agent.counters["bad_integrity"] == 0
    assert agent.counters["bad_username"] == 0
