"""The DTLS handshake layer: message headers, fragmentation and reassembly.

Handshake messages can be larger than a datagram (a certificate chain) and datagrams can be
lost, duplicated or reordered, so DTLS gives every handshake message a sequence number and
lets it travel in fragments, each naming its offset and length (RFC 6347 §4.2.2, §4.2.3).
The :class:`Reassembler` puts fragments back together and releases whole messages strictly
in ``message_seq`` order, which is what lets the state machine above it read like TLS.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from voice.buffer import Buffer, BufferReadError
from voice.dtls.errors import DtlsParseError

HANDSHAKE_HEADER_SIZE = 12

#: Largest handshake message we reassemble. WebRTC certificates are well under 2 KB and our
#: largest message is a few; 64 KiB leaves room for long chains without letting a peer make
#: us hold megabytes for a message it never finishes.
MAX_MESSAGE_LENGTH = 2**16

#: How many messages ahead of the next expected one we buffer (RFC 6347 §4.2.2 lets a
#: receiver either buffer or drop future messages; a flight has at most five).
MAX_MESSAGES_AHEAD = 8


@dataclass(frozen=True, slots=True)
class HandshakeFragment:
    """One fragment of a handshake message with its DTLS header (RFC 6347 §4.2.2)."""

    msg_type: int
    length: int
    message_seq: int
    fragment_offset: int
    body: bytes

    @property
    def end(self) -> int:
        return self.fragment_offset + len(self.body)

    def encode(self) -> bytes:
        return (
            bytes([self.msg_type])
            + self.length.to_bytes(3, "big")
            + self.message_seq.to_bytes(2, "big")
            + self.fragment_offset.to_bytes(3, "big")
            + len(self.body).to_bytes(3, "big")
            + self.body
        )


def encode_whole_message(msg_type: int, message_seq: int, body: bytes) -> bytes:
    """A message as one fragment covering all of it.

    RFC 6347 §4.2.6: this is also the form in which every message enters the handshake hash
    (Finished, CertificateVerify, the extended master secret), whatever fragments it was
    actually sent in, so both ends hash the same bytes.
    """
    return HandshakeFragment(msg_type, len(body), message_seq, 0, body).encode()


def iter_fragments(record_fragment: bytes) -> Iterator[HandshakeFragment]:
    """Yields the handshake fragments packed in one record; raises DtlsParseError."""
    buf = Buffer(record_fragment)
    try:
        while not buf.eof():
            msg_type = buf.pull_uint8()
            length = buf.pull_uint24()
            seq = buf.pull_uint16()
            offset = buf.pull_uint24()
            body = buf.pull_vector(3)
            if offset + len(body) > length:
                raise DtlsParseError("handshake fragment runs past its message")
            yield HandshakeFragment(msg_type, length, seq, offset, body)
    except BufferReadError as exc:
        raise DtlsParseError(f"truncated handshake fragment: {exc}") from exc


def split_message(
    msg_type: int, message_seq: int, body: bytes, offset: int, max_body: int
) -> HandshakeFragment:
    """The fragment of a message starting at ``offset`` with at most ``max_body`` bytes."""
    return HandshakeFragment(
        msg_type, len(body), message_seq, offset, body[offset : offset + max_body]
    )


class Added(enum.Enum):
    """What became of a fragment handed to :meth:`Reassembler.add`."""

    ACCEPTED = "accepted"  # part of the next message or of one buffered ahead
    OLD = "old"  # part of a message already delivered: the peer is retransmitting
    TOO_FAR = "too_far"  # too far ahead to buffer; the peer will send it again
    INCONSISTENT = "inconsistent"  # disagrees with earlier fragments on type or length
    TOO_LONG = "too_long"


class _Partial:
    __slots__ = ("data", "length", "msg_type", "ranges")

    def __init__(self, msg_type: int, length: int) -> None:
        self.msg_type = msg_type
        self.length = length
        self.data = bytearray(length)
        self.ranges: list[tuple[int, int]] = []  # disjoint, sorted [start, end) received

    def add(self, offset: int, body: bytes) -> None:
        end = offset + len(body)
        self.data[offset:end] = body
        merged: list[tuple[int, int]] = []
        start, stop = offset, end
        for a, b in self.ranges:
            if b < start or a > stop:
                merged.append((a, b))
            else:
                start, stop = min(a, start), max(b, stop)
        merged.append((start, stop))
        merged.sort()
        self.ranges = merged

    @property
    def complete(self) -> bool:
        return self.ranges == [(0, self.length)] or self.length == 0


class Reassembler:
    """Turns fragments back into messages, delivered in ``message_seq`` order.

    ``next_seq`` is the sequence number of the next message the state machine will be given.
    Fragments of older messages are reported as :attr:`Added.OLD` so the connection can tell
    that the peer is retransmitting (RFC 6347 §4.2.4).
    """

    def __init__(self) -> None:
        self.next_seq = 0
        self._partial: dict[int, _Partial] = {}

    def restart_at(self, seq: int) -> None:
        """Forgets everything and expects ``seq`` next (a server meeting a new ClientHello)."""
        self.next_seq = seq
        self._partial.clear()

    def add(self, frag: HandshakeFragment) -> Added:
        seq = frag.message_seq
        if seq < self.next_seq:
            return Added.OLD
        if seq >= self.next_seq + MAX_MESSAGES_AHEAD:
            return Added.TOO_FAR
        if frag.length > MAX_MESSAGE_LENGTH:
            return Added.TOO_LONG
        partial = self._partial.get(seq)
        if partial is None:
            partial = self._partial[seq] = _Partial(frag.msg_type, frag.length)
        elif partial.msg_type != frag.msg_type or partial.length != frag.length:
            return Added.INCONSISTENT
        partial.add(frag.fragment_offset, frag.body)
        return Added.ACCEPTED

    def pop(self) -> tuple[int, int, bytes] | None:
        """The next whole message as (msg_type, message_seq, body), or None if incomplete."""
        partial = self._partial.get(self.next_seq)
        if partial is None or not partial.complete:
            return None
        del self._partial[self.next_seq]
        seq = self.next_seq
        self.next_seq += 1
        return partial.msg_type, seq, bytes(partial.data)
