"""Tests of the RTP packet (RFC 3550 §5.1, §5.3.1) and the RTP/RTCP demux (RFC 5761 §4)."""

import contextlib
import dataclasses
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.rtp.errors import RtpError, RtpParseError
from voice.rtp.extensions import ONE_BYTE_PROFILE, TWO_BYTE_PROFILE
from voice.rtp.packet import RtpPacket, is_rtcp

# An Opus packet as a browser sends it: version 2, marker, payload type 111, sequence 0x1234,
# timestamp 0x00012C00, SSRC 0xDEADBEEF, a one-byte-form extension with audio level (id 1)
# and transport-wide sequence number (id 3), then a 3-byte payload.
WIRE = bytes.fromhex(
    "90ef1234 00012c00 deadbeef"  # V=2 X=1, M=1 PT=111, seq, ts, ssrc
    "bede0002 10a53100 07000000"  # 0xBEDE, 2 words: id 1 len 1, id 3 len 2, padding
    "fcff01".replace(" ", "")
)


def test_parse_browser_style_packet() -> None:
    packet = RtpPacket.parse(WIRE)
    assert packet.payload_type == 111
    assert packet.marker is True
    assert packet.sequence_number == 0x1234
    assert packet.timestamp == 0x00012C00
    assert packet.ssrc == 0xDEADBEEF
    assert packet.csrcs == ()
    assert packet.extension_profile == ONE_BYTE_PROFILE
    assert packet.extensions == {1: b"\xa5", 3: b"\x00\x07"}
    assert packet.payload == b"\xfc\xff\x01"
    assert packet.padding == 0
    assert packet.encode() == WIRE


def test_minimal_packet_bytes() -> None:
    packet = RtpPacket(payload_type=0, sequence_number=1, timestamp=2, ssrc=3, payload=b"x")
    assert packet.encode() == bytes.fromhex("80000001 00000002 00000003 78".replace(" ", ""))


def test_csrcs_and_padding() -> None:
    wire = (
        struct.pack("!BBHII", 0xA2, 96, 7, 8, 9)  # V=2 P=1 CC=2
        + struct.pack("!II", 0x11111111, 0x22222222)
        + b"payload"
        + b"\x00\x00\x03"  # 3 bytes of padding, the count included
    )
    packet = RtpPacket.parse(wire)
    assert packet.csrcs == (0x11111111, 0x22222222)
    assert packet.payload == b"payload"
    assert packet.padding == 3
    assert packet.encode() == wire


def test_padding_bytes_need_not_be_zero() -> None:
    wire = struct.pack("!BBHII", 0xA0, 96, 7, 8, 9) + b"ab" + b"\xee\x02"
    assert RtpPacket.parse(wire).payload == b"ab"


def test_other_extension_profiles_are_kept_raw() -> None:
    wire = struct.pack("!BBHIIHH", 0x90, 96, 1, 2, 3, 0xABAC, 1) + b"\x01\x02\x03\x04" + b"p"
    packet = RtpPacket.parse(wire)
    assert packet.extension_profile == 0xABAC
    assert packet.extension_data == b"\x01\x02\x03\x04"
    assert packet.extensions == {}
    assert packet.encode() == wire


def test_two_byte_form_and_empty_block() -> None:
    packet = RtpPacket(96, 1, 2, 3, b"p", extensions={20: b"long-id", 1: b""})
    wire = packet.encode()
    assert struct.unpack_from("!H", wire, 12)[0] == TWO_BYTE_PROFILE
    assert RtpPacket.parse(wire).extensions == {20: b"long-id", 1: b""}
    # An extension header with no elements is still written when its profile is given.
    empty = RtpPacket(96, 1, 2, 3, b"p", extension_profile=ONE_BYTE_PROFILE).encode()
    assert empty[0] & 0x10
    assert empty[12:16] == b"\xbe\xde\x00\x00"
    assert RtpPacket.parse(empty).extensions == {}


def test_round_trip_keeps_equality_and_hash() -> None:
    packet = RtpPacket(
        111,
        65535,
        2**32 - 1,
        1,
        b"data",
        marker=True,
        csrcs=(5,),
        extensions={2: b"v"},
        extension_profile=ONE_BYTE_PROFILE,
        padding=4,
    )
    parsed = RtpPacket.parse(packet.encode())
    assert parsed == packet
    assert hash(parsed) == hash(packet)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.payload = b""  # type: ignore[misc]


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (b"", "shorter"),
        (bytes.fromhex("8000000100000002000000"), "shorter"),  # 11 bytes
        (bytes.fromhex("4000000100000002 00000003".replace(" ", "")), "version"),
        (bytes.fromhex("c000000100000002 00000003".replace(" ", "")), "version"),
        (bytes.fromhex("8200000100000002 00000003 00000004".replace(" ", "")), "CSRC"),
        (bytes.fromhex("9000000100000002 00000003 bede".replace(" ", "")), "extension"),
        (bytes.fromhex("9000000100000002 00000003 bede0001".replace(" ", "")), "extension"),
        (bytes.fromhex("a000000100000002 00000003".replace(" ", "")), "padding"),
        (bytes.fromhex("a000000100000002 00000003 0000".replace(" ", "")), "padding"),
        (bytes.fromhex("a000000100000002 00000003 0003".replace(" ", "")), "padding"),
        (bytes.fromhex("9000000100000002 00000003 bede0001 13010203".replace(" ", "")), "past"),
    ],
)
def test_malformed_packets(wire: bytes, why: str) -> None:
    with pytest.raises(RtpParseError, match=why) as info:
        RtpPacket.parse(wire)
    assert isinstance(info.value, RtpError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"payload_type": 128}, "7 bits"),
        ({"payload_type": -1}, "7 bits"),
        ({"csrcs": tuple(range(16))}, "15 CSRCs"),
        ({"padding": 256}, "padding"),
        ({"sequence_number": 65536}, "out of range"),
        ({"timestamp": 2**32}, "out of range"),
        ({"ssrc": -1}, "out of range"),
        ({"csrcs": (2**32,)}, "out of range"),
        ({"extension_profile": 0xABAC, "extension_data": b"abc"}, "whole number"),
        ({"extension_profile": 0xABAC, "extensions": {1: b"x"}}, "RFC 8285"),
        ({"extension_profile": 0x10000, "extension_data": b""}, "out of range"),
        ({"extensions": {0: b"x"}}, "two-byte"),
    ],
)
def test_encoding_impossible_values_is_a_value_error(
    changes: dict[str, object], match: str
) -> None:
    packet = dataclasses.replace(RtpPacket(96, 1, 2, 3, b"p"), **changes)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        packet.encode()


@st.composite
def packets(draw: st.DrawFn) -> RtpPacket:
    extensions = draw(st.dictionaries(st.integers(1, 255), st.binary(max_size=20), max_size=5))
    return RtpPacket(
        payload_type=draw(st.integers(0, 127)),
        sequence_number=draw(st.integers(0, 0xFFFF)),
        timestamp=draw(st.integers(0, 2**32 - 1)),
        ssrc=draw(st.integers(0, 2**32 - 1)),
        payload=draw(st.binary(max_size=200)),
        marker=draw(st.booleans()),
        csrcs=tuple(draw(st.lists(st.integers(0, 2**32 - 1), max_size=15))),
        extensions=extensions,
        padding=draw(st.integers(0, 255)),
    )


@settings(max_examples=500, deadline=None)
@given(packet=packets())
def test_round_trip_of_any_packet(packet: RtpPacket) -> None:
    wire = packet.encode()
    parsed = RtpPacket.parse(wire)
    # The parser reports the extension form it saw, which encode chose.
    expected_profile = wire[12 + 4 * len(packet.csrcs) :][:2] if packet.extensions else None
    assert parsed.extension_profile == (
        int.from_bytes(expected_profile, "big") if expected_profile else None
    )
    assert dataclasses.replace(parsed, extension_profile=None) == packet
    assert parsed.encode() == wire


@settings(max_examples=3000, deadline=None)
@given(data=st.binary(max_size=120))
def test_garbage_only_raises_parse_error(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except RtpParseError:
        return
    assert len(packet.payload) <= len(data) - 12


@settings(max_examples=800, deadline=None)
@given(
    packet=packets(),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 255)), max_size=3),
    cut=st.integers(0, 30),
)
def test_damaged_packets_only_raise_parse_error(
    packet: RtpPacket, flips: list[tuple[int, int]], cut: int
) -> None:
    wire = bytearray(packet.encode())
    for at, mask in flips:
        wire[at % len(wire)] ^= mask
    with contextlib.suppress(RtpParseError):
        RtpPacket.parse(bytes(wire[: max(0, len(wire) - cut)]))


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (111, False),  # Opus, no marker
        (111 | 0x80, False),  # Opus with the marker: 239, above the RTCP range
        (0, False),
        (191, False),  # PT 63 with the marker
        (192, True),  # FIR (historic), the bottom of the range
        (200, True),  # SR
        (201, True),  # RR
        (205, True),  # RTPFB
        (206, True),  # PSFB
        (207, True),  # XR
        (223, True),  # the top of the range: PT 95 with the marker
        (224, False),  # PT 96 with the marker
    ],
)
def test_is_rtcp_by_second_byte(second: int, expected: bool) -> None:
    assert is_rtcp(bytes([0x80, second, 0, 1])) is expected


def test_is_rtcp_on_short_data() -> None:
    assert not is_rtcp(b"")
    assert not is_rtcp(b"\x80")
