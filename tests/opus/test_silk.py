"""Tests of reading the LBRR (in-band FEC) flag from an Opus packet's SILK header."""

from __future__ import annotations

import pytest

from tests.opus._signals import speech_like, tone
from voice.opus import OpusEncoder, OpusParseError
from voice.opus.silk import has_fec
from voice.opus.toc import build_packet, parse_packet


@pytest.mark.interop
def test_libopus_packets_carry_fec_exactly_when_asked_to() -> None:
    """libopus adds LBRR to voiced SILK/Hybrid packets when FEC is on and some loss is
    expected, and never otherwise. A misread flag would be right only half the time."""
    frames = [speech_like(n) for n in range(50)]
    with_fec = OpusEncoder(fec=True, packet_loss_percent=20)
    flags = [has_fec(with_fec.encode(f)) for f in frames]
    assert sum(flags) >= 25
    assert not flags[0]  # the first packet has no previous frame to protect
    for settings in ({"fec": False, "packet_loss_percent": 20}, {"packet_loss_percent": 0}):
        encoder = OpusEncoder(**settings)  # type: ignore[arg-type]
        assert not any(has_fec(encoder.encode(f)) for f in frames)


def test_celt_and_empty_frames_have_no_fec() -> None:
    celt = OpusEncoder(application="lowdelay", bitrate=64_000).encode(tone(0))
    assert parse_packet(celt).mode.value == "CELT"
    assert not has_fec(celt)
    assert not has_fec(b"\x48")  # SILK, empty frame (DTX)


def test_the_flag_is_read_from_the_first_frame_of_any_code() -> None:
    encoder = OpusEncoder(fec=True, packet_loss_percent=20)
    packets = [encoder.encode(speech_like(n)) for n in range(10)]
    protected = next(p for p in packets if has_fec(p))
    plain = packets[0]
    config = protected[0] >> 3
    # The same first frame, framed with code 2 and with padded code 3.
    for other in (plain[1:], b"\x01\x02"):
        assert has_fec(build_packet([protected[1:], other], config=config))
        assert has_fec(build_packet([protected[1:], other], config=config, padding=300))
        assert not has_fec(build_packet([plain[1:], other], config=config, padding=3))


def test_malformed_packets_raise() -> None:
    with pytest.raises(OpusParseError):
        has_fec(b"")
