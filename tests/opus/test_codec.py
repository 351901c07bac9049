"""Tests of the Opus encoder and decoder over PyAV: one frame in, one packet out; decoding
what browsers send; concealment; and what in-band FEC can and cannot do through PyAV."""

from __future__ import annotations

import struct
from array import array
from fractions import Fraction

import av
import pytest
from av import AudioFrame, CodecContext, Packet
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.opus._signals import correlation, energy, speech_like, tone
from voice.opus import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    OpusCodecError,
    OpusDecoder,
    OpusEncoder,
    OpusPacketError,
    OpusParameters,
    parse_packet,
)
from voice.opus.codec import _DEFAULT_PLC_TOC
from voice.opus.toc import Bandwidth, Mode, toc_byte


def test_the_pcm_frame_constants() -> None:
    assert SAMPLE_RATE == 48_000
    assert FRAME_SAMPLES == 960
    assert FRAME_BYTES == 1920


def test_every_frame_gives_one_packet_from_the_first_call() -> None:
    encoder = OpusEncoder()
    packets = [encoder.encode(tone(n)) for n in range(10)]
    assert all(packets)
    for packet in packets:
        info = parse_packet(packet)
        # RFC 7587 §4.1: a 20 ms packet advances the 48 kHz RTP clock by 960.
        assert info.samples == FRAME_SAMPLES
        assert not info.stereo
    assert encoder.frames == 10
    # libopus looks 6.5 ms ahead: decoded audio comes out 312 samples late.
    assert encoder.lookahead == 312


def test_encoder_settings_are_checked() -> None:
    encoder = OpusEncoder()
    with pytest.raises(ValueError):
        encoder.encode(b"\x00" * (FRAME_BYTES - 2))
    for bad in (
        {"bitrate": 1000},
        {"packet_loss_percent": 101},
        {"complexity": 11},
        {"application": "music"},
    ):
        with pytest.raises(ValueError):
            OpusEncoder(**bad)  # type: ignore[arg-type]


def test_bitrate_and_complexity_reach_libopus() -> None:
    low = OpusEncoder(bitrate=12_000, complexity=0)
    high = OpusEncoder(bitrate=64_000, complexity=10)
    low_bytes = sum(len(low.encode(speech_like(n))) for n in range(25))
    high_bytes = sum(len(high.encode(speech_like(n))) for n in range(25))
    # About 30 and 160 bytes per 20 ms frame.
    assert low_bytes * 3 < high_bytes


@pytest.mark.parametrize("bandwidth", list(Bandwidth))
def test_max_bandwidth_caps_the_coded_band(bandwidth: Bandwidth) -> None:
    encoder = OpusEncoder(max_bandwidth=bandwidth)
    coded = {parse_packet(encoder.encode(speech_like(n))).bandwidth for n in range(20)}
    assert max(coded) == bandwidth


def test_encoder_follows_the_receivers_fmtp_wishes() -> None:
    chromium = OpusEncoder.from_parameters(OpusParameters.parse("minptime=10;useinbandfec=1"))
    assert (chromium.bitrate, chromium.fec, chromium.max_bandwidth) == (
        32_000,
        True,
        Bandwidth.FULLBAND,
    )
    narrow = OpusEncoder.from_parameters(
        OpusParameters.parse("maxplaybackrate=16000;maxaveragebitrate=20000")
    )
    assert (narrow.bitrate, narrow.fec, narrow.max_bandwidth) == (20_000, False, Bandwidth.WIDEBAND)
    packets = [narrow.encode(speech_like(n)) for n in range(20)]
    assert all(parse_packet(p).bandwidth <= Bandwidth.WIDEBAND for p in packets)


def test_round_trip_preserves_a_tone() -> None:
    encoder, decoder = OpusEncoder(bitrate=64_000), OpusDecoder()
    decoded = b"".join(decoder.decode(encoder.encode(tone(n))) for n in range(20))
    assert len(decoded) == 20 * FRAME_BYTES
    # Frame 15 of the output is the input of about a look-ahead earlier, nearly exactly.
    assert encoder.lookahead is not None
    source = b"".join(tone(n) for n in range(20))
    out = decoded[15 * FRAME_BYTES : 16 * FRAME_BYTES]
    at = 15 * FRAME_BYTES
    best = max(
        correlation(out, source[at - 2 * lag : at + FRAME_BYTES - 2 * lag])
        for lag in range(encoder.lookahead - 16, encoder.lookahead + 16)
    )
    assert best > 0.99
    assert decoder.decoded == 20


def test_decodes_what_browsers_send_during_silence() -> None:
    decoder = OpusDecoder()
    decoder.decode(OpusEncoder().encode(tone(0)))
    # DTX and comfort-noise packets: a bare TOC, or a TOC with a frame of one or two bytes,
    # in the modes Chromium uses (SILK wideband, Hybrid fullband), mono.
    for packet in (b"\x48", b"\x78", b"\x48\x00", b"\x78\x0b\x82", b"\x48\x00\x00"):
        assert len(decoder.decode(packet)) == FRAME_BYTES


def test_decodes_stereo_and_other_durations_to_mono() -> None:
    encoder = CodecContext.create("libopus", "w")
    encoder.bit_rate = 64_000
    encoder.format = "s16"
    encoder.layout = "stereo"
    encoder.sample_rate = SAMPLE_RATE
    encoder.time_base = Fraction(1, SAMPLE_RATE)
    encoder.options = {"frame_duration": "40"}
    decoder = OpusDecoder()
    for n in range(3):
        frame = AudioFrame(format="s16", layout="stereo", samples=2 * FRAME_SAMPLES)
        frame.sample_rate = SAMPLE_RATE
        frame.pts = n * 2 * FRAME_SAMPLES
        left = array("h", tone(2 * n) + tone(2 * n + 1))
        frame.planes[0].update(b"".join(struct.pack("<hh", s, s) for s in left))
        for packet in encoder.encode(frame):
            assert parse_packet(bytes(packet)).stereo
            assert len(decoder.decode(bytes(packet))) == 2 * FRAME_BYTES  # 40 ms, mono


@pytest.mark.parametrize(
    "packet",
    [b"", bytes([toc_byte(9, code=1)]) + b"abc", bytes([toc_byte(31, code=3), 0])],
)
def test_malformed_packets_never_reach_libopus(packet: bytes) -> None:
    decoder = OpusDecoder()
    with pytest.raises(OpusPacketError):
        decoder.decode(packet)
    assert len(decoder.decode(b"\x78")) == FRAME_BYTES  # and the decoder carries on


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_any_payload_decodes_or_raises_an_opus_error(payload: bytes) -> None:
    decoder = OpusDecoder()
    try:
        pcm = decoder.decode(payload)
    except (OpusPacketError, OpusCodecError):
        return
    assert len(pcm) == 2 * parse_packet(payload).samples


def test_concealment_continues_the_sound_and_fades_it() -> None:
    encoder, decoder = OpusEncoder(), OpusDecoder()
    last = b""
    for n in range(20):
        last = decoder.decode(encoder.encode(tone(n)))
    concealed = [decoder.conceal() for _ in range(6)]
    assert all(len(frame) == FRAME_BYTES for frame in concealed)
    levels = [energy(frame) for frame in concealed]
    # libopus' concealment, not silence and not a copy of the last frame: it carries the
    # tone on and fades it out over a few frames.
    assert levels[0] > 0.3 * energy(last)
    assert concealed[0] != last
    assert levels[-1] < 0.1 * levels[0]
    assert decoder.concealed == 6
    # After the gap, decoding simply resumes.
    assert len(decoder.decode(encoder.encode(tone(26)))) == FRAME_BYTES


def test_concealment_before_any_packet_is_silence() -> None:
    assert parse_packet(bytes([_DEFAULT_PLC_TOC])).mode is Mode.CELT
    assert OpusDecoder().conceal() == bytes(FRAME_BYTES)


def test_concealment_after_60_ms_silk_packets_still_gives_one_frame() -> None:
    decoder = OpusDecoder()
    decoder.decode(bytes([toc_byte(11)]) + bytes(20))  # SILK wideband, 60 ms
    assert len(decoder.conceal()) == FRAME_BYTES


def test_what_pyav_offers_for_loss() -> None:
    """The two facts the decoder's design rests on, checked so an FFmpeg upgrade that
    changes them shows up here: an empty packet ends the stream (so it cannot ask for
    concealment), and the libopus decoder has no option to decode FEC."""
    decoder = CodecContext.create("libopus", "r")
    decoder.sample_rate = SAMPLE_RATE
    decoder.layout = "mono"
    assert decoder.decode(Packet(b"")) == []
    with pytest.raises(av.error.EOFError):
        decoder.decode(Packet(b"\x78"))
    for option in ("fec", "decode_fec", "inband_fec", "use_inband_fec"):
        probe = CodecContext.create("libopus", "r")
        probe.options = {option: "1"}
        probe.open()
        assert probe.options == {option: "1"}  # handed back: nothing consumed it


def test_fec_decoding_falls_back_to_concealment_and_says_so() -> None:
    encoder = OpusEncoder(fec=True, packet_loss_percent=20)
    packets = [encoder.encode(speech_like(n)) for n in range(30)]
    decoder = OpusDecoder()
    for packet in packets[:20]:
        decoder.decode(packet)
    # Packet 20 is lost; packet 21 carries its FEC, which PyAV cannot reach.
    assert OpusDecoder.fec_supported is False
    recovered = decoder.decode_fec(packets[21])
    assert len(recovered) == FRAME_BYTES
    assert energy(recovered) > 0
    assert (decoder.fec_requests, decoder.concealed) == (1, 1)
    assert len(decoder.decode(packets[21])) == FRAME_BYTES
    with pytest.raises(OpusPacketError):
        decoder.decode_fec(b"")
