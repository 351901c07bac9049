"""Tests of RTCP packets and compound packets (RFC 3550 §6.1, §6.4-§6.6)."""

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.rtp.errors import RtpParseError
from voice.rtp.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    RtcpPacketType,
    SdesChunk,
    SdesItemType,
    SenderReport,
    SourceDescription,
    UnknownRtcpPacket,
    encode_rtcp,
    parse_rtcp,
)

BLOCK = ReportBlock(
    ssrc=0x01020304,
    fraction_lost=0x40,
    packets_lost=-2,
    highest_sequence=0x0001FFFF,
    jitter=123,
    lsr=0xAABBCCDD,
    dlsr=0x00010000,
)
BLOCK_WIRE = bytes.fromhex("01020304 40fffffe 0001ffff 0000007b aabbccdd 00010000".replace(" ", ""))


def test_sender_report_bytes() -> None:
    sr = SenderReport(
        ssrc=0x11223344,
        ntp_timestamp=0xE1234567_89ABCDEF,
        rtp_timestamp=48000,
        packet_count=50,
        octet_count=5000,
        reports=(BLOCK,),
    )
    wire = sr.encode()
    # V=2 RC=1, PT=200, length = 13 words after the header (6 + 6 * 1 + 1 ... minus one).
    assert wire[:4] == bytes.fromhex("81c8000c")
    assert wire[4:28] == bytes.fromhex(
        "11223344 e1234567 89abcdef 0000bb80 00000032 00001388".replace(" ", "")
    )
    assert wire[28:] == BLOCK_WIRE
    assert parse_rtcp(wire) == [sr]


def test_receiver_report_with_profile_extension() -> None:
    rr = ReceiverReport(ssrc=7, reports=(BLOCK, BLOCK), extension=b"\x01\x02\x03\x04")
    wire = rr.encode()
    assert wire[:4] == bytes.fromhex("82c9000e")
    assert parse_rtcp(wire) == [rr]


def test_report_block_loss_is_signed_24_bits() -> None:
    for lost in (-(1 << 23), -1, 0, 1, (1 << 23) - 1):
        rr = ReceiverReport(1, (ReportBlock(ssrc=2, packets_lost=lost),))
        assert parse_rtcp(rr.encode()) == [rr]
    with pytest.raises(ValueError, match="24-bit"):
        ReceiverReport(1, (ReportBlock(ssrc=2, packets_lost=1 << 23),)).encode()


def test_sdes_cname_bytes() -> None:
    sdes = SourceDescription((SdesChunk(0x11223344, ((SdesItemType.CNAME, b"abcd"),)),))
    wire = sdes.encode()
    # SSRC, CNAME item (type 1, length 4, "abcd"), end of list, padding to the word.
    assert wire == bytes.fromhex("81ca0003 11223344 01046162 63640000".replace(" ", ""))
    [parsed] = parse_rtcp(wire)
    assert parsed == sdes
    assert isinstance(parsed, SourceDescription)
    assert parsed.chunks[0].get(SdesItemType.CNAME) == b"abcd"
    assert parsed.chunks[0].get(SdesItemType.TOOL) is None


def test_sdes_chunk_ending_on_a_boundary_gets_a_whole_zero_word() -> None:
    # SSRC (4) + item header (2) + 2 bytes = 8: the end-of-list byte needs a new word.
    sdes = SourceDescription((SdesChunk(5, ((SdesItemType.NAME, b"ab"),)), SdesChunk(6)))
    wire = sdes.encode()
    assert wire[4:16] == bytes.fromhex("00000005 02026162 00000000".replace(" ", ""))
    assert wire[16:] == bytes.fromhex("00000006 00000000".replace(" ", ""))
    assert parse_rtcp(wire) == [sdes]


def test_sdes_tolerates_trailing_zero_words() -> None:
    # aiortc ends each chunk with two zero bytes before padding, which can leave a spare
    # zero word after the last chunk.
    body = bytes.fromhex("00000005 0101 61 00 00000000".replace(" ", ""))
    wire = struct.pack("!BBH", 0x81, 202, len(body) // 4) + body
    assert parse_rtcp(wire) == [SourceDescription((SdesChunk(5, ((1, b"a"),)),))]


def test_bye_with_and_without_reason() -> None:
    assert Bye((1, 2)).encode() == bytes.fromhex("82cb0002 00000001 00000002".replace(" ", ""))
    bye = Bye((1,), b"done")
    wire = bye.encode()
    assert wire == bytes.fromhex("81cb0003 00000001 04646f6e 65000000".replace(" ", ""))
    assert parse_rtcp(wire) == [bye]
    assert parse_rtcp(Bye(()).encode()) == [Bye(())]


def test_unknown_types_are_kept_with_their_header() -> None:
    # A picture loss indication (PSFB, FMT 1) and a generic NACK (RTPFB, FMT 1), as a
    # browser might send them between reports, and an XR block.
    pli = UnknownRtcpPacket(RtcpPacketType.PSFB, 1, struct.pack("!II", 1, 2))
    nack = UnknownRtcpPacket(RtcpPacketType.RTPFB, 1, struct.pack("!IIHH", 1, 2, 100, 0))
    xr = UnknownRtcpPacket(RtcpPacketType.XR, 0, struct.pack("!I", 1))
    rr = ReceiverReport(1)
    packets: list[RtcpPacket] = [rr, pli, nack, xr]
    assert parse_rtcp(encode_rtcp(packets)) == packets
    # Reduced-size RTCP: a lone feedback packet is accepted too.
    assert parse_rtcp(pli.encode()) == [pli]


def test_compound_in_order() -> None:
    packets: list[RtcpPacket] = [
        SenderReport(1, 2, 3, 4, 5),
        SourceDescription((SdesChunk(1, ((SdesItemType.CNAME, b"x"),)),)),
        Bye((1,)),
    ]
    assert parse_rtcp(encode_rtcp(packets)) == packets


def test_padding_on_the_last_packet() -> None:
    rr = ReceiverReport(9)
    padded = struct.pack("!BBHI", 0xA0, 201, 2, 9) + b"\x00\x00\x00\x04"
    assert parse_rtcp(padded) == [rr]
    assert parse_rtcp(rr.encode() + padded) == [rr, rr]
    with pytest.raises(RtpParseError, match="not the last"):
        parse_rtcp(padded + rr.encode())


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (b"", "empty"),
        (b"\x81\xc9\x00", "too short"),
        (bytes.fromhex("41c90001 00000001"), "version"),
        (bytes.fromhex("80c90002 00000001"), "past the end"),
        (bytes.fromhex("80640001 00000001"), "not an RTCP packet type"),
        (bytes.fromhex("81c90001 00000001"), "too short"),  # RC=1 but no block
        (bytes.fromhex("80c80001 00000001"), "too short"),  # SR without sender info
        (bytes.fromhex("a0c90001 00000000"), "padding count 0"),
        (bytes.fromhex("a0c90001 00000009"), "padding count 9"),
        (bytes.fromhex("a0c90000"), "padding count 0"),
        (bytes.fromhex("81ca0002 00000001 01056162"), "too short"),  # item past the end
        (bytes.fromhex("81ca0002 00000001 01026162"), "too short"),  # no end of list
        (bytes.fromhex("81ca0003 00000001 01016100 01000000"), "after its last chunk"),
        (bytes.fromhex("81cb0003 00000001 01610000 00000000"), "after its reason"),
        (bytes.fromhex("81cb0002 00000001 05616263"), "too short"),  # reason past the end
        (bytes.fromhex("80c90001 00000001 80"), "too short"),  # a stray byte after
    ],
)
def test_malformed_compounds(wire: bytes, why: str) -> None:
    with pytest.raises(RtpParseError, match=why):
        parse_rtcp(wire)


def test_encoding_impossible_values_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="5-bit"):
        ReceiverReport(1, (BLOCK,) * 32).encode()
    with pytest.raises(ValueError, match="5-bit"):
        Bye(tuple(range(32))).encode()
    with pytest.raises(ValueError, match="SDES item"):
        SourceDescription((SdesChunk(1, ((1, bytes(256)),)),)).encode()
    with pytest.raises(ValueError, match="SDES item"):
        SourceDescription((SdesChunk(1, ((0, b"x"),)),)).encode()
    with pytest.raises(ValueError, match="255"):
        Bye((1,), bytes(256)).encode()
    with pytest.raises(ValueError, match="whole number"):
        ReceiverReport(1, extension=b"abc").encode()
    with pytest.raises(ValueError, match="whole number"):
        UnknownRtcpPacket(205, 1, b"abc").encode()


u32 = st.integers(0, 2**32 - 1)
blocks = st.builds(
    ReportBlock,
    ssrc=u32,
    fraction_lost=st.integers(0, 255),
    packets_lost=st.integers(-(1 << 23), (1 << 23) - 1),
    highest_sequence=u32,
    jitter=u32,
    lsr=u32,
    dlsr=u32,
)
words = st.binary(max_size=16).map(lambda b: b + bytes(-len(b) % 4))
rtcp_packets: st.SearchStrategy[RtcpPacket] = st.one_of(
    st.builds(
        SenderReport,
        ssrc=u32,
        ntp_timestamp=st.integers(0, 2**64 - 1),
        rtp_timestamp=u32,
        packet_count=u32,
        octet_count=u32,
        reports=st.lists(blocks, max_size=3).map(tuple),
        extension=words,
    ),
    st.builds(ReceiverReport, ssrc=u32, reports=st.lists(blocks, max_size=3).map(tuple)),
    st.builds(
        SourceDescription,
        chunks=st.lists(
            st.builds(
                SdesChunk,
                ssrc=u32,
                items=st.lists(
                    st.tuples(st.integers(1, 255), st.binary(max_size=20)), max_size=3
                ).map(tuple),
            ),
            max_size=3,
        ).map(tuple),
    ),
    st.builds(Bye, sources=st.lists(u32, max_size=3).map(tuple), reason=st.binary(max_size=20)),
    st.builds(
        UnknownRtcpPacket,
        packet_type=st.sampled_from([204, 205, 206, 207, 192, 223]),
        count=st.integers(0, 31),
        body=words,
    ),
)


@settings(max_examples=300, deadline=None)
@given(packets=st.lists(rtcp_packets, min_size=1, max_size=4))
def test_round_trip_of_any_compound(packets: list[RtcpPacket]) -> None:
    assert parse_rtcp(encode_rtcp(packets)) == packets


@settings(max_examples=3000, deadline=None)
@given(data=st.binary(max_size=120))
def test_garbage_only_raises_parse_error(data: bytes) -> None:
    with contextlib.suppress(RtpParseError):
        parse_rtcp(data)


@settings(max_examples=500, deadline=None)
@given(
    packets=st.lists(rtcp_packets, min_size=1, max_size=3),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 255)), max_size=3),
    cut=st.integers(0, 12),
)
def test_damaged_compounds_only_raise_parse_error(
    packets: list[RtcpPacket], flips: list[tuple[int, int]], cut: int
) -> None:
    wire = bytearray(encode_rtcp(packets))
    for at, mask in flips:
        wire[at % len(wire)] ^= mask
    with contextlib.suppress(RtpParseError):
        parse_rtcp(bytes(wire[: max(0, len(wire) - cut)]))
