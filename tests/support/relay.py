"""Stand-ins for the relay's peers, for tests and benchmarks: a STUN check and a fake transceiver.

:class:`FakeTransceiver` speaks the shim (VOICE-SHIM §3) on one UDP socket and answers like
an echo service: a STUN Binding request gets a "success response" (the same bytes with the
message type changed, not a real one: the relay never looks inside), anything else comes
back unchanged. It answers to the source address of the shim packet, which is the rule the
real transceiver follows (VOICE-SHIM §6). Everything it receives is also put on a channel,
so a test can wait for a packet instead of sleeping.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass

import trio

from voice.relay.errors import RelayParseError
from voice.relay.shim import INBOUND, decode_forward, decode_shim, encode_shim
from voice.stun import AttributeType, Message, MessageClass, Method, UnknownAttribute
from voice.stun.message import new_transaction_id
from voice.types import Address


def binding_request(username: bytes, transaction_id: bytes | None = None) -> bytes:
    """A STUN Binding request with USERNAME and FINGERPRINT (no MESSAGE-INTEGRITY: the relay
    has no password to check it with, so tests and benchmarks can leave it out).

    The USERNAME goes in as raw bytes, so that a test can also send one that is not UTF-8
    (which :class:`voice.stun.Username` would refuse to build).
    """
    tid = transaction_id if transaction_id is not None else new_transaction_id()
    raw_username = UnknownAttribute(AttributeType.USERNAME, username)
    return Message(MessageClass.REQUEST, Method.BINDING, tid, (raw_username,)).encode(
        fingerprint=True
    )


@dataclass(frozen=True, slots=True)
class Received:
    """One shim datagram the fake transceiver got: whose, what, and from which relay socket."""

    client: Address
    payload: bytes
    relay: Address


class FakeTransceiver:
    """A shim-speaking echo server on ``host`` (port 0: any free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, echo: bool = True) -> None:
        self.host = host
        self.port = port
        self.echo = echo
        self.address: Address | None = None
        #: The relay socket that last forwarded each client: where replies go.
        self.relay_for: dict[Address, Address] = {}
        self.received: list[Received] = []
        #: Version 2 headers to answer clients of other clusters' ingress relays with.
        self.reply_header: dict[Address, bytes] = {}
        self.malformed = 0
        self._send, self._receive = trio.open_memory_channel[Received](math.inf)
        self._sock = trio.socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM
        )

    async def run(
        self, *, task_status: trio.TaskStatus[Address] = trio.TASK_STATUS_IGNORED
    ) -> None:
        with self._sock:
            await self._sock.bind((self.host, self.port))
            self.address = self._sock.getsockname()[:2]
            task_status.started(self.address)
            while True:
                data, source = await self._sock.recvfrom(4096)
                source = source[:2]
                try:
                    if data[:1] == b"\x02":
                        # VOICE-SHIM §10: a call that entered at another cluster's relay;
                        # replies repeat the header, turned around.
                        forward = decode_forward(data)
                        if forward.direction != INBOUND or forward.via is None:
                            raise RelayParseError("not for a transceiver")  # noqa: TRY301
                        client, payload = forward.client, forward.payload
                        self.reply_header[client] = forward.reply_header()
                    else:
                        client, payload = decode_shim(data)
                        self.reply_header.pop(client, None)
                except RelayParseError:
                    self.malformed += 1
                    continue
                item = Received(client, payload, source)
                self.relay_for[client] = source
                self.received.append(item)
                self._send.send_nowait(item)
                if self.echo:
                    await self.send(client, self._answer(payload), source)

    @staticmethod
    def _answer(payload: bytes) -> bytes:
        if payload[:2] == b"\x00\x01":  # a Binding request: "answer" it
            return b"\x01\x01" + payload[2:]
        return payload

    async def send(self, client: Address, payload: bytes, relay: Address | None = None) -> None:
        """Sends ``payload`` for ``client`` through ``relay`` (default: the last one used)."""
        target = relay if relay is not None else self.relay_for[client]
        header = self.reply_header.get(client)
        wire = encode_shim(client, payload) if header is None else header + payload
        await self._sock.sendto(wire, target)

    async def next(self) -> Received:
        """Waits for the next datagram this transceiver receives."""
        return await self._receive.receive()
