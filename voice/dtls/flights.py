"""Flights and their retransmission (RFC 6347 §4.2.4).

DTLS groups handshake messages into flights: everything one side sends before it must wait
for the other. Reliability is per flight: a sender keeps its last flight and a timer, and
sends the whole flight again when the timer fires or when the peer's previous flight shows up
again (proof that ours was lost). A retransmitted flight has the same handshake messages
(same message_seq, same bodies) in *new* records with new record sequence numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from voice.dtls.fragments import HANDSHAKE_HEADER_SIZE, HandshakeFragment
from voice.dtls.record import RecordLayer
from voice.dtls.registry import ContentType

#: RFC 6347 §4.2.4.1: start at 1 s, double on each expiry, and cap at 60 s.
INITIAL_TIMEOUT = 1.0
MAX_TIMEOUT = 60.0
#: How many times a flight is sent again before the handshake is abandoned: 1+2+...+32 s,
#: about a minute of silence, by which time ICE consent has long expired anyway.
MAX_RETRANSMISSIONS = 6

#: A fragment smaller than this is not worth starting at the end of a datagram.
_MIN_FRAGMENT = 32


@dataclass(frozen=True, slots=True)
class FlightMessage:
    """A handshake message of a flight, or (``msg_type`` None) a ChangeCipherSpec."""

    epoch: int
    msg_type: int | None
    message_seq: int = 0
    body: bytes = b""


def pack_flight(
    messages: list[FlightMessage], records: RecordLayer, max_datagram_size: int
) -> list[bytes]:
    """Builds the datagrams of one transmission of a flight.

    Records are packed several to a datagram (RFC 6347 §4.1.1) and a message that does not
    fit in what is left of a datagram is split into fragments (RFC 6347 §4.2.3), so no
    datagram exceeds ``max_datagram_size``.
    """
    datagrams: list[bytes] = []
    current = bytearray()

    def flush() -> None:
        nonlocal current
        if current:
            datagrams.append(bytes(current))
            current = bytearray()

    for msg in messages:
        overhead = records.overhead(msg.epoch)
        if msg.msg_type is None:
            if len(current) + overhead + 1 > max_datagram_size:
                flush()
            current += records.seal(ContentType.change_cipher_spec, b"\x01", msg.epoch)
            continue
        offset = 0
        while True:
            room = max_datagram_size - len(current) - overhead - HANDSHAKE_HEADER_SIZE
            remaining = len(msg.body) - offset
            if current and room < min(remaining, _MIN_FRAGMENT):
                flush()
                room = max_datagram_size - overhead - HANDSHAKE_HEADER_SIZE
            size = min(room, remaining)
            fragment = HandshakeFragment(
                msg.msg_type,
                len(msg.body),
                msg.message_seq,
                offset,
                msg.body[offset : offset + size],
            )
            current += records.seal(ContentType.handshake, fragment.encode(), msg.epoch)
            offset += size
            if offset >= len(msg.body):
                break
    flush()
    return datagrams


class RetransmitTimer:
    """The flight timer: armed when a flight is sent, stopped when the peer answers."""

    __slots__ = ("deadline", "retransmissions", "timeout")

    def __init__(self) -> None:
        self.deadline: float | None = None
        self.timeout = INITIAL_TIMEOUT
        self.retransmissions = 0

    def start(self, now: float) -> None:
        """A new flight was sent: a fresh timer at the initial timeout."""
        self.timeout = INITIAL_TIMEOUT
        self.retransmissions = 0
        self.deadline = now + self.timeout

    def back_off(self, now: float) -> None:
        """The timer fired and the flight was sent again: wait twice as long."""
        self.retransmissions += 1
        self.timeout = min(self.timeout * 2, MAX_TIMEOUT)
        self.deadline = now + self.timeout

    def stop(self) -> None:
        self.deadline = None

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    @property
    def exhausted(self) -> bool:
        return self.retransmissions >= MAX_RETRANSMISSIONS
