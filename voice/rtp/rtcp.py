"""RTCP packets (RFC 3550 §6.4-§6.6): sender and receiver reports, source descriptions, BYE.

RTCP travels as *compound* packets: several RTCP packets back to back in one datagram,
each with its own 4-byte header giving its type and its length in 32-bit words minus one.
:func:`parse_rtcp` walks the whole datagram and returns every packet in it;
:func:`encode_rtcp` is its inverse.

Browsers also send packet types this module does not interpret: transport and
payload-specific feedback (RTPFB 205, PSFB 206: NACK, PLI, transport-wide congestion
control), extended reports (XR 207) and APP (204). Their common header is checked like any
other and they come back as :class:`UnknownRtcpPacket`, so one of them never costs the
reports around it. The first packet need not be SR or RR: peers that negotiated
reduced-size RTCP (``a=rtcp-rsize``) send lone feedback packets.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from voice.buffer import Buffer, BufferReadError, Writer
from voice.rtp.errors import RtpParseError, RtpUsageError

RTCP_HEADER_LENGTH = 4
_REPORT_BLOCK_LENGTH = 24
_MAX_COUNT = 31  # the 5-bit RC / SC field


class RtcpPacketType(enum.IntEnum):
    """RTCP packet types (IANA "RTP Control Protocol (RTCP) Control Packet Types")."""

    SR = 200
    RR = 201
    SDES = 202
    BYE = 203
    APP = 204
    RTPFB = 205
    PSFB = 206
    XR = 207


class SdesItemType(enum.IntEnum):
    """SDES item types (RFC 3550 §6.5)."""

    END = 0
    CNAME = 1
    NAME = 2
    EMAIL = 3
    PHONE = 4
    LOC = 5
    TOOL = 6
    NOTE = 7
    PRIV = 8


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """What one receiver tells one sender about its stream (RFC 3550 §6.4.1).

    ``fraction_lost`` is an 8-bit fixed-point fraction (lost / expected * 256) over the
    last interval; ``packets_lost`` the signed cumulative count; ``highest_sequence`` the
    extended highest sequence number (cycles in the top 16 bits); ``jitter`` in RTP
    timestamp units; ``lsr`` the middle 32 bits of the NTP timestamp of the last SR from
    that sender and ``dlsr`` the time since, in 1/65536 s (both 0 when no SR came yet).
    """

    ssrc: int
    fraction_lost: int = 0
    packets_lost: int = 0
    highest_sequence: int = 0
    jitter: int = 0
    lsr: int = 0
    dlsr: int = 0


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR (RFC 3550 §6.4.1): what a sender sent, stamped with wall-clock and RTP time."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""  # profile-specific extension, kept as bytes

    def encode(self) -> bytes:
        w = Writer()
        w.push_uint32(self.ssrc)
        w.push_uint64(self.ntp_timestamp)
        w.push_uint32(self.rtp_timestamp)
        w.push_uint32(self.packet_count)
        w.push_uint32(self.octet_count)
        _push_reports(w, self.reports)
        w.push_bytes(self.extension)
        return _packet(RtcpPacketType.SR, len(self.reports), w.getvalue())


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR (RFC 3550 §6.4.2): reception reports from a participant that is not sending."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def encode(self) -> bytes:
        w = Writer()
        w.push_uint32(self.ssrc)
        _push_reports(w, self.reports)
        w.push_bytes(self.extension)
        return _packet(RtcpPacketType.RR, len(self.reports), w.getvalue())


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """The items describing one source. Item values are bytes (UTF-8 text by the RFC, but
    a peer's bytes are kept as sent rather than decoded and possibly refused)."""

    ssrc: int
    items: tuple[tuple[int, bytes], ...] = ()

    def get(self, item_type: SdesItemType) -> bytes | None:
        for kind, value in self.items:
            if kind == item_type:
                return value
        return None


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """SDES (RFC 3550 §6.5): at least the CNAME of each source in a compound packet."""

    chunks: tuple[SdesChunk, ...]

    def encode(self) -> bytes:
        w = Writer()
        for chunk in self.chunks:
            start = len(w)
            w.push_uint32(chunk.ssrc)
            for kind, value in chunk.items:
                if not 1 <= kind <= 255 or len(value) > 255:
                    raise RtpUsageError(f"SDES item {kind} of {len(value)} bytes cannot be sent")
                w.push_uint8(kind)
                w.push_vector(1, value)
            # RFC 3550 §6.5: the item list ends with at least one zero byte, and zeros
            # fill the chunk to a 32-bit boundary.
            w.push_bytes(bytes(4 - (len(w) - start) % 4))
        return _packet(RtcpPacketType.SDES, len(self.chunks), w.getvalue())


@dataclass(frozen=True, slots=True)
class Bye:
    """BYE (RFC 3550 §6.6): these sources are leaving, optionally saying why."""

    sources: tuple[int, ...]
    reason: bytes = b""

    def encode(self) -> bytes:
        w = Writer()
        for ssrc in self.sources:
            w.push_uint32(ssrc)
        if self.reason:
            if len(self.reason) > 255:
                raise RtpUsageError("a BYE reason is at most 255 bytes")
            w.push_vector(1, self.reason)
            w.push_bytes(bytes(-len(w) % 4))
        return _packet(RtcpPacketType.BYE, len(self.sources), w.getvalue())


@dataclass(frozen=True, slots=True)
class UnknownRtcpPacket:
    """An RTCP packet of a type not interpreted here (feedback, XR, APP, ...).

    ``count`` is the 5-bit field after the padding bit (the FMT of feedback packets) and
    ``body`` everything after the 4-byte header, padding removed.
    """

    packet_type: int
    count: int
    body: bytes

    def encode(self) -> bytes:
        return _packet(self.packet_type, self.count, self.body)


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | UnknownRtcpPacket


def _packet(packet_type: int, count: int, body: bytes) -> bytes:
    """Prefixes ``body`` with the common RTCP header (RFC 3550 §6.4.1)."""
    if count > _MAX_COUNT:
        raise RtpUsageError(f"{count} items do not fit the 5-bit count; split the packet")
    if len(body) % 4:
        raise RtpUsageError("an RTCP packet is a whole number of 32-bit words")
    words = len(body) // 4  # length field: packet length in words, minus the header word
    return bytes((0x80 | count, packet_type, words >> 8, words & 0xFF)) + body


def _push_reports(w: Writer, reports: tuple[ReportBlock, ...]) -> None:
    for block in reports:
        w.push_uint32(block.ssrc)
        w.push_uint8(block.fraction_lost)
        # RFC 3550 §6.4.1: the cumulative loss is a signed 24-bit number.
        if not -(1 << 23) <= block.packets_lost < 1 << 23:
            raise RtpUsageError("packets_lost must fit a signed 24-bit field")
        w.push_uint24(block.packets_lost & 0xFFFFFF)
        w.push_uint32(block.highest_sequence)
        w.push_uint32(block.jitter)
        w.push_uint32(block.lsr)
        w.push_uint32(block.dlsr)


def encode_rtcp(packets: Iterable[RtcpPacket]) -> bytes:
    """Concatenates RTCP packets into one compound packet (RFC 3550 §6.1)."""
    return b"".join(packet.encode() for packet in packets)


def _pull_reports(buf: Buffer, count: int) -> tuple[ReportBlock, ...]:
    blocks = []
    for _ in range(count):
        ssrc = buf.pull_uint32()
        fraction_lost = buf.pull_uint8()
        lost = buf.pull_uint24()
        if lost & 0x800000:
            lost -= 1 << 24
        blocks.append(
            ReportBlock(
                ssrc=ssrc,
                fraction_lost=fraction_lost,
                packets_lost=lost,
                highest_sequence=buf.pull_uint32(),
                jitter=buf.pull_uint32(),
                lsr=buf.pull_uint32(),
                dlsr=buf.pull_uint32(),
            )
        )
    return tuple(blocks)


def _parse_sdes(buf: Buffer, count: int) -> SourceDescription:
    chunks = []
    for _ in range(count):
        start = buf.tell()
        ssrc = buf.pull_uint32()
        items = []
        while True:
            kind = buf.pull_uint8()
            if kind == SdesItemType.END:
                break
            items.append((kind, buf.pull_vector(1)))
        # The zero that ended the list, then up to three more to the word boundary.
        buf.skip(-(buf.tell() - start) % 4)
        chunks.append(SdesChunk(ssrc, tuple(items)))
    # Some stacks end every chunk with two zero bytes before padding, which leaves a
    # whole zero word after the last chunk when the items end just short of a boundary.
    # Zeros there carry nothing and are tolerated; anything else is an error.
    if buf.pull_rest().strip(b"\0"):
        raise RtpParseError("SDES packet has bytes after its last chunk")
    return SourceDescription(tuple(chunks))


def _parse_bye(buf: Buffer, count: int) -> Bye:
    sources = tuple(buf.pull_uint32() for _ in range(count))
    reason = b""
    if not buf.eof():
        reason = buf.pull_vector(1)
        # RFC 3550 §6.6: zeros fill the reason to a word boundary, never a whole word.
        if buf.remaining >= 4:
            raise RtpParseError("BYE packet has bytes after its reason")
        buf.skip(buf.remaining)
    return Bye(sources, reason)


def _parse_one(packet_type: int, count: int, buf: Buffer) -> RtcpPacket:
    if packet_type == RtcpPacketType.SR:
        ssrc = buf.pull_uint32()
        ntp, rtp_ts = buf.pull_uint64(), buf.pull_uint32()
        packets, octets = buf.pull_uint32(), buf.pull_uint32()
        reports = _pull_reports(buf, count)
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, reports, buf.pull_rest())
    if packet_type == RtcpPacketType.RR:
        ssrc = buf.pull_uint32()
        reports = _pull_reports(buf, count)
        return ReceiverReport(ssrc, reports, buf.pull_rest())
    if packet_type == RtcpPacketType.SDES:
        return _parse_sdes(buf, count)
    if packet_type == RtcpPacketType.BYE:
        return _parse_bye(buf, count)
    return UnknownRtcpPacket(packet_type, count, buf.pull_rest())


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Every packet of one compound RTCP packet, in order.

    Raises :class:`RtpParseError` (and nothing else) when the datagram is empty, a packet
    is not version 2, a length field runs past the datagram or past what the packet's
    count needs, a packet other than the last is padded, or the padding count is wrong.
    """
    if not data:
        raise RtpParseError("empty RTCP packet")
    packets: list[RtcpPacket] = []
    buf = Buffer(data)
    try:
        while not buf.eof():
            first = buf.pull_uint8()
            packet_type = buf.pull_uint8()
            length = 4 * buf.pull_uint16()
            if first >> 6 != 2:
                raise RtpParseError(f"RTCP version {first >> 6}, expected 2")
            if length > buf.remaining:
                raise RtpParseError("RTCP length field runs past the end of the datagram")
            if not 192 <= packet_type <= 223:
                # RFC 5761 §4: outside this range the bytes would be RTP, not RTCP.
                raise RtpParseError(f"{packet_type} is not an RTCP packet type")
            end = buf.tell() + length
            if first & 0x20:
                # RFC 3550 §6.4.1: only the last packet of a compound may be padded; its
                # last byte counts the padding, itself included.
                if end != len(data):
                    raise RtpParseError("padding on an RTCP packet that is not the last")
                padding = data[end - 1] if length else 0
                if padding == 0 or padding > length:
                    raise RtpParseError(f"RTCP padding count {padding} does not fit")
                body = buf.sub_buffer(length - padding)
                buf.skip(padding)
            else:
                body = buf.sub_buffer(length)
            packet = _parse_one(packet_type, first & 0x1F, body)
            if not body.eof():
                raise RtpParseError("RTCP packet longer than its contents")
            packets.append(packet)
    except BufferReadError as exc:
        raise RtpParseError(f"RTCP packet too short: {exc}") from None
    return packets
