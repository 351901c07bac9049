"""Telling STUN, DTLS and RTP apart on one UDP port by the first byte (RFC 7983).

WebRTC multiplexes every protocol of a call on a single 5-tuple. RFC 7983 §7 assigns each
protocol a range of values for the first byte of a datagram, so a receiver can route a
packet before parsing it. Both the relay and the transceiver call :func:`classify` on every
datagram they receive.
"""

from __future__ import annotations

import enum


class PacketKind(enum.Enum):
    STUN = "stun"
    ZRTP = "zrtp"
    DTLS = "dtls"
    TURN_CHANNEL = "turn-channel"
    RTP = "rtp"  # RTP or RTCP; RFC 5761 §4 tells them apart by the payload type
    UNKNOWN = "unknown"


def _table() -> tuple[PacketKind, ...]:
    # RFC 7983 §7: the first-byte ranges, 0-3 STUN, 16-19 ZRTP, 20-63 DTLS,
    # 64-79 TURN channel data, 128-191 RTP/RTCP; anything else is dropped.
    kinds = [PacketKind.UNKNOWN] * 256
    for first, last, kind in (
        (0, 3, PacketKind.STUN),
        (16, 19, PacketKind.ZRTP),
        (20, 63, PacketKind.DTLS),
        (64, 79, PacketKind.TURN_CHANNEL),
        (128, 191, PacketKind.RTP),
    ):
        for byte in range(first, last + 1):
            kinds[byte] = kind
    return tuple(kinds)


_KIND_BY_FIRST_BYTE = _table()


def classify(data: bytes) -> PacketKind:
    """Returns which protocol a datagram belongs to, by its first byte (RFC 7983 §7).

    >>> classify(bytes([0x00, 0x01])), classify(bytes([22, 0xFE, 0xFD])), classify(bytes([0x80]))
    (<PacketKind.STUN: 'stun'>, <PacketKind.DTLS: 'dtls'>, <PacketKind.RTP: 'rtp'>)
    """
    if not data:
        return PacketKind.UNKNOWN
    return _KIND_BY_FIRST_BYTE[data[0]]
