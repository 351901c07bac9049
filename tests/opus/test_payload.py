"""Tests of the Opus RTP payload format's SDP parameters (RFC 7587 §6.1, §7)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.opus.errors import OpusParseError
from voice.opus.payload import RTP_CLOCK_RATE, RTPMAP_ENCODING, OpusParameters
from voice.opus.toc import Bandwidth


def test_rtpmap_is_always_48000_2() -> None:
    assert RTPMAP_ENCODING == "opus/48000/2"
    assert RTP_CLOCK_RATE == 48_000


def test_empty_line_means_the_defaults() -> None:
    params = OpusParameters.parse("")
    assert params == OpusParameters()
    assert params.maxplaybackrate == params.sprop_maxcapturerate == 48_000
    assert not (params.stereo or params.sprop_stereo or params.cbr)
    assert not (params.useinbandfec or params.usedtx)
    assert params.maxaveragebitrate is None
    assert params.format() == ""


def test_chromium_line_round_trips() -> None:
    line = "minptime=10;useinbandfec=1"  # a=fmtp:111 of a Chromium 156 audio offer
    params = OpusParameters.parse(line)
    assert params.minptime == 10
    assert params.useinbandfec
    assert params.format() == line


def test_spaces_case_and_every_known_parameter() -> None:
    params = OpusParameters.parse(
        " maxplaybackrate=16000; sprop-maxcapturerate=16000; MaxAverageBitrate = 20000;"
        " stereo=1; sprop-stereo=1; cbr=1; useinbandfec=0; usedtx=1; minptime=20;"
        " ptime=40; maxptime=60 "
    )
    assert params == OpusParameters(
        maxplaybackrate=16_000,
        sprop_maxcapturerate=16_000,
        maxaveragebitrate=20_000,
        stereo=True,
        sprop_stereo=True,
        cbr=True,
        useinbandfec=False,
        usedtx=True,
        minptime=20,
        ptime=40,
        maxptime=60,
    )
    # RFC 7587 §7: ptime and maxptime are SDP attributes of their own, not fmtp parameters.
    assert params.format() == (
        "minptime=20;usedtx=1;stereo=1;sprop-stereo=1;cbr=1;maxplaybackrate=16000;"
        "sprop-maxcapturerate=16000;maxaveragebitrate=20000"
    )


def test_unknown_parameters_are_kept() -> None:
    params = OpusParameters.parse("useinbandfec=1;x-google-foo=bar")
    assert params.extra == (("x-google-foo", "bar"),)
    assert params.format() == "useinbandfec=1;x-google-foo=bar"


@pytest.mark.parametrize(
    "line",
    [
        "useinbandfec=2",
        "stereo=yes",
        "minptime=ten",
        "maxaveragebitrate=-5",
        "maxplaybackrate=0",
        "ptime=2.5",
        "stereo",
        "=1",
        "usedtx=1;usedtx=0",
    ],
)
def test_bad_values_are_clear_errors(line: str) -> None:
    with pytest.raises(OpusParseError):
        OpusParameters.parse(line)


def test_out_of_range_hints_are_ignored_or_clamped() -> None:
    # RFC 7587 §6.1: a maxaveragebitrate outside 6000-510000 is ignored.
    assert OpusParameters.parse("maxaveragebitrate=5999").maxaveragebitrate is None
    assert OpusParameters.parse("maxaveragebitrate=510001").maxaveragebitrate is None
    assert OpusParameters.parse("maxaveragebitrate=6000").maxaveragebitrate == 6000
    # Rates and durations are hints; a value past the range means its end.
    assert OpusParameters.parse("maxplaybackrate=96000").maxplaybackrate == 48_000
    assert OpusParameters.parse("sprop-maxcapturerate=4000").sprop_maxcapturerate == 8_000
    assert OpusParameters.parse("minptime=1").minptime == 3
    assert OpusParameters.parse("maxptime=200").maxptime == 120


@pytest.mark.parametrize(
    ("rate", "bandwidth"),
    [
        (8_000, Bandwidth.NARROWBAND),
        (12_000, Bandwidth.MEDIUMBAND),
        (16_000, Bandwidth.WIDEBAND),
        (22_050, Bandwidth.SUPERWIDEBAND),
        (24_000, Bandwidth.SUPERWIDEBAND),
        (44_100, Bandwidth.FULLBAND),
        (48_000, Bandwidth.FULLBAND),
    ],
)
def test_maxplaybackrate_caps_the_bandwidth_worth_sending(rate: int, bandwidth: Bandwidth) -> None:
    assert OpusParameters(maxplaybackrate=rate).max_bandwidth is bandwidth


def test_maxaveragebitrate_caps_the_send_bitrate() -> None:
    assert OpusParameters().send_bitrate(32_000) == 32_000
    assert OpusParameters(maxaveragebitrate=20_000).send_bitrate(32_000) == 20_000
    assert OpusParameters(maxaveragebitrate=64_000).send_bitrate(32_000) == 32_000


_params = st.builds(
    OpusParameters,
    maxplaybackrate=st.integers(8_000, 48_000),
    sprop_maxcapturerate=st.integers(8_000, 48_000),
    minptime=st.one_of(st.none(), st.integers(3, 120)),
    maxaveragebitrate=st.one_of(st.none(), st.integers(6_000, 510_000)),
    stereo=st.booleans(),
    sprop_stereo=st.booleans(),
    cbr=st.booleans(),
    useinbandfec=st.booleans(),
    usedtx=st.booleans(),
)


@settings(max_examples=500)
@given(_params)
def test_format_then_parse_is_the_identity(params: OpusParameters) -> None:
    assert OpusParameters.parse(params.format()) == params


@settings(max_examples=2000)
@given(st.text(alphabet="=;, -0123456789abcdefimnoprstuvxyABC\t", max_size=60))
def test_any_text_parses_or_raises_only_opus_parameter_error(line: str) -> None:
    try:
        params = OpusParameters.parse(line)
    except OpusParseError:
        return
    # Whatever was read writes back to a line that reads the same (less the two SDP
    # attributes that do not belong in fmtp).
    assert OpusParameters.parse(params.format()) == replace(params, ptime=None, maxptime=None)
