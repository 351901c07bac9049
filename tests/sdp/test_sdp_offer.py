"""Tests of voice.sdp.offer: which audio m-line we accept and what we read from the offer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.sdp import (
    AudioOffer,
    Direction,
    SdpError,
    SdpParseError,
    Setup,
    UnsupportedOffer,
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


def analyze(text: str) -> AudioOffer:
    return analyze_offer(parse(text))


def edit(text: str, pattern: str, new: str = "", count: int = 0) -> str:
    """Replaces whole lines matching ``pattern`` (a regex) by ``new`` (deleted if empty)."""
    lines = text.split("\r\n")
    matches = [i for i, line in enumerate(lines) if re.fullmatch(pattern, line)]
    assert matches, f"no line matches {pattern!r}"
    for i in reversed(matches if not count else matches[:count]):
        if new:
            lines[i] = re.sub(pattern, new, lines[i])
        else:
            del lines[i]
    return "\r\n".join(lines)


def test_chromium_offer() -> None:
    audio = analyze(CHROMIUM)
    assert (audio.mid, audio.index, audio.proto) == ("0", 0, "UDP/TLS/RTP/SAVPF")
    assert audio.opus_payload_type == 111
    assert audio.opus_fmtp == "minptime=10;useinbandfec=1"
    assert (audio.remote_ufrag, audio.remote_pwd) == ("Gv5t", "8Ojbaq2b2Zl3TV7DtaJjPRW9")
    assert audio.remote_fingerprints == [
        (
            "sha-256",
            "E5:54:EE:3F:57:CD:B5:44:EA:E8:A6:B5:DF:42:E1:E2:"
            "5B:77:31:8C:29:85:8D:36:4A:AA:6E:FA:06:8D:8F:B8",
        )
    ]
    assert audio.setup is Setup.ACTPASS
    assert audio.direction is Direction.SENDRECV
    assert len(audio.remote_candidates) == 8
    first = audio.remote_candidates[0]
    assert (first.address, first.port, first.transport, first.type) == (
        "127.0.0.1",
        40384,
        "udp",
        "host",
    )
    assert {c.transport for c in audio.remote_candidates} == {"udp", "tcp"}
    assert audio.remote_ssrc == 4115503856
    assert audio.extmap == {
        1: "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        2: "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        3: "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        4: "urn:ietf:params:rtp-hdrext:sdes:mid",
    }
    assert audio.bundle_mids == ["0"]
    assert audio.ice_options == ["trickle"]
    assert audio.telephone_event_pt == 110  # telephone-event/48000, Opus's clock rate
    assert audio.tls_id is None


def test_the_ice_password_stays_out_of_reprs() -> None:
    audio = analyze(CHROMIUM)
    assert audio.remote_pwd not in repr(audio)


def test_aiortc_offer() -> None:
    audio = analyze(AIORTC)
    assert (audio.mid, audio.opus_payload_type, audio.opus_fmtp) == ("0", 96, "")
    assert [algorithm for algorithm, _ in audio.remote_fingerprints] == [
        "sha-256",
        "sha-384",
        "sha-512",
    ]
    assert audio.setup is Setup.ACTPASS
    assert [c.address for c in audio.remote_candidates] == ["192.0.2.2", "fd00::2"]
    assert audio.telephone_event_pt is None


def test_firefox_shaped_offer_uses_the_session_level_fingerprint() -> None:
    audio = analyze(FIREFOX)
    # RFC 8122 §5: a session-level fingerprint applies to m-lines that have none.
    half = "5F:4E:3D:2C:1B:0A:F9:E8:D7:C6:B5:A4:93:82:71:60"
    assert audio.remote_fingerprints == [("sha-256", f"{half}:{half}")]
    assert audio.setup is Setup.ACTPASS
    assert (audio.opus_payload_type, audio.remote_ufrag) == (109, "2b3c5d7e")
    assert audio.opus_fmtp == "maxplaybackrate=48000;stereo=1;useinbandfec=1"
    assert audio.telephone_event_pt is None  # only telephone-event/8000 is offered
    assert audio.extmap[2] == "urn:ietf:params:rtp-hdrext:csrc-audio-level"
    assert [c.transport for c in audio.remote_candidates] == ["UDP", "TCP"]
    assert audio.remote_ssrc == 2951229474


def test_chromium_offer_with_video_and_data() -> None:
    audio = analyze(CHROMIUM_AV)
    assert (audio.index, audio.mid, audio.opus_payload_type) == (0, "0", 111)
    assert audio.bundle_mids == ["0", "1", "2"]
    # With mDNS obfuscation the candidates carry host names, kept for information.
    assert audio.remote_candidates
    assert all(c.ip is None and c.address.endswith(".local") for c in audio.remote_candidates)


def test_video_first_offer() -> None:
    audio = analyze(VIDEO_FIRST)
    assert (audio.index, audio.mid) == (1, "a")
    assert audio.direction is Direction.SENDONLY
    assert audio.setup is Setup.ACTIVE
    assert audio.tls_id == "8d2f1c4b7a9e3f5d6c8b0a2e"
    assert audio.ice_options == ["trickle", "ice2"]
    assert audio.bundle_mids == ["v", "a", "d"]
    assert audio.extmap == {}
    srflx = audio.remote_candidates[1]
    assert (srflx.type, srflx.related_address, srflx.related_port) == ("srflx", "192.0.2.20", 50002)


def test_session_level_ice_credentials_are_the_default() -> None:
    # RFC 8839 §5.4: session-level credentials apply where the m-line has none ...
    text = edit(CHROMIUM, r"a=ice-ufrag:.*")
    text = edit(text, r"a=ice-pwd:.*")
    session_credentials = "a=ice-ufrag:SeSs\r\na=ice-pwd:" + "p" * 22 + "\r\n"
    text = text.replace("a=group:BUNDLE 0", session_credentials + "a=group:BUNDLE 0")
    audio = analyze(text)
    assert (audio.remote_ufrag, audio.remote_pwd) == ("SeSs", "p" * 22)
    # ... and media-level ones win over them.
    both = CHROMIUM.replace("a=group:BUNDLE 0", "a=ice-ufrag:SeSs\r\na=group:BUNDLE 0")
    assert analyze(both).remote_ufrag == "Gv5t"


def test_session_level_direction_and_setup_apply() -> None:
    text = edit(CHROMIUM, r"a=sendrecv")
    text = edit(text, r"a=setup:actpass")
    text = text.replace("a=group:BUNDLE 0", "a=setup:active\r\na=recvonly\r\na=group:BUNDLE 0")
    audio = analyze(text)
    assert audio.direction is Direction.RECVONLY
    assert audio.setup is Setup.ACTIVE


def test_missing_direction_means_sendrecv_and_missing_setup_means_active() -> None:
    audio = analyze(edit(edit(CHROMIUM, r"a=sendrecv"), r"a=setup:actpass"))
    assert audio.direction is Direction.SENDRECV
    assert audio.setup is Setup.ACTIVE


def test_offer_without_mid_or_bundle() -> None:
    audio = analyze(edit(edit(CHROMIUM, r"a=mid:0"), r"a=group:BUNDLE 0"))
    assert audio.mid is None
    assert audio.bundle_mids == []


def test_first_audio_m_line_with_opus_is_taken() -> None:
    # Two audio m-lines: the first has only PCMU, the second Opus.
    pcmu_only = edit(CHROMIUM, r"m=audio .*", "m=audio 40384 UDP/TLS/RTP/SAVPF 0")
    pcmu_only = edit(pcmu_only, r"a=mid:0", "a=mid:p")
    second = CHROMIUM.split("m=audio", 1)[1]
    audio = analyze(pcmu_only + "m=audio" + second)
    assert (audio.index, audio.mid) == (1, "0")


def test_plainer_rtp_profile_names_are_accepted() -> None:
    # RFC 9429 §5.1.2: RTP/SAVPF and friends are accepted and echoed in the answer.
    for proto in ("RTP/SAVPF", "UDP/TLS/RTP/SAVP", "RTP/AVP"):
        assert analyze(CHROMIUM.replace("UDP/TLS/RTP/SAVPF", proto)).proto == proto


MD5 = ":".join(["AB"] * 16)
UNSUPPORTED = [
    (CHROMIUM.replace("m=audio", "m=video"), "no audio m-line"),
    (edit(CHROMIUM, r"a=rtpmap:111 opus/48000/2"), "offers no Opus"),
    (CHROMIUM.replace("opus/48000/2", "opus/48000/1"), "offers no Opus"),
    (edit(CHROMIUM, r"m=audio .*", "m=audio 40384 UDP/TLS/RTP/SAVPF 0 8"), "offers no Opus"),
    (edit(CHROMIUM, r"a=fingerprint:.*"), "no a=fingerprint"),
    (edit(CHROMIUM, r"a=fingerprint:.*", f"a=fingerprint:md5 {MD5}"), "MD2/MD5"),
    (edit(CHROMIUM, r"a=ice-ufrag:.*"), "no a=ice-ufrag"),
    (edit(CHROMIUM, r"a=ice-pwd:.*"), "no a=ice-pwd"),
    (edit(CHROMIUM, r"a=rtcp-mux"), "no a=rtcp-mux"),
    (CHROMIUM.replace("a=setup:actpass", "a=setup:passive"), "a=setup:passive"),
    (CHROMIUM.replace("a=setup:actpass", "a=setup:holdconn"), "holdconn"),
    (CHROMIUM.replace("UDP/TLS/RTP/SAVPF", "TCP/DTLS/RTP/SAVPF"), "uses TCP/DTLS/RTP/SAVPF"),
    (CHROMIUM.replace("m=audio 40384", "m=audio 0"), "audio m-line 0 is disabled (port 0)"),
    (
        CHROMIUM.replace("m=audio 40384", "m=audio 0").replace(
            "a=mid:0", "a=mid:0\r\na=bundle-only"
        ),
        "bundle-only (port 0)",
    ),
    (CHROMIUM.replace("a=group:BUNDLE 0", "a=ice-lite\r\na=group:BUNDLE 0"), "ICE-lite too"),
]


@pytest.mark.parametrize(("text", "reason"), UNSUPPORTED)
def test_unsupported_offers_name_the_missing_piece(text: str, reason: str) -> None:
    with pytest.raises(UnsupportedOffer) as info:
        analyze(text)
    assert reason in info.value.reason
    assert isinstance(info.value, SdpError)


MALFORMED = [
    (CHROMIUM.replace("a=ice-ufrag:Gv5t", "a=ice-ufrag:Gv5"), "ice-ufrag", 19),
    (CHROMIUM.replace("a=ice-pwd:8Ojbaq2b", "a=ice-pwd:8Ojb-q2b"), "ice-pwd", 20),
    (CHROMIUM.replace("sha-256 E5:54", "sha-256 E5:5"), "fingerprint", 22),
    (CHROMIUM.replace("a=setup:actpass", "a=setup:maybe"), "setup", 23),
    (CHROMIUM.replace("a=rtpmap:111 opus", "a=rtpmap:1x1 opus"), "payload type", 34),
    (CHROMIUM.replace("a=fmtp:111 minptime", "a=fmtp:111minptime"), "fmtp", 36),
    (CHROMIUM.replace("UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF x 111"), "payload type", 8),
    (
        CHROMIUM.replace("a=ice-ufrag:Gv5t", "a=ice-ufrag:Gv5t\r\na=ice-ufrag:Gv5t"),
        "second a=ice-ufrag",
        20,
    ),
    (CHROMIUM.replace("a=sendrecv", "a=sendrecv\r\na=recvonly"), "direction", 30),
    (CHROMIUM.replace("a=mid:0", "a=mid:0 1"), "mid", 24),
    (
        CHROMIUM.replace("typ host generation 0 network-id 3 network-cost 50", "typ"),
        "candidate",
        11,
    ),
    (CHROMIUM.replace("a=extmap:2 ", "a=extmap:1 "), "extmap id 1", 26),
    (CHROMIUM.replace("a=group:BUNDLE 0", "a=group:BUNDLE 0\r\na=group:BUNDLE 0"), "two BUNDLE", 6),
    (CHROMIUM.replace("a=ssrc:4115503856 cname", "a=ssrc:x cname"), "ssrc", 45),
    (CHROMIUM.replace("a=ice-options:trickle", "a=ice-options:tri-ckle"), "ice-options", 21),
    (CHROMIUM.replace("a=rtpmap:126", "a=rtpmap:111"), "second a=rtpmap", 44),
]


@pytest.mark.parametrize(("text", "fragment", "line"), MALFORMED)
def test_malformed_attributes_we_read_are_parse_errors(
    text: str, fragment: str, line: int | None
) -> None:
    with pytest.raises(SdpParseError) as info:
        analyze(text)
    assert fragment in str(info.value)
    assert info.value.line == line


# -- fuzzing the whole path: offer text -> parse -> analyze -> build_answer ------------------

OFFERS = [CHROMIUM, CHROMIUM_AV, AIORTC, FIREFOX, VIDEO_FIRST]
NOISE = st.text(st.sampled_from(list(" :/=.-0123456789abcdefABCDEFsha-udp\r\n\x00٣")), max_size=8)
CANDIDATE = "1 1 udp 2130706431 127.0.0.1 50000 typ host"


@st.composite
def mutated_offer(draw: st.DrawFn) -> str:
    """A real offer with a few lines deleted, duplicated, moved, or with their value edited."""
    lines = draw(st.sampled_from(OFFERS)).split("\r\n")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "move", "edit", "edit"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(draw(st.integers(0, len(lines))), lines[i])
        elif op == "move":
            lines.insert(draw(st.integers(0, len(lines))), lines.pop(i))
        else:
            at = draw(st.integers(min(2, len(lines[i])), len(lines[i])))
            lines[i] = lines[i][:at] + draw(NOISE) + lines[i][at + draw(st.integers(0, 4)) :]
        if not lines:
            lines = [""]
    return "\r\n".join(lines)


@settings(max_examples=1500, deadline=None)
@given(mutated_offer())
def test_mutated_offers_raise_only_sdp_errors_and_answers_always_build(text: str) -> None:
    try:
        offer = parse(text)
        audio = analyze_offer(offer)
    except SdpError:
        return
    answer = build_answer(
        offer,
        audio,
        ice_ufrag="ufrg",
        ice_pwd="p" * 22,
        fingerprint=("sha-256", ":".join(["AB"] * 32)),
        candidates=[CANDIDATE],
        ssrc=1,
        cname="c",
    )
    assert len(parse(answer).media) == len(offer.media)
