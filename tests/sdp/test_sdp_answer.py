"""Tests of voice.sdp.answer: the JSEP answer (RFC 9429 §5.3.1) an ICE-lite DTLS server writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voice.errors import LocalProtocolError, RemoteProtocolError
from voice.sdp import (
    AudioOffer,
    Candidate,
    Fingerprint,
    SessionDescription,
    analyze_offer,
    build_answer,
    parse,
)

DATA = Path(__file__).parents[1] / "data"


def load(name: str) -> str:
    return (DATA / name).read_bytes().decode()


CHROMIUM = load("chromium-156-audio-offer.sdp")
CHROMIUM_AV = load("chromium-156-audio-video-data-offer.sdp")
AIORTC = load("aiortc-1.16-audio-offer.sdp")
FIREFOX = load("firefox-shaped-audio-offer.sdp")
VIDEO_FIRST = load("video-first-offer.sdp")

FINGERPRINT = ("sha-256", ":".join(f"{b:02X}" for b in range(100, 132)))
HOST = "1 1 udp 2130706431 127.0.0.1 50000 typ host"
LOCAL: dict[str, Any] = {
    "ice_ufrag": "Vo1c",
    "ice_pwd": "Pa55w0rdPa55w0rdPa55w0",
    "fingerprint": FINGERPRINT,
    "candidates": [HOST],
    "ssrc": 0x1234ABCD,
    "cname": "voice-edge",
    "session_id": 4242,
}


def answer_to(text: str, **overrides: Any) -> tuple[SessionDescription, AudioOffer, str]:
    offer = parse(text)
    audio = analyze_offer(offer)
    answer = build_answer(offer, audio, **{**LOCAL, **overrides})
    return offer, audio, answer


def names(lines: SessionDescription | Any) -> list[str]:
    return [a.name for a in lines.attributes()]


def test_answer_to_chromium() -> None:
    offer, audio, text = answer_to(CHROMIUM)
    answer = parse(text)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    # RFC 9429 §5.2.1 via §5.3.1: v=0, "-" user, our session id, s=-, t=0 0.
    assert [str(line) for line in answer.lines[:4]] == [
        "v=0",
        "o=- 4242 2 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
    ]
    # RFC 8839 §4.2.1.4: ice-lite at session level; RFC 9143 §7.3: the BUNDLE group.
    assert names(answer) == ["ice-lite", "group"]
    assert answer.attribute("group") == "BUNDLE 0"
    (media,) = answer.media
    assert str(media.lines[0]) == "m=audio 50000 UDP/TLS/RTP/SAVPF 111"
    assert str(media.lines[1]) == "c=IN IP4 127.0.0.1"
    assert media.attribute("mid") == "0"
    assert media.has_attribute("sendrecv")
    assert media.has_attribute("rtcp-mux")
    assert media.attribute("ice-ufrag") == "Vo1c"
    assert media.attribute("ice-pwd") == "Pa55w0rdPa55w0rdPa55w0"
    assert Fingerprint.parse(media.attribute("fingerprint") or "").as_tuple() == FINGERPRINT
    assert media.attribute("setup") == "passive"  # RFC 8842 §5.3: we are the DTLS server
    assert media.attribute("rtpmap") == "111 opus/48000/2"
    assert media.attribute("fmtp") == "111 minptime=10;useinbandfec=1"
    assert media.attribute("ssrc") == "305441741 cname:voice-edge"
    assert media.attribute("msid") == "voice"
    assert [Candidate.parse(a.value or "") for a in media.attributes("candidate")] == [
        Candidate.parse(HOST)
    ]
    assert names(media)[-1] == "end-of-candidates"
    # Nothing we do not implement is claimed (see the module docstring).
    for absent in ("extmap", "rtcp-fb", "rtcp-rsize", "ice-options", "tls-id", "bundle-only"):
        assert not media.has_attribute(absent)
        assert not answer.has_attribute(absent)
    assert audio.opus_payload_type == 111
    assert len(offer.media) == 1


def test_answer_round_trips_through_the_parser() -> None:
    _, _, text = answer_to(CHROMIUM)
    assert parse(text).serialize() == text


def test_answers_to_every_sample_offer_are_well_formed() -> None:
    for text in (CHROMIUM, CHROMIUM_AV, AIORTC, FIREFOX, VIDEO_FIRST):
        offer, audio, answer_text = answer_to(text)
        answer = parse(answer_text)
        # RFC 3264 §6: as many m-lines as the offer, same media types and protos, same order.
        for answered, offered in zip(answer.media, offer.media, strict=True):
            assert (answered.media, answered.proto) == (offered.media, offered.proto)
            assert answered.attribute("mid") == offered.attribute("mid")
        accepted = [i for i, m in enumerate(answer.media) if m.port != 0]
        assert accepted == [audio.index]


def test_other_m_lines_are_rejected_and_leave_the_bundle_group() -> None:
    _, audio, text = answer_to(CHROMIUM_AV)
    answer = parse(text)
    assert audio.bundle_mids == ["0", "1", "2"]
    assert answer.attribute("group") == "BUNDLE 0"  # RFC 9143 §7.3.3
    _, video, data = answer.media
    # RFC 3264 §6: port 0, media type and proto kept, one of the offered formats.
    assert str(video.lines[0]) == "m=video 0 UDP/TLS/RTP/SAVPF 96"
    assert str(data.lines[0]) == "m=application 0 UDP/DTLS/SCTP webrtc-datachannel"
    for rejected, mid in ((video, "1"), (data, "2")):
        assert str(rejected.lines[1]) == "c=IN IP4 0.0.0.0"
        assert names(rejected) == ["mid"]
        assert rejected.attribute("mid") == mid


def test_video_first_offer_mirrors_direction_and_answers_tls_id() -> None:
    offer, audio, text = answer_to(VIDEO_FIRST)
    answer = parse(text)
    assert audio.index == 1
    assert answer.attribute("group") == "BUNDLE a"
    assert answer.attribute("ice-options") == "ice2"  # RFC 9429 §5.3.1: ice2 echoed
    video, media, data = answer.media
    assert video.port == 0 and data.port == 0
    assert str(media.lines[0]) == "m=audio 50000 UDP/TLS/RTP/SAVPF 111"
    # RFC 3264 §6.1: sendonly is answered recvonly; we send nothing, so no ssrc/msid.
    assert media.has_attribute("recvonly")
    assert not media.has_attribute("ssrc")
    assert not media.has_attribute("msid")
    # RFC 8842 §5.3: the offer has a tls-id, so the answer has one of its own.
    tls_id = media.attribute("tls-id") or ""
    assert len(tls_id) >= 20 and tls_id != audio.tls_id
    given = build_answer(offer, audio, **LOCAL, tls_id="t" * 20)
    assert parse(given).media[1].attribute("tls-id") == "t" * 20


@pytest.mark.parametrize(
    ("offered", "wanted", "answered"),
    [
        ("sendrecv", None, "sendrecv"),
        ("sendrecv", "recvonly", "recvonly"),
        ("sendonly", None, "recvonly"),
        ("recvonly", None, "sendonly"),
        ("inactive", None, "inactive"),
        ("sendonly", "sendrecv", "recvonly"),
    ],
)
def test_direction(offered: str, wanted: str | None, answered: str) -> None:
    _, _, text = answer_to(CHROMIUM.replace("a=sendrecv", f"a={offered}"), direction=wanted)
    assert parse(text).media[0].has_attribute(answered)


def test_ipv6_default_candidate_and_candidate_forms() -> None:
    v6 = "2 1 udp 2130706431 ::1 50002 typ host"
    _, _, text = answer_to(CHROMIUM, candidates=["a=candidate:" + v6, "candidate:" + HOST, HOST])
    media = parse(text).media[0]
    assert str(media.lines[0]).startswith("m=audio 50002 ")
    assert str(media.lines[1]) == "c=IN IP6 ::1"
    assert [a.value for a in media.attributes("candidate")] == [v6, HOST, HOST]


def test_optional_lines() -> None:
    _, _, text = answer_to(AIORTC, opus_fmtp="", maxptime=60, stream_id="agent-1")
    media = parse(text).media[0]
    assert not media.has_attribute("fmtp")
    assert media.attribute("maxptime") == "60"
    assert media.attribute("msid") == "agent-1"


def test_offer_without_mid_gets_no_mid_and_no_group() -> None:
    text = CHROMIUM.replace("a=mid:0\r\n", "").replace("a=group:BUNDLE 0\r\n", "")
    _, audio, answer_text = answer_to(text)
    answer = parse(answer_text)
    assert audio.mid is None
    assert not answer.has_attribute("group")
    assert not answer.media[0].has_attribute("mid")


def test_session_id_is_random_63_bits_by_default() -> None:
    offer = parse(CHROMIUM)
    audio = analyze_offer(offer)
    local = {**LOCAL}
    del local["session_id"]
    ids = {parse(build_answer(offer, audio, **local)).origin.session_id for _ in range(5)}
    assert len(ids) == 5
    assert all(0 <= i < 2**63 - 1 for i in ids)


BAD_LOCAL: list[tuple[str, Any]] = [
    ("ice_ufrag", "abc"),
    ("ice_ufrag", "a" * 33),  # RFC 8839 §5.4: at most 32 characters when sending
    ("ice_ufrag", "ab:c"),
    ("ice_pwd", "short"),
    ("fingerprint", ("sha-256", "AB:CD")),
    ("fingerprint", ("md5", ":".join(["AB"] * 16))),
    ("candidates", []),
    ("candidates", ["1 1 udp 1 host.local 9 typ host"]),  # RFC 8839 §5.1: no FQDN
    ("candidates", ["1 1 tcp 1 127.0.0.1 9 typ host"]),
    ("candidates", ["not a candidate"]),
    ("ssrc", -1),
    ("ssrc", 2**32),
    ("cname", ""),
    ("cname", "a\r\nb=evil"),
    ("session_id", 2**63),
    ("session_id", 2**63 - 1),  # RFC 9429 §5.2.1: strictly below 2**63 - 1
    ("opus_fmtp", "minptime=10\r\na=evil"),
    ("direction", "sideways"),
    ("stream_id", "has space"),
    ("maxptime", 0),
    ("tls_id", "short"),
]


@pytest.mark.parametrize(("name", "value"), BAD_LOCAL)
def test_bad_local_parameters_are_the_callers_bug(name: str, value: Any) -> None:
    offer = parse(CHROMIUM)
    audio = analyze_offer(offer)
    with pytest.raises(ValueError) as info:
        build_answer(offer, audio, **{**LOCAL, name: value})
    assert isinstance(info.value, LocalProtocolError)
    assert not isinstance(info.value, RemoteProtocolError)  # never a 400 for our own bug


def test_audio_must_describe_this_offer() -> None:
    offer = parse(CHROMIUM_AV)
    audio = analyze_offer(offer)
    with pytest.raises(ValueError):
        build_answer(parse(CHROMIUM), analyze_offer(parse(VIDEO_FIRST)), **LOCAL)
    with pytest.raises(ValueError):
        build_answer(offer, analyze_offer(parse(VIDEO_FIRST)), **LOCAL)  # index 1 is video
    assert build_answer(offer, audio, **LOCAL)
