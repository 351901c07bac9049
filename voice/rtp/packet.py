"""The RTP data packet (RFC 3550 §5.1), and telling it apart from RTCP on one port.

Every voice packet in a call goes through :meth:`RtpPacket.parse` once and through
:meth:`RtpPacket.encode` once, so both read the fixed header with one :mod:`struct` call
and do the rest with slices; only packets that carry a header extension pay for parsing
its elements. The layout::

     0                   1                   2                   3
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    |                           timestamp                           |
    |           synchronization source (SSRC) identifier            |
    |            contributing source (CSRC) identifiers (CC)        |
    |   profile (0xBEDE, 0x100X, ...)   |  extension length (words) |  if X
    |                   header extension elements                   |  if X
    |                            payload                            |
    |                 padding ...           | padding count (P)     |  if P
"""

from __future__ import annotations

import dataclasses
import struct
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from voice.rtp.errors import RtpParseError, RtpUsageError
from voice.rtp.extensions import build_elements, is_rfc8285, parse_elements

RTP_VERSION = 2
FIXED_HEADER_LENGTH = 12

_HEADER = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")
_EMPTY: Mapping[int, bytes] = types.MappingProxyType({})


def _no_extensions() -> Mapping[int, bytes]:
    return _EMPTY


def is_rtcp(data: bytes) -> bool:
    """True when a datagram on a shared RTP/RTCP port is RTCP (RFC 5761 §4).

    The second byte is the RTCP packet type, or the RTP marker bit and payload type. RTCP
    types 192-223 are exactly what RTP payload types 64-95 look like with the marker set,
    and RTP avoids those payload types when multiplexing, so the byte alone decides. It
    works on SRTP and SRTCP too, whose headers are not encrypted.
    """
    return len(data) >= 2 and 192 <= data[1] <= 223


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet.

    ``extensions`` maps RFC 8285 local identifiers to their values; ``extension_profile``
    is the header extension's 16-bit "defined by profile" value as received (0xBEDE for
    the one-byte form, 0x1000-0x100F for the two-byte form), or None to let :meth:`encode`
    pick the smaller form. A header extension of any other profile is kept as raw bytes
    in ``extension_data``. ``padding`` is the number of padding bytes on the wire, the
    count byte included (RFC 3550 §5.1), 0 for none.
    """

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extensions: Mapping[int, bytes] = field(default_factory=_no_extensions, hash=False)
    extension_profile: int | None = None
    extension_data: bytes = b""
    padding: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Reads one RTP packet, checking every length against the data.

        Raises :class:`RtpParseError` (and nothing else) on a packet that is too short, is
        not version 2, or whose CSRC list, header extension or padding runs past its end.
        """
        size = len(data)
        if size < FIXED_HEADER_LENGTH:
            raise RtpParseError(f"RTP packet of {size} bytes is shorter than its header")
        first, second, sequence_number, timestamp, ssrc = _HEADER.unpack_from(data)
        if first >> 6 != RTP_VERSION:
            raise RtpParseError(f"RTP version {first >> 6}, expected 2")
        offset = FIXED_HEADER_LENGTH
        csrc_count = first & 0x0F
        csrcs: tuple[int, ...] = ()
        if csrc_count:
            end = offset + 4 * csrc_count
            if end > size:
                raise RtpParseError("CSRC list runs past the end of the packet")
            csrcs = struct.unpack_from(f"!{csrc_count}I", data, offset)
            offset = end
        extensions = _EMPTY
        extension_profile = None
        extension_data = b""
        if first & 0x10:
            # RFC 3550 §5.3.1: a profile value, a length in 32-bit words, then the words.
            if offset + 4 > size:
                raise RtpParseError("header extension header runs past the end of the packet")
            extension_profile, words = _EXTENSION_HEADER.unpack_from(data, offset)
            end = offset + 4 + 4 * words
            if end > size:
                raise RtpParseError("header extension runs past the end of the packet")
            body = data[offset + 4 : end]
            if is_rfc8285(extension_profile):
                extensions = parse_elements(extension_profile, body)
            else:
                extension_data = body
            offset = end
        padding = 0
        if first & 0x20:
            # RFC 3550 §5.1: the last byte counts the padding, itself included.
            padding = data[-1] if size > offset else 0
            if padding == 0 or offset + padding > size:
                raise RtpParseError(f"padding count {padding} does not fit the packet")
        # Filled slot by slot rather than through __init__: a frozen dataclass's __init__
        # pays for one object.__setattr__ per field, about 2 µs for these eleven on
        # CPython 3.11, three times the cost of the rest of parse. Every field is set.
        packet = object.__new__(cls)
        (
            set_payload_type,
            set_sequence_number,
            set_timestamp,
            set_ssrc,
            set_payload,
            set_marker,
            set_csrcs,
            set_extensions,
            set_extension_profile,
            set_extension_data,
            set_padding,
        ) = _SLOT_SETTERS
        set_payload_type(packet, second & 0x7F)
        set_sequence_number(packet, sequence_number)
        set_timestamp(packet, timestamp)
        set_ssrc(packet, ssrc)
        set_payload(packet, data[offset : size - padding])
        set_marker(packet, bool(second & 0x80))
        set_csrcs(packet, csrcs)
        set_extensions(packet, extensions)
        set_extension_profile(packet, extension_profile)
        set_extension_data(packet, extension_data)
        set_padding(packet, padding)
        return packet

    def encode(self) -> bytes:
        """The packet's wire bytes.

        Raises :class:`ValueError` when a field cannot be represented (the caller's bug).
        """
        if not 0 <= self.payload_type <= 0x7F:
            raise RtpUsageError(f"payload type {self.payload_type} is not 7 bits")
        if len(self.csrcs) > 15:
            raise RtpUsageError("at most 15 CSRCs fit the 4-bit count")
        if not 0 <= self.padding <= 255:
            raise RtpUsageError("padding must be 0-255 bytes")
        first = 0x80 | len(self.csrcs)
        if self.padding:
            first |= 0x20
        extension = b""
        try:
            if self.extensions or self.extension_profile is not None:
                first |= 0x10
                extension = self._encode_extension()
            header = _HEADER.pack(
                first,
                (0x80 if self.marker else 0) | self.payload_type,
                self.sequence_number,
                self.timestamp,
                self.ssrc,
            )
            if self.csrcs:
                header += struct.pack(f"!{len(self.csrcs)}I", *self.csrcs)
        except struct.error as exc:
            raise RtpUsageError(f"RTP field out of range: {exc}") from None
        if self.padding:
            return b"".join(
                (header, extension, self.payload, bytes(self.padding - 1), bytes([self.padding]))
            )
        return header + extension + self.payload

    def _encode_extension(self) -> bytes:
        profile = self.extension_profile
        if profile is None or is_rfc8285(profile):
            profile, body = build_elements(self.extensions, profile)
        else:
            if self.extensions:
                raise RtpUsageError(f"extension elements need an RFC 8285 profile, not {profile}")
            body = self.extension_data
            if len(body) % 4:
                raise RtpUsageError("header extension data must be a whole number of words")
        return _EXTENSION_HEADER.pack(profile, len(body) // 4) + body


#: The slot descriptors' setters, in field order, for :meth:`RtpPacket.parse`.
_SLOT_SETTERS: tuple[Callable[[RtpPacket, object], None], ...] = tuple(
    getattr(RtpPacket, f.name).__set__ for f in dataclasses.fields(RtpPacket)
)
