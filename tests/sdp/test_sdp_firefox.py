"""Real Firefox 153 offers (tests/data/firefox-153-audio-offer*.sdp, written by
make_firefox_offer.py from a call placed by the demo page) read and answered.

Firefox shapes its offer unlike Chromium: the fingerprint and a direction at session
level, Opus on payload type 109 with ``stereo=1``, ``telephone-event/8000`` without a
channel count, an ``a=extmap`` with a direction, and it trickles: the offer the page posts
has no candidate at all (port 9, ``c=IN IP4 0.0.0.0``). After gathering the same offer
carries upper-case ``UDP``/``TCP`` candidates for two components and an ``a=rtcp`` line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from voice.sdp import Direction, Setup, analyze_offer, build_answer, parse

DATA = Path(__file__).parents[1] / "data"
POSTED = (DATA / "firefox-153-audio-offer.sdp").read_bytes().decode()
GATHERED = (DATA / "firefox-153-audio-offer-gathered.sdp").read_bytes().decode()

FINGERPRINT = (
    "sha-256",
    "E9:B3:F5:A9:5E:73:2B:AA:31:DE:9B:B8:5D:BE:27:82:"
    "6A:BA:0B:A9:39:6D:AF:CA:3F:BF:5B:71:D3:A3:B1:F8",
)
LOCAL = {
    "ice_ufrag": "Vo1c",
    "ice_pwd": "Pa55w0rdPa55w0rdPa55w0",
    "fingerprint": ("sha-256", ":".join(f"{b:02X}" for b in range(100, 132))),
    "candidates": ["1 1 udp 2130706431 127.0.0.1 50000 typ host"],
    "ssrc": 0x1234ABCD,
    "cname": "voice-edge",
    "session_id": 4242,
}


@pytest.mark.parametrize("text", [POSTED, GATHERED], ids=["posted", "gathered"])
def test_what_we_read_from_a_real_firefox_offer(text: str) -> None:
    audio = analyze_offer(parse(text))
    assert (audio.mid, audio.index, audio.proto) == ("0", 0, "UDP/TLS/RTP/SAVPF")
    assert audio.opus_payload_type == 109
    assert audio.opus_fmtp == "maxplaybackrate=48000;stereo=1;useinbandfec=1"
    assert audio.remote_ufrag == "b23abdcc"
    # RFC 8122 §5: the session-level fingerprint covers the m-line, which has none.
    assert audio.remote_fingerprints == [FINGERPRINT]
    assert audio.setup is Setup.ACTPASS
    assert audio.direction is Direction.SENDRECV
    assert audio.bundle_mids == ["0"]
    assert audio.ice_options == ["trickle"]
    assert audio.remote_ssrc == 896816017
    assert audio.extmap[2] == "urn:ietf:params:rtp-hdrext:csrc-audio-level"  # "2/recvonly"
    # Only telephone-event/8000 is offered; we would take DTMF events only at 48 kHz.
    assert audio.telephone_event_pt is None


def test_the_posted_offer_has_no_candidates_and_the_gathered_one_has_eight() -> None:
    assert analyze_offer(parse(POSTED)).remote_candidates == []
    candidates = analyze_offer(parse(GATHERED)).remote_candidates
    assert [(c.component, c.transport, c.address, c.port) for c in candidates] == [
        (1, "UDP", "127.0.0.1", 38079),
        (1, "UDP", "::1", 34980),
        (1, "TCP", "127.0.0.1", 9),
        (1, "TCP", "::1", 9),
        (2, "UDP", "127.0.0.1", 33828),
        (2, "UDP", "::1", 37340),
        (2, "TCP", "127.0.0.1", 9),
        (2, "TCP", "::1", 9),
    ]
    assert candidates[2].extensions == (("tcptype", "active"),)


@pytest.mark.parametrize("text", [POSTED, GATHERED], ids=["posted", "gathered"])
def test_our_answer_to_a_real_firefox_offer(text: str) -> None:
    offer = parse(text)
    audio = analyze_offer(offer)
    answer_text = build_answer(offer, audio, **LOCAL)  # type: ignore[arg-type]
    answer = parse(answer_text)
    assert parse(answer.serialize()) == answer
    assert [a.name for a in answer.attributes()] == ["ice-lite", "group"]
    assert answer.attribute("group") == "BUNDLE 0"
    (media,) = answer.media
    # Firefox's payload type for Opus is answered as is, and nothing else of its list.
    assert str(media.lines[0]) == "m=audio 50000 UDP/TLS/RTP/SAVPF 109"
    assert media.attribute("rtpmap") == "109 opus/48000/2"
    assert media.attribute("fmtp") == "109 minptime=10;useinbandfec=1"
    assert media.attribute("mid") == "0"
    assert media.has_attribute("sendrecv")
    assert media.has_attribute("rtcp-mux")
    assert not media.has_attribute("rtcp")  # Firefox's a=rtcp port is not ours to echo
    assert media.attribute("setup") == "passive"  # we are the DTLS server to its client
    # None of its extensions is claimed: the answer names only what we implement.
    for absent in ("extmap", "extmap-allow-mixed", "rtcp-fb", "ice-options"):
        assert not media.has_attribute(absent)
        assert not answer.has_attribute(absent)
    assert [a.value for a in media.attributes("candidate")] == LOCAL["candidates"]
