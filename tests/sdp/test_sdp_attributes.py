"""Tests of voice.sdp.attributes: the typed attribute values an answerer reads and writes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import voice.ice
from voice.sdp import SdpParseError
from voice.sdp.attributes import (
    Candidate,
    Direction,
    ExtMap,
    Fingerprint,
    Fmtp,
    Group,
    RtpMap,
    Setup,
    SsrcAttribute,
    check_ice_pwd,
    check_ice_ufrag,
    check_mid,
    parse_candidate,
    parse_ice_options,
)

SHA256 = ":".join(f"{b:02X}" for b in range(32))


def test_rtpmap() -> None:
    opus = RtpMap.parse("111 opus/48000/2")
    assert opus == RtpMap(111, "opus", 48000, "2")
    assert opus.is_codec("opus", 48000, 2)
    assert opus.is_codec("OPUS", 48000)  # media subtype names compare case-insensitively
    assert not opus.is_codec("opus", 48000, 1)
    assert not opus.is_codec("opus", 16000)
    assert str(opus) == "111 opus/48000/2"
    pcmu = RtpMap.parse("0 PCMU/8000")
    assert pcmu.encoding_parameters is None
    assert str(pcmu) == "0 PCMU/8000"


@pytest.mark.parametrize(
    "value",
    ["111", "128 opus/48000/2", "x opus/48000", "111 opus", "111 opus/fast", "111 op(us/48000",
     "111 opus/48000/"],
)  # fmt: skip
def test_rtpmap_errors(value: str) -> None:
    with pytest.raises(SdpParseError):
        RtpMap.parse(value)


def test_fmtp() -> None:
    fmtp = Fmtp.parse("111 minptime=10;useinbandfec=1")
    assert fmtp == Fmtp("111", "minptime=10;useinbandfec=1")
    assert str(fmtp) == "111 minptime=10;useinbandfec=1"
    for bad in ("111", "111 ", " minptime=10"):
        with pytest.raises(SdpParseError):
            Fmtp.parse(bad)


def test_fingerprint_is_normalised() -> None:
    # RFC 8122 §5: hash names are case-insensitive (its own example says SHA-256); the
    # digest is upper-case hex pairs.
    fp = Fingerprint.parse("SHA-256 " + SHA256.lower())
    assert fp == Fingerprint("sha-256", SHA256)
    assert fp.as_tuple() == ("sha-256", SHA256)
    assert str(fp) == f"sha-256 {SHA256}"
    # An algorithm we do not know is kept with whatever length it has.
    assert Fingerprint.parse("sha3-256 AB:CD").value == "AB:CD"


@pytest.mark.parametrize(
    "value",
    [
        "sha-256",
        f"sha-256 {SHA256}:00",  # 33 bytes for a 32-byte hash
        "sha-1 " + ":".join(["AB"] * 32),
        "sha-256 " + SHA256.replace(":", ""),
        "sha-256 " + SHA256.replace("00", "0G"),
        "sha-256 " + SHA256.replace("00", "0"),
        f"sha(256) {SHA256}",
        f"sha-256  {SHA256}",
    ],
)
def test_fingerprint_errors(value: str) -> None:
    with pytest.raises(SdpParseError):
        Fingerprint.parse(value)


CHROME_HOST = "3738444404 1 udp 2122194687 127.0.0.1 40384 typ host generation 0 network-id 3"


def test_candidate_is_ices_and_its_errors_are_sdp_parse_errors() -> None:
    # One grammar (tests/ice/test_candidate.py has its cases); SDP only renames the error,
    # and the offer and answer readers add the line number (tests/sdp/test_sdp_offer.py).
    assert Candidate is voice.ice.Candidate
    assert parse_candidate(CHROME_HOST) == Candidate.parse(CHROME_HOST)
    assert str(parse_candidate(CHROME_HOST)) == CHROME_HOST
    with pytest.raises(SdpParseError) as info:
        parse_candidate("1 0 udp 1 127.0.0.1 9 typ host")
    assert "a=candidate" in str(info.value) and "component" in str(info.value)


def test_extmap() -> None:
    assert ExtMap.parse("1 urn:ietf:params:rtp-hdrext:ssrc-audio-level") == ExtMap(
        1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
    )
    with_direction = ExtMap.parse("2/recvonly urn:x vad=on")
    assert with_direction == ExtMap(2, "urn:x", Direction.RECVONLY, "vad=on")
    for bad in ("1", "0 urn:x", "256 urn:x", "1/sideways urn:x", "x urn:x"):
        with pytest.raises(SdpParseError):
            ExtMap.parse(bad)


def test_group_ssrc_and_mid() -> None:
    assert Group.parse("BUNDLE 0 1 2") == Group("BUNDLE", ("0", "1", "2"))
    assert str(Group("BUNDLE", ("a",))) == "BUNDLE a"
    assert Group.parse("BUNDLE") == Group("BUNDLE", ())
    with pytest.raises(SdpParseError):
        Group.parse("BUNDLE 0  1")
    assert SsrcAttribute.parse("4115503856 cname:37a/kAZKSC3I+UvZ") == SsrcAttribute(
        4115503856, "cname", "37a/kAZKSC3I+UvZ"
    )
    assert SsrcAttribute.parse("1 label").value is None
    for bad in ("4294967296 cname:x", "1", "x cname:y"):
        with pytest.raises(SdpParseError):
            SsrcAttribute.parse(bad)
    assert check_mid("audio0") == "audio0"
    with pytest.raises(SdpParseError):
        check_mid("a b")


def test_ice_credentials_and_options() -> None:
    # RFC 8839 §5.4: ufrag 4-256 ice-chars, pwd 22-256 ice-chars.
    assert check_ice_ufrag("Gv5t") == "Gv5t"
    assert check_ice_ufrag("a+/b" * 64) == "a+/b" * 64
    assert check_ice_pwd("8Ojbaq2b2Zl3TV7DtaJjPR") == "8Ojbaq2b2Zl3TV7DtaJjPR"
    for bad_ufrag in ("abc", "a" * 257, "ab:c", "abc-", "abcé"):
        with pytest.raises(SdpParseError):
            check_ice_ufrag(bad_ufrag)
    for bad_pwd in ("a" * 21, "a" * 257, "a" * 21 + "-"):
        with pytest.raises(SdpParseError):
            check_ice_pwd(bad_pwd)
    assert parse_ice_options("trickle ice2") == ["trickle", "ice2"]
    with pytest.raises(SdpParseError):
        parse_ice_options("trickle  ice2")


def test_setup_values() -> None:
    assert Setup.parse("actpass") is Setup.ACTPASS
    assert Setup("passive") is Setup.PASSIVE
    with pytest.raises(SdpParseError):
        Setup.parse("server")


D = Direction


@pytest.mark.parametrize(
    ("offered", "wanted", "answer"),
    [
        # RFC 3264 §6.1: sendonly is answered recvonly or inactive; recvonly with sendonly
        # or inactive; inactive with inactive; sendrecv with anything.
        (D.SENDRECV, None, D.SENDRECV),
        (D.SENDONLY, None, D.RECVONLY),
        (D.RECVONLY, None, D.SENDONLY),
        (D.INACTIVE, None, D.INACTIVE),
        (D.SENDRECV, D.RECVONLY, D.RECVONLY),
        (D.SENDRECV, D.SENDONLY, D.SENDONLY),
        (D.SENDRECV, D.INACTIVE, D.INACTIVE),
        (D.SENDONLY, D.SENDRECV, D.RECVONLY),
        (D.SENDONLY, D.SENDONLY, D.INACTIVE),
        (D.RECVONLY, D.RECVONLY, D.INACTIVE),
        (D.INACTIVE, D.SENDRECV, D.INACTIVE),
    ],
)
def test_direction_answer_follows_rfc3264(
    offered: Direction, wanted: Direction | None, answer: Direction
) -> None:
    assert offered.answer(wanted) is answer


def test_every_answer_is_allowed_by_the_offer() -> None:
    for offered in Direction:
        for wanted in Direction:
            answer = offered.answer(wanted)
            assert not answer.sends or offered.receives
            assert not answer.receives or offered.sends


PARSERS: list[Callable[[str], object]] = [
    RtpMap.parse,
    Fmtp.parse,
    Fingerprint.parse,
    parse_candidate,
    ExtMap.parse,
    Group.parse,
    SsrcAttribute.parse,
    Setup.parse,
    check_mid,
    check_ice_ufrag,
    check_ice_pwd,
    parse_ice_options,
]

VALUE_CHARS = st.sampled_from(list(" :/.-+0123456789abcdefABCDEFtyphostrxsnd٣\x00"))


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(PARSERS), st.text(max_size=60) | st.text(VALUE_CHARS, max_size=90))
def test_attribute_parsers_raise_only_sdp_parse_error(
    parser: Callable[[str], object], value: str
) -> None:
    with contextlib.suppress(SdpParseError):
        parser(value)
