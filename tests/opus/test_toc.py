"""Tests of the Opus packet framing: the TOC byte, codes 0-3, and the malformed-packet rules.

Besides hand-made packets, two independent checks: packets produced by libopus (through
PyAV) parse as libopus framed them, and for arbitrary bytes our verdict (valid, how many
samples) agrees with libopus' own packet parser, reached by decoding.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import av
import pytest
from av import AudioFrame, CodecContext, Packet
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.opus.errors import OpusParseError
from voice.opus.toc import (
    CONFIGS,
    MAX_PACKET_SAMPLES,
    Bandwidth,
    Mode,
    build_packet,
    config_for,
    parse_packet,
    toc_byte,
)


def test_config_table() -> None:
    # RFC 6716 §3.1, Table 2: a few configurations from each group.
    assert CONFIGS[0] == (Mode.SILK, Bandwidth.NARROWBAND, 480)
    assert CONFIGS[3] == (Mode.SILK, Bandwidth.NARROWBAND, 2880)
    assert CONFIGS[9] == (Mode.SILK, Bandwidth.WIDEBAND, 960)
    assert CONFIGS[12] == (Mode.HYBRID, Bandwidth.SUPERWIDEBAND, 480)
    assert CONFIGS[15] == (Mode.HYBRID, Bandwidth.FULLBAND, 960)
    assert CONFIGS[16] == (Mode.CELT, Bandwidth.NARROWBAND, 120)
    assert CONFIGS[20] == (Mode.CELT, Bandwidth.WIDEBAND, 120)
    assert CONFIGS[31] == (Mode.CELT, Bandwidth.FULLBAND, 960)
    assert config_for(Mode.HYBRID, Bandwidth.FULLBAND, 960) == 15
    with pytest.raises(ValueError):
        config_for(Mode.HYBRID, Bandwidth.FULLBAND, 1920)


def test_toc_fields() -> None:
    info = parse_packet(bytes([toc_byte(15, stereo=True, code=0)]) + b"abc")
    assert (info.config, info.stereo, info.code) == (15, True, 0)
    assert info.mode is Mode.HYBRID
    assert info.bandwidth is Bandwidth.FULLBAND
    assert info.frame_samples == 960
    assert info.frame_duration == pytest.approx(0.020)
    assert info.frame_sizes == (3,)
    assert info.samples == 960
    assert info.duration == pytest.approx(0.020)


def test_code0_single_frame_and_dtx() -> None:
    assert parse_packet(b"\x78").frame_sizes == (0,)  # a bare TOC: an empty frame (DTX)
    assert parse_packet(b"\x78" + bytes(1275)).frame_sizes == (1275,)


def test_code1_two_equal_frames() -> None:
    info = parse_packet(bytes([toc_byte(9, code=1)]) + bytes(10))
    assert info.frame_sizes == (5, 5)
    assert info.samples == 1920


def test_code2_two_frames_with_one_and_two_byte_lengths() -> None:
    toc = bytes([toc_byte(1, code=2)])
    assert parse_packet(toc + bytes([3]) + bytes(10)).frame_sizes == (3, 7)
    # RFC 6716 §3.2.1: 300 = 252 + 4 * 12, two bytes (252, 12).
    info = parse_packet(toc + bytes([252, 12]) + bytes(310))
    assert info.frame_sizes == (300, 10)
    assert info.offset == 3


def test_code3_cbr_vbr_and_padding() -> None:
    toc = bytes([toc_byte(31, code=3)])
    cbr = parse_packet(toc + bytes([3]) + bytes(12))
    assert (cbr.frame_sizes, cbr.vbr, cbr.padding) == ((4, 4, 4), False, 0)
    vbr = parse_packet(toc + bytes([0x80 | 3, 2, 5]) + bytes(2 + 5 + 1))
    assert (vbr.frame_sizes, vbr.vbr) == ((2, 5, 1), True)
    assert vbr.offset == 4
    # RFC 6716 §3.2.5: padding bytes 255, 10 mean 254 + 10 trailing bytes of padding.
    padded = parse_packet(toc + bytes([0x40 | 2, 255, 10]) + bytes(6) + bytes(264))
    assert padded.frame_sizes == (3, 3)
    assert padded.padding == 2 + 264


@pytest.mark.parametrize(
    ("packet", "rule"),
    [
        (b"", "R1"),
        (b"\x78" + bytes(1276), "R2"),  # code 0, implicit length over 1275
        (bytes([toc_byte(9, code=1)]) + bytes(2 * 1276), "R2"),
        (bytes([toc_byte(9, code=1)]) + bytes(3), "R3"),  # odd split
        (bytes([toc_byte(9, code=2)]), "R4"),  # no length byte
        (bytes([toc_byte(9, code=2), 253]), "R4"),  # two-byte length cut short
        (bytes([toc_byte(9, code=2), 5]) + bytes(4), "R4"),  # first frame overruns
        (bytes([toc_byte(31, code=3)]), "R6"),  # no frame count byte
        (bytes([toc_byte(31, code=3), 0]), "R5"),  # zero frames
        (bytes([toc_byte(3, code=3), 3]) + bytes(3), "R5"),  # 3 x 60 ms > 120 ms
        (bytes([toc_byte(31, code=3), 0x40 | 1, 255]), "R6"),  # padding length runs out
        (bytes([toc_byte(31, code=3), 0x40 | 1, 5]) + bytes(3), "R6"),  # padding overruns
        (bytes([toc_byte(31, code=3), 3]) + bytes(10), "R6"),  # 10 bytes, 3 frames
        (bytes([toc_byte(31, code=3), 0x80 | 3, 4]), "R7"),  # lengths missing
        (bytes([toc_byte(31, code=3), 0x80 | 2, 9]) + bytes(5), "R7"),  # frames overrun
    ],
)
def test_malformed_packets_are_rejected_naming_the_rule(packet: bytes, rule: str) -> None:
    with pytest.raises(OpusParseError, match=rule):
        parse_packet(packet)


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=64),
        st.builds(
            lambda toc, count, rest: bytes([toc | 3, count]) + rest,
            st.integers(0, 255),
            st.integers(0, 255),
            st.binary(max_size=600),
        ),
        st.binary(min_size=1270, max_size=1300),
    )
)
def test_any_bytes_parse_or_raise_only_opus_parse_error(data: bytes) -> None:
    try:
        info = parse_packet(data)
    except OpusParseError:
        return
    # Whatever parses is consistent: the frames fit, none is too long, at most 120 ms.
    assert 1 <= info.frame_count <= 48
    assert info.samples <= MAX_PACKET_SAMPLES
    assert max(info.frame_sizes) <= 1275
    assert info.offset + sum(info.frame_sizes) + info.padding <= len(data) + info.padding
    assert info.offset + sum(info.frame_sizes) <= len(data)


@settings(max_examples=1000, deadline=None)
@given(
    config=st.integers(0, 31),
    stereo=st.booleans(),
    frames=st.lists(st.binary(max_size=300), min_size=1, max_size=6),
    padding=st.one_of(st.just(0), st.integers(1, 600)),
    force_code3=st.booleans(),
)
def test_built_packets_parse_back(
    config: int, stereo: bool, frames: list[bytes], padding: int, force_code3: bool
) -> None:
    if len(frames) * CONFIGS[config][2] > MAX_PACKET_SAMPLES:
        with pytest.raises(ValueError):
            build_packet(frames, config=config)
        return
    packet = build_packet(
        frames, config=config, stereo=stereo, padding=padding, force_code3=force_code3
    )
    info = parse_packet(packet)
    assert (info.config, info.stereo) == (config, stereo)
    assert info.frame_sizes == tuple(len(f) for f in frames)
    at = info.offset
    for frame, size in zip(frames, info.frame_sizes, strict=True):
        assert packet[at : at + size] == frame
        at += size


def _libopus_packets(duration: str, layout: str, bitrate: int, application: str) -> list[bytes]:
    enc = CodecContext.create("libopus", "w")
    enc.bit_rate = bitrate
    enc.format = "s16"
    enc.layout = layout
    enc.sample_rate = 48_000
    enc.time_base = Fraction(1, 48_000)
    enc.options = {"application": application, "frame_duration": duration}
    enc.open()
    size, channels = enc.frame_size, 2 if layout == "stereo" else 1
    packets = []
    for k in range(4):
        frame = AudioFrame(format="s16", layout=layout, samples=size)
        frame.sample_rate = 48_000
        frame.pts = k * size
        phase = (2 * math.pi * 440 * (k * size + i) / 48_000 for i in range(size))
        tone = (int(8000 * math.sin(p)) for p in phase)
        frame.planes[0].update(b"".join(struct.pack("<h", v) * channels for v in tone))
        packets += [bytes(p) for p in enc.encode(frame)]
    return packets


@pytest.mark.interop
def test_packets_from_libopus_parse_as_framed() -> None:
    """libopus frames 2.5 to 120 ms of audio with every code; we read what it wrote."""
    codes = set()
    for duration, layout, bitrate, application in [
        ("2.5", "mono", 64_000, "lowdelay"),
        ("10", "stereo", 64_000, "audio"),
        ("20", "mono", 32_000, "voip"),
        ("40", "mono", 16_000, "voip"),
        ("60", "mono", 24_000, "voip"),
        ("100", "stereo", 64_000, "audio"),
        ("120", "mono", 32_000, "voip"),
    ]:
        samples = round(float(duration) * 48)
        for packet in _libopus_packets(duration, layout, bitrate, application):
            info = parse_packet(packet)
            assert info.samples == samples
            assert info.stereo is (layout == "stereo")
            codes.add(info.code)
    assert codes == {0, 1, 2, 3}


def _libopus_samples(data: bytes) -> int | None:
    """How many samples libopus decodes from ``data``, or None if it rejects the packet."""
    decoder = CodecContext.create("libopus", "r")
    decoder.sample_rate = 48_000
    decoder.format = "s16"
    decoder.layout = "mono"
    try:
        return sum(frame.samples for frame in decoder.decode(Packet(data)))
    except av.FFmpegError:
        return None


@pytest.mark.interop
@settings(max_examples=1500, deadline=None)
@given(
    st.one_of(
        st.binary(min_size=1, max_size=40),
        st.builds(
            lambda toc, count, rest: bytes([toc | 3, count]) + rest,
            st.integers(0, 255),
            st.integers(0, 255),
            st.binary(max_size=400),
        ),
        st.builds(
            lambda toc, rest: bytes([toc | 2]) + rest,
            st.integers(0, 255),
            st.binary(max_size=400),
        ),
    )
)
def test_our_verdict_matches_libopus(data: bytes) -> None:
    """libopus' own parser (run by decoding) accepts exactly the packets we accept, with
    the same number of samples."""
    try:
        ours: int | None = parse_packet(data).samples
    except OpusParseError:
        ours = None
    assert _libopus_samples(data) == ours


def test_padding_bytes_may_hold_any_value() -> None:
    # RFC 6716 §3.2.5: an encoder zeroes the padding, but a decoder accepts any value there.
    toc = bytes([toc_byte(31, code=3)])
    header = toc + bytes([0x40 | 2, 4]) + bytes(6)
    zeroed = parse_packet(header + bytes(4))
    noisy = parse_packet(header + b"\xff\x01\x80\x7f")
    assert noisy == zeroed
    assert noisy.frame_sizes == (3, 3) and noisy.padding == 1 + 4
    assert build_packet([b"abc", b"def"], config=31, padding=4).endswith(bytes(4))
