"""SDP for a WebRTC audio server, sans-IO: parse an offer, decide, write the answer.

Plain strings in and out; no sockets, no clocks. A signaling handler does::

    from voice.errors import RemoteProtocolError
    from voice.sdp import analyze_offer, build_answer, parse

    try:
        offer = parse(body)                  # RFC 8866 syntax; SdpParseError names the line
        audio = analyze_offer(offer)         # UnsupportedOffer names what is missing
    except RemoteProtocolError as exc:       # the peer's fault; SdpUsageError is ours
        return 400, str(exc)
    answer = build_answer(
        offer, audio,
        ice_ufrag=ufrag, ice_pwd=pwd,                       # ours (RFC 8839)
        fingerprint=("sha-256", cert_fingerprint),          # ours (RFC 8122)
        candidates=["1 1 udp 2130706431 203.0.113.7 3478 typ host"],
        ssrc=ssrc, cname=cname,
    )

and hands ``audio.remote_ufrag``, ``audio.remote_pwd`` and ``audio.remote_fingerprints`` to
the ICE and DTLS layers. The modules: :mod:`~voice.sdp.description` (lines, parse,
serialize), :mod:`~voice.sdp.attributes` (typed attribute values),
:mod:`~voice.sdp.offer` (:func:`analyze_offer`), :mod:`~voice.sdp.answer`
(:func:`build_answer`).
"""

from voice.sdp.answer import build_answer
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
)
from voice.sdp.caller import AudioAnswer, analyze_answer, build_offer
from voice.sdp.description import (
    Attribute,
    Connection,
    Line,
    MediaDescription,
    MediaLine,
    Origin,
    SessionDescription,
    parse,
)
from voice.sdp.errors import SdpError, SdpParseError, SdpUsageError, UnsupportedOffer
from voice.sdp.limits import OfferLimits, check_offer_limits
from voice.sdp.offer import AudioOffer, analyze_offer

__all__ = [
    "Attribute",
    "AudioAnswer",
    "AudioOffer",
    "Candidate",
    "Connection",
    "Direction",
    "ExtMap",
    "Fingerprint",
    "Fmtp",
    "Group",
    "Line",
    "MediaDescription",
    "MediaLine",
    "OfferLimits",
    "Origin",
    "RtpMap",
    "SdpError",
    "SdpParseError",
    "SdpUsageError",
    "SessionDescription",
    "Setup",
    "SsrcAttribute",
    "UnsupportedOffer",
    "analyze_answer",
    "analyze_offer",
    "build_answer",
    "build_offer",
    "check_offer_limits",
    "parse",
]
