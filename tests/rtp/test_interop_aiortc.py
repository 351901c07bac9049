"""RTP and RTCP bytes exchanged with aiortc, an independent Python WebRTC stack.

Each direction is checked: what aiortc builds, we parse to the same fields, and what we
build, aiortc parses to the same fields. aiortc is a test dependency and runs in-process.
"""

import pytest
from aiortc import rtp as theirs
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.rtp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtpPacket,
    SdesChunk,
    SdesItemType,
    SenderReport,
    SourceDescription,
    UnknownRtcpPacket,
    encode_rtcp,
    parse_rtcp,
)

pytestmark = pytest.mark.interop

u32 = st.integers(0, 2**32 - 1)
extension_lists = st.dictionaries(st.integers(1, 255), st.binary(max_size=20), max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    pt=st.integers(0, 127),
    marker=st.booleans(),
    seq=st.integers(0, 0xFFFF),
    ts=u32,
    ssrc=u32,
    csrcs=st.lists(u32, max_size=15),
    payload=st.binary(max_size=200),
    padding=st.integers(0, 255),
    elements=extension_lists,
)
def test_rtp_both_ways(
    pt: int,
    marker: bool,
    seq: int,
    ts: int,
    ssrc: int,
    csrcs: list[int],
    payload: bytes,
    padding: int,
    elements: dict[int, bytes],
) -> None:
    ours = RtpPacket(pt, seq, ts, ssrc, payload, marker, tuple(csrcs), elements, padding=padding)
    wire = ours.encode()

    # aiortc reads our bytes...
    parsed = theirs.RtpPacket.parse(wire)
    assert (parsed.payload_type, bool(parsed.marker)) == (pt, marker)
    assert (parsed.sequence_number, parsed.timestamp, parsed.ssrc) == (seq, ts, ssrc)
    assert parsed.csrc == csrcs
    assert parsed.payload == payload
    assert parsed.padding_size == padding
    if elements:
        profile = int.from_bytes(wire[12 + 4 * len(csrcs) :][:2], "big")
        words = int.from_bytes(wire[14 + 4 * len(csrcs) :][:2], "big")
        start = 16 + 4 * len(csrcs)
        block = wire[start : start + 4 * words]
        assert dict(theirs.unpack_header_extensions(profile, block)) == elements

    # ...and we read theirs, extension block built by aiortc's own packer.
    packet = theirs.RtpPacket(pt, int(marker), seq, ts, ssrc, payload)
    packet.csrc = list(csrcs)
    packet.padding_size = padding
    wire = packet.serialize()
    if elements:
        profile, block = theirs.pack_header_extensions(sorted(elements.items()))
        header_end = 12 + 4 * len(csrcs)
        wire = (
            bytes([wire[0] | 0x10])
            + wire[1:header_end]
            + profile.to_bytes(2, "big")
            + (len(block) // 4).to_bytes(2, "big")
            + block
            + wire[header_end:]
        )
    mine = RtpPacket.parse(wire)
    assert (mine.payload_type, mine.marker, mine.sequence_number) == (pt, marker, seq)
    assert (mine.timestamp, mine.ssrc, mine.csrcs) == (ts, ssrc, tuple(csrcs))
    assert mine.payload == payload
    assert mine.padding == padding
    assert dict(mine.extensions) == elements


def _their_block(block: ReportBlock) -> theirs.RtcpReceiverInfo:
    return theirs.RtcpReceiverInfo(
        ssrc=block.ssrc,
        fraction_lost=block.fraction_lost,
        packets_lost=block.packets_lost,
        highest_sequence=block.highest_sequence,
        jitter=block.jitter,
        lsr=block.lsr,
        dlsr=block.dlsr,
    )


BLOCKS = (
    ReportBlock(0xAAAA, 12, -3, 0x10005, 99, 0x12345678, 6554),
    ReportBlock(0xBBBB, 255, (1 << 23) - 1, 7, 0, 0, 0),
)


def test_rtcp_from_aiortc() -> None:
    sr = theirs.RtcpSrPacket(
        ssrc=1,
        sender_info=theirs.RtcpSenderInfo(
            ntp_timestamp=0xE000000180000000, rtp_timestamp=960, packet_count=3, octet_count=300
        ),
        reports=[_their_block(b) for b in BLOCKS],
    )
    rr = theirs.RtcpRrPacket(ssrc=2, reports=[_their_block(BLOCKS[0])])
    # One chunk, as aiortc sends it: with several chunks aiortc pads only the end of the
    # packet, not each chunk, so its second chunk would start off the 32-bit boundary
    # RFC 3550 §6.5 puts it on (and our parser rightly refuses that).
    sdes = theirs.RtcpSdesPacket(
        chunks=[theirs.RtcpSourceInfo(ssrc=3, items=[(1, b"xyz"), (6, b"aiortc")])]
    )
    pli = theirs.RtcpPsfbPacket(fmt=theirs.RTCP_PSFB_PLI, ssrc=1, media_ssrc=2)
    nack = theirs.RtcpRtpfbPacket(fmt=theirs.RTCP_RTPFB_NACK, ssrc=1, media_ssrc=2, lost=[5, 7])
    bye = theirs.RtcpByePacket(sources=[1, 3])
    wire = b"".join(bytes(p) for p in (sr, rr, sdes, pli, nack, bye))

    packets = parse_rtcp(wire)
    assert packets[0] == SenderReport(1, 0xE000000180000000, 960, 3, 300, BLOCKS)
    assert packets[1] == ReceiverReport(2, BLOCKS[:1])
    assert packets[2] == SourceDescription(
        (SdesChunk(3, ((SdesItemType.CNAME, b"xyz"), (SdesItemType.TOOL, b"aiortc"))),)
    )
    assert isinstance(packets[3], UnknownRtcpPacket)
    assert (packets[3].packet_type, packets[3].count) == (206, 1)
    assert isinstance(packets[4], UnknownRtcpPacket)
    assert (packets[4].packet_type, packets[4].count) == (205, 1)
    assert packets[5] == Bye((1, 3))


@pytest.mark.parametrize("cname", [b"a", b"ab", b"abc", b"abcd", b"abcde"])
def test_aiortc_sdes_padding_variants(cname: bytes) -> None:
    # aiortc always writes two zero bytes after the items, then pads: every item length
    # lands the end differently against the word boundary.
    sdes = theirs.RtcpSdesPacket(chunks=[theirs.RtcpSourceInfo(ssrc=9, items=[(1, cname)])])
    assert parse_rtcp(bytes(sdes)) == [
        SourceDescription((SdesChunk(9, ((SdesItemType.CNAME, cname),)),))
    ]


def test_rtcp_to_aiortc() -> None:
    wire = encode_rtcp(
        [
            SenderReport(1, 0xE000000180000000, 960, 3, 300, BLOCKS),
            ReceiverReport(2, BLOCKS[:1]),
            SourceDescription((SdesChunk(1, ((SdesItemType.CNAME, b"me"),)),)),
            Bye((1,)),
        ]
    )
    sr, rr, sdes, bye = theirs.RtcpPacket.parse(wire)
    assert isinstance(sr, theirs.RtcpSrPacket)
    assert sr.ssrc == 1
    assert sr.sender_info.ntp_timestamp == 0xE000000180000000
    assert (sr.sender_info.packet_count, sr.sender_info.octet_count) == (3, 300)
    assert [r.packets_lost for r in sr.reports] == [b.packets_lost for b in BLOCKS]
    assert [r.lsr for r in sr.reports] == [b.lsr for b in BLOCKS]
    assert isinstance(rr, theirs.RtcpRrPacket)
    assert rr.reports[0].highest_sequence == 0x10005
    assert isinstance(sdes, theirs.RtcpSdesPacket)
    assert sdes.chunks[0].items == [(1, b"me")]
    assert isinstance(bye, theirs.RtcpByePacket)
    assert bye.sources == [1]
