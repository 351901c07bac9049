"""Tests of the Opus encoder and decoder: one frame in, one packet out; decoding what browsers
send; concealment; what PyAV offers for loss; and in-band FEC decoding through the bundled
libopus, with its fallback to concealment. Decoding tests run with both decoders (the
``decoder_backend`` fixture): the bundled libopus, and PyAV alone."""

from __future__ import annotations

import functools
import logging
import struct
from array import array
from fractions import Fraction
from typing import Literal

import av
import pytest
from av import AudioFrame, CodecContext, Packet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.opus._signals import correlation, energy, snr, speech_like, syllables, tone
from voice.opus import (
    FRAME_BYTES,
    FRAME_DURATION,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    OpusCodecError,
    OpusDecoder,
    OpusEncoder,
    OpusParameters,
    OpusParseError,
    has_fec,
    parse_packet,
)
from voice.opus.codec import _DEFAULT_PLC_TOC
from voice.opus.toc import Bandwidth, Mode, toc_byte
from voice.rtp.jitterbuffer import JitterBuffer


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


def test_round_trip_preserves_a_tone(decoder_backend: str) -> None:
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


def test_decodes_what_browsers_send_during_silence(decoder_backend: str) -> None:
    decoder = OpusDecoder()
    decoder.decode(OpusEncoder().encode(tone(0)))
    # DTX and comfort-noise packets: a bare TOC, or a TOC with a frame of one or two bytes,
    # in the modes Chromium uses (SILK wideband, Hybrid fullband), mono.
    for packet in (b"\x48", b"\x78", b"\x48\x00", b"\x78\x0b\x82", b"\x48\x00\x00"):
        assert len(decoder.decode(packet)) == FRAME_BYTES


def test_decodes_stereo_and_other_durations_to_mono(decoder_backend: str) -> None:
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
def test_malformed_packets_never_reach_libopus(decoder_backend: str, packet: bytes) -> None:
    decoder = OpusDecoder()
    with pytest.raises(OpusParseError):
        decoder.decode(packet)
    assert len(decoder.decode(b"\x78")) == FRAME_BYTES  # and the decoder carries on


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the same for every example
)
@given(st.binary(max_size=200))
def test_any_payload_decodes_or_raises_an_opus_error(decoder_backend: str, payload: bytes) -> None:
    decoder = OpusDecoder()
    try:
        pcm = decoder.decode(payload)
    except (OpusParseError, OpusCodecError):
        return
    assert len(pcm) == 2 * parse_packet(payload).samples


def test_concealment_continues_the_sound_and_fades_it(decoder_backend: str) -> None:
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


def test_concealment_before_any_packet_is_silence(decoder_backend: str) -> None:
    assert parse_packet(bytes([_DEFAULT_PLC_TOC])).mode is Mode.CELT
    assert OpusDecoder().conceal() == bytes(FRAME_BYTES)


def test_concealment_after_60_ms_silk_packets_still_gives_one_frame(decoder_backend: str) -> None:
    decoder = OpusDecoder()
    decoder.decode(bytes([toc_byte(11)]) + bytes(20))  # SILK wideband, 60 ms
    assert len(decoder.conceal()) == FRAME_BYTES


def test_the_decoder_backends(decoder_backend: str) -> None:
    assert OpusDecoder().fec_supported is (decoder_backend == "libopus")
    assert OpusDecoder(pyav_only=True).fec_supported is False


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


# In-band FEC. The stream: syllables (whose next frame concealment cannot guess), coded at
# 32 kbit/s with FEC for 20 % expected loss, so nearly every packet carries LBRR.
FEC_FRAMES = 40


@functools.cache
def fec_stream() -> tuple[list[bytes], list[bytes], int]:
    """(the original frames, their packets, the encoder's look-ahead)."""
    frames = [syllables(n) for n in range(FEC_FRAMES)]
    encoder = OpusEncoder(fec=True, packet_loss_percent=20)
    packets = [encoder.encode(frame) for frame in frames]
    assert encoder.lookahead is not None
    return frames, packets, encoder.lookahead


def play(
    packets: list[bytes], lost: int | None = None, how: Literal["fec", "conceal"] = "fec"
) -> tuple[list[bytes], OpusDecoder]:
    """Decodes ``packets`` as a receiver that lost packet ``lost`` (None: none) and, in its
    place, either decodes the FEC of the packet after it or conceals."""
    decoder = OpusDecoder()
    out = []
    for n, packet in enumerate(packets):
        if n != lost:
            out.append(decoder.decode(packet))
        elif how == "fec":
            out.append(decoder.decode_fec(packets[n + 1]))
        else:
            out.append(decoder.conceal())
    return out, decoder


def match_original(decoded: bytes, index: int) -> float:
    """How well output frame ``index`` matches the original it was coded from: the best
    correlation with the input about a look-ahead earlier (SILK's own delay differs from
    the encoder's 312 samples by a few)."""
    frames, _, lookahead = fec_stream()
    source = b"".join(frames)
    at = index * FRAME_BYTES
    return max(
        correlation(decoded, source[at - 2 * lag : at + FRAME_BYTES - 2 * lag])
        for lag in range(lookahead - 16, lookahead + 16)
    )


#: Losses to try: the first frame of three syllables (concealment continues the old one)...
ONSETS = (9, 18, 27)
#: ... and three frames inside one (concealment extrapolates the right pitch, but no detail).
INSIDE = (13, 22, 31)
LOSSES = ONSETS + INSIDE


def test_the_test_stream_carries_fec() -> None:
    _, packets, _ = fec_stream()
    assert all(has_fec(packets[lost + 1]) for lost in LOSSES)
    assert {parse_packet(p).mode for p in packets} == {Mode.SILK, Mode.HYBRID}


def test_fec_rebuilds_a_lost_frame_far_better_than_concealment() -> None:
    """RFC 6716 §4.2.5, RFC 7587 §3.3: the frame rebuilt from the next packet's LBRR is
    nearly the frame the lost packet held; concealment's guess is not."""
    _, packets, _ = fec_stream()
    assert OpusDecoder().fec_supported
    lossless, _ = play(packets)
    for lost in LOSSES:
        recovered, decoder = play(packets, lost, "fec")
        concealed, _ = play(packets, lost, "conceal")
        assert (decoder.fec_requests, decoder.fec_recovered, decoder.concealed) == (1, 1, 0)
        # Against the original signal: about as close as the lossless decode (0.94-0.99).
        fec_match = match_original(recovered[lost], lost)
        assert fec_match > match_original(lossless[lost], lost) - 0.08
        assert fec_match > match_original(concealed[lost], lost)
        # Against what the lost packet would have decoded to: LBRR is a coarser coding of
        # the same frame (11-21 dB here), concealment a guess (-1 to 3 dB).
        fec_snr = snr(recovered[lost], lossless[lost])
        assert fec_snr > 8
        assert fec_snr > snr(concealed[lost], lossless[lost]) + 8
    # At a syllable's start, concealment carries on the syllable before: no resemblance
    # (0.12-0.23 here), where FEC's frame matches.
    for onset in ONSETS:
        concealed, _ = play(packets, onset, "conceal")
        assert match_original(concealed[onset], onset) < 0.5


def test_after_a_recovered_loss_decoding_continues_in_sync() -> None:
    """After decode_fec, the same decoder decodes the next packet as usual: nothing slips
    (one frame out per packet, at the same delay), and the frames after the loss are close
    to the lossless decode, much closer than after concealment. That is why the decoder
    that rebuilds a frame must be the one that plays the frames after it."""
    _, packets, _ = fec_stream()
    lossless, _ = play(packets)
    for lost in LOSSES:
        recovered, decoder = play(packets, lost, "fec")
        concealed, _ = play(packets, lost, "conceal")
        assert len(b"".join(recovered)) == FEC_FRAMES * FRAME_BYTES
        assert decoder.decoded == FEC_FRAMES - 1
        after = slice(lost + 1, lost + 3)
        fec_after = snr(b"".join(recovered[after]), b"".join(lossless[after]))
        plc_after = snr(b"".join(concealed[after]), b"".join(lossless[after]))
        assert fec_after > 12
        assert fec_after > plc_after + 6
        # In time with the original: as good a match two frames on as without the loss.
        later = lost + 2
        assert (
            match_original(recovered[later], later) > match_original(lossless[later], later) - 0.05
        )


def test_fec_needs_the_history_of_the_decoder_that_played_the_frames_before() -> None:
    """LBRR is decoded on top of the decoder's state: inside a syllable, a fresh decoder (as
    a second decoder asked only for FEC would be if it had not decoded the same packets)
    rebuilds mostly noise (about 2 dB against 20 dB). At an onset there is little history
    to miss, so this is shown where there is."""
    _, packets, _ = fec_stream()
    lossless, _ = play(packets)
    for lost in INSIDE:
        warm, _ = play(packets, lost, "fec")
        fresh = OpusDecoder().decode_fec(packets[lost + 1])
        assert snr(warm[lost], lossless[lost]) > snr(fresh, lossless[lost]) + 8


def test_a_packet_without_fec_falls_back_to_concealment() -> None:
    frames, _, _ = fec_stream()
    plain = OpusEncoder(fec=False)
    no_lbrr = [plain.encode(frame) for frame in frames]
    celt = OpusEncoder(application="lowdelay").encode(frames[21])
    for next_packet in (no_lbrr[21], celt):
        assert not has_fec(next_packet)
        _, decoder = play(no_lbrr[:20])
        _, concealing = play(no_lbrr[:20])
        # The same samples as libopus' concealment from the same state: it is concealment.
        assert decoder.decode_fec(next_packet) == concealing.conceal()
        assert (decoder.fec_requests, decoder.fec_recovered, decoder.concealed) == (1, 0, 1)
        assert len(decoder.decode(next_packet)) == FRAME_BYTES


def test_after_a_celt_packet_fec_falls_back_to_concealment() -> None:
    """LBRR continues a SILK state; after a CELT-only packet there is none to continue."""
    _, packets, _ = fec_stream()
    decoder = OpusDecoder()
    decoder.decode(OpusEncoder(application="lowdelay").encode(tone(0)))
    assert has_fec(packets[10])
    assert len(decoder.decode_fec(packets[10])) == FRAME_BYTES
    assert (decoder.fec_recovered, decoder.concealed) == (0, 1)


def test_fec_of_a_longer_packet_rebuilds_its_whole_duration() -> None:
    """A lost packet is taken to be as long as the next one: after 60 ms SILK packets, FEC
    gives 60 ms (libopus rebuilds it from the next packet's LBRR)."""
    encoder = CodecContext.create("libopus", "w")
    encoder.bit_rate = 32_000
    encoder.format = "s16"
    encoder.layout = "mono"
    encoder.sample_rate = SAMPLE_RATE
    encoder.time_base = Fraction(1, SAMPLE_RATE)
    encoder.options = {"frame_duration": "60", "fec": "1", "packet_loss": "20"}
    packets: list[bytes] = []
    for n in range(8):
        frame = AudioFrame(format="s16", layout="mono", samples=3 * FRAME_SAMPLES)
        frame.sample_rate = SAMPLE_RATE
        frame.pts = n * 3 * FRAME_SAMPLES
        frame.planes[0].update(b"".join(syllables(3 * n + k) for k in range(3)))
        packets += [bytes(p) for p in encoder.encode(frame)]
    lost = next(n for n in range(2, len(packets) - 1) if has_fec(packets[n + 1]))
    decoder = OpusDecoder()
    for packet in packets[:lost]:
        decoder.decode(packet)
    assert len(decoder.decode_fec(packets[lost + 1])) == 3 * FRAME_BYTES
    assert decoder.fec_recovered == 1


def test_the_jitter_buffer_hands_a_loss_to_fec() -> None:
    """The whole receive path: a packet goes missing, the jitter buffer declares it lost
    with the next packet's payload, and ``Lost.decode`` rebuilds it from that packet's FEC."""
    _, packets, _ = fec_stream()
    lost = INSIDE[0]
    jitter, decoder = JitterBuffer(), OpusDecoder()
    played: list[bytes] = []
    kinds = []
    for n, packet in enumerate(packets):
        now = n * FRAME_DURATION
        if n != lost:
            jitter.push(n, n * FRAME_SAMPLES, packet, now)
        jitter.handle_timeout(now)
        while (out := jitter.next_event()) is not None:
            kinds.append(type(out).__name__)
            played.append(out.decode(decoder))
    assert kinds.count("Lost") == 1
    assert len(played) > lost + 5
    assert (decoder.fec_recovered, decoder.concealed) == (1, 0)
    recovered, _ = play(packets, lost, "fec")
    assert played == recovered[: len(played)]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_any_next_payload_recovers_or_raises_an_opus_error(payload: bytes) -> None:
    _, packets, _ = fec_stream()
    decoder = OpusDecoder()
    decoder.decode(packets[5])
    try:
        pcm = decoder.decode_fec(payload)
    except (OpusParseError, OpusCodecError):
        return
    assert len(pcm) in (FRAME_BYTES, 2 * parse_packet(payload).samples)


def test_without_the_bundled_libopus_fec_falls_back_to_concealment(
    without_bundled_libopus: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Where the library cannot be found, the decoder runs on PyAV alone: it says so, logs
    why, decodes as before, and conceals the frames FEC would have rebuilt."""
    with caplog.at_level(logging.WARNING, logger="voice.opus.libopus"):
        decoder = OpusDecoder()
    assert "no libopus found" in caplog.text
    assert decoder.fec_supported is False
    _, packets, _ = fec_stream()
    lossless, _ = play(packets)
    for packet in packets[:20]:
        decoder.decode(packet)
    assert has_fec(packets[21])
    recovered = decoder.decode_fec(packets[21])
    assert len(recovered) == FRAME_BYTES
    assert energy(recovered) > 0
    assert snr(recovered, lossless[20]) < 5  # a guess, not the frame
    assert (decoder.fec_requests, decoder.fec_recovered, decoder.concealed) == (1, 0, 1)
    # Decoding goes on; PyAV's decoder and libopus' agree on a packet after a loss, too.
    assert len(decoder.decode(packets[21])) == FRAME_BYTES
    with pytest.raises(OpusParseError):
        decoder.decode_fec(b"")
