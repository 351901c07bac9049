"""The caller's side of offer/answer: a browser-shaped audio offer, and reading the answer.

The transceiver only answers; this module exists for the synthetic callers of the load
generator and the tests, which must place calls the way a browser does (JSEP, RFC 9429
§5.2.1 for the offer's shape) so that the transceiver cannot tell them apart from one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from voice.sdp.attributes import (
    Candidate,
    RtpMap,
    Setup,
    check_ice_pwd,
    check_ice_ufrag,
    parse_candidate,
)
from voice.sdp.description import SessionDescription
from voice.sdp.errors import UnsupportedOffer
from voice.sdp.offer import OPUS_CHANNELS, OPUS_RATE, _fingerprints, _media_or_session, _read

#: The payload type browsers use for Opus; any dynamic number would do.
OPUS_PAYLOAD_TYPE = 111


def build_offer(
    *,
    ice_ufrag: str,
    ice_pwd: str,
    fingerprint: tuple[str, str],
    ssrc: int,
    cname: str,
    opus_payload_type: int = OPUS_PAYLOAD_TYPE,
    opus_fmtp: str = "minptime=10;useinbandfec=1",
    session_id: int | None = None,
) -> str:
    """One sendrecv Opus audio m-line, bundled, rtcp-mux, DTLS actpass: a browser's offer.

    An ICE-lite answerer needs none of our candidates (it learns our address from our
    checks), so the offer carries none and the port is the discard port 9, as JSEP writes
    it before gathering (RFC 9429 §5.2.1).
    """
    check_ice_ufrag(ice_ufrag)
    check_ice_pwd(ice_pwd)
    sid = secrets.randbelow(1 << 62) if session_id is None else session_id
    algorithm, value = fingerprint
    lines = [
        "v=0",
        f"o=- {sid} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0",
        f"m=audio 9 UDP/TLS/RTP/SAVPF {opus_payload_type}",
        "c=IN IP4 0.0.0.0",
        f"a=ice-ufrag:{ice_ufrag}",
        f"a=ice-pwd:{ice_pwd}",
        f"a=fingerprint:{algorithm} {value}",
        "a=setup:actpass",
        "a=mid:0",
        "a=sendrecv",
        "a=rtcp-mux",
        f"a=rtpmap:{opus_payload_type} opus/48000/2",
        f"a=fmtp:{opus_payload_type} {opus_fmtp}",
        f"a=ssrc:{ssrc} cname:{cname}",
    ]
    return "\r\n".join(lines) + "\r\n"


@dataclass(frozen=True, slots=True)
class AudioAnswer:
    """What a caller needs from the answer: where to send, and how to authenticate."""

    remote_ufrag: str
    remote_pwd: str = field(repr=False)
    remote_fingerprints: list[tuple[str, str]] = field(default_factory=list)
    opus_payload_type: int = OPUS_PAYLOAD_TYPE
    candidates: list[Candidate] = field(default_factory=list)
    ice_lite: bool = False
    #: The answerer's DTLS role: passive (it is the server, we connect) or active.
    setup: Setup = Setup.PASSIVE

    @property
    def address(self) -> tuple[str, int]:
        """The first UDP candidate with an IP address: where the caller sends its checks."""
        for candidate in self.candidates:
            if candidate.transport.lower() == "udp" and candidate.ip is not None:
                return candidate.address, candidate.port
        raise UnsupportedOffer("the answer has no UDP candidate with an IP address")


def analyze_answer(answer: SessionDescription) -> AudioAnswer:
    """Reads the accepted audio m-line of an answer to :func:`build_offer`."""
    audio = [m for m in answer.media if m.media == "audio" and m.port != 0]
    if not audio:
        raise UnsupportedOffer("the answer accepts no audio m-line")
    media = audio[0]
    ufrag = _media_or_session(answer, media, "ice-ufrag")
    pwd = _media_or_session(answer, media, "ice-pwd")
    if ufrag is None or pwd is None:
        raise UnsupportedOffer("the answer has no ICE credentials")
    setup_attribute = _media_or_session(answer, media, "setup")
    # RFC 8842 §5.3: our offer said actpass, so the answerer picks: passive (it listens, we
    # are the DTLS client) or active (it connects, we are the server). Nothing else.
    setup = _read(setup_attribute, Setup.parse) if setup_attribute else None
    if setup not in (Setup.PASSIVE, Setup.ACTIVE):
        raise UnsupportedOffer("the answer to an actpass offer must say setup:passive or active")
    opus = [
        rtpmap.payload_type
        for rtpmap in (_read(a, RtpMap.parse) for a in media.attributes("rtpmap"))
        if rtpmap.is_codec("opus", OPUS_RATE, OPUS_CHANNELS)
    ]
    if not opus:
        raise UnsupportedOffer("the answer accepts no Opus")
    return AudioAnswer(
        remote_ufrag=_read(ufrag, check_ice_ufrag),
        remote_pwd=_read(pwd, check_ice_pwd),
        remote_fingerprints=_fingerprints(answer, media),
        opus_payload_type=opus[0],
        candidates=[_read(a, parse_candidate) for a in media.attributes("candidate")],
        ice_lite=answer.has_attribute("ice-lite"),
        setup=setup,
    )
