"""Tests of the RFC 7983 first-byte demultiplexer."""

import pytest

from voice.stun.demux import PacketKind, classify


@pytest.mark.parametrize(
    ("first", "kind"),
    [
        (0, PacketKind.STUN),
        (3, PacketKind.STUN),
        (4, PacketKind.UNKNOWN),
        (16, PacketKind.ZRTP),
        (20, PacketKind.DTLS),
        (22, PacketKind.DTLS),  # a DTLS handshake record
        (63, PacketKind.DTLS),
        (64, PacketKind.TURN_CHANNEL),
        (79, PacketKind.TURN_CHANNEL),
        (80, PacketKind.UNKNOWN),
        (127, PacketKind.UNKNOWN),
        (128, PacketKind.RTP),
        (0x80, PacketKind.RTP),  # RTP version 2, no padding, no extension, no CSRC
        (191, PacketKind.RTP),
        (192, PacketKind.UNKNOWN),
        (255, PacketKind.UNKNOWN),
    ],
)
def test_first_byte_ranges(first: int, kind: PacketKind) -> None:
    assert classify(bytes([first, 0, 0, 0])) is kind


def test_empty_datagram_is_unknown() -> None:
    assert classify(b"") is PacketKind.UNKNOWN
