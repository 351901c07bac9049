"""Two in-memory :class:`DtlsConnection` objects and the channels that join them."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from voice.dtls import Certificate, DtlsConnection
from voice.dtls.events import DtlsEvent
from voice.dtls.fragments import HandshakeFragment, iter_fragments
from voice.dtls.record import Record, iter_records
from voice.dtls.registry import ContentType


def make_pair(
    certs: tuple[Certificate, Certificate], **kwargs: Any
) -> tuple[DtlsConnection, DtlsConnection]:
    """(client, server), each expecting the other's real fingerprint. Keyword arguments go to
    both, or to one with a ``client_`` / ``server_`` prefix."""
    server_cert, client_cert = certs
    common: dict[str, Any] = {
        k: v for k, v in kwargs.items() if not k.startswith(("client_", "server_"))
    }
    client_kwargs = {"remote_fingerprints": [("sha-256", server_cert.fingerprint())], **common}
    server_kwargs = {"remote_fingerprints": [("sha-256", client_cert.fingerprint())], **common}
    for key, value in kwargs.items():
        if key.startswith("client_"):
            client_kwargs[key.removeprefix("client_")] = value
        elif key.startswith("server_"):
            server_kwargs[key.removeprefix("server_")] = value
    client = DtlsConnection(is_server=False, certificate=client_cert, **client_kwargs)
    server = DtlsConnection(is_server=True, certificate=server_cert, **server_kwargs)
    return client, server


def drain(conn: DtlsConnection) -> list[DtlsEvent]:
    events = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


Tamper = Callable[[bytes], bytes | None]


def pump(
    client: DtlsConnection,
    server: DtlsConnection,
    now: float = 0.0,
    *,
    to_server: Tamper | None = None,
    to_client: Tamper | None = None,
    rounds: int = 20,
) -> tuple[list[DtlsEvent], list[DtlsEvent]]:
    """Delivers datagrams both ways until both sides are quiet; returns their events.

    ``to_server`` / ``to_client`` may rewrite or (returning None) drop each datagram.
    """
    client_events: list[DtlsEvent] = []
    server_events: list[DtlsEvent] = []
    for _ in range(rounds):
        moved = False
        for datagram in client.datagrams_to_send():
            moved = True
            out = to_server(datagram) if to_server else datagram
            if out is not None:
                server.receive_datagram(out, now)
        for datagram in server.datagrams_to_send():
            moved = True
            out = to_client(datagram) if to_client else datagram
            if out is not None:
                client.receive_datagram(out, now)
        client_events += drain(client)
        server_events += drain(server)
        if not moved:
            break
    return client_events, server_events


@dataclass
class LossyChannel:
    """A network that loses, duplicates and reorders datagrams, under a fake clock.

    Each step either delivers one datagram picked at random from those in flight, or, when
    nothing is in flight, moves the clock to the earliest timer and fires it.
    """

    rng: random.Random
    loss: float = 0.2
    duplicate: float = 0.1
    now: float = 0.0
    in_flight: list[tuple[DtlsConnection, bytes]] = field(default_factory=list)
    delivered: int = 0
    lost: int = 0

    def send(self, destination: DtlsConnection, datagrams: list[bytes]) -> None:
        for datagram in datagrams:
            if self.rng.random() < self.loss:
                self.lost += 1
                continue
            copies = 2 if self.rng.random() < self.duplicate else 1
            self.in_flight.extend([(destination, datagram)] * copies)

    def run(
        self,
        client: DtlsConnection,
        server: DtlsConnection,
        done: Callable[[], bool],
        max_steps: int = 5000,
    ) -> None:
        for _ in range(max_steps):
            self.send(server, client.datagrams_to_send())
            self.send(client, server.datagrams_to_send())
            if done():
                return
            if self.in_flight:
                index = self.rng.randrange(len(self.in_flight))
                destination, datagram = self.in_flight.pop(index)
                destination.receive_datagram(datagram, self.now)
                self.delivered += 1
                continue
            timers = [t for t in (client.get_timer(), server.get_timer()) if t is not None]
            if not timers:
                return
            self.now = max(self.now, min(timers))
            client.handle_timeout(self.now)
            server.handle_timeout(self.now)
        raise AssertionError("the channel did not settle")


def rewrite_message(datagram: bytes, msg_type: int, edit: Callable[[bytes], bytes]) -> bytes:
    """Rewrites the body of an unfragmented epoch-0 handshake message inside a datagram.

    Tests use it to play a peer that sends something our own implementation never would.
    """
    out = b""
    for record in iter_records(datagram):
        if record.content_type != ContentType.handshake or record.epoch != 0:
            out += record.encode()
            continue
        pieces = b""
        for frag in iter_fragments(record.fragment):
            whole = frag.fragment_offset == 0 and len(frag.body) == frag.length
            if frag.msg_type == msg_type and whole:
                body = edit(frag.body)
                pieces += HandshakeFragment(msg_type, len(body), frag.message_seq, 0, body).encode()
            else:
                pieces += frag.encode()
        out += replace(record, fragment=pieces).encode()
    return out


def records_of(datagram: bytes) -> list[Record]:
    return list(iter_records(datagram))
