"""Reading a browser's offer: which audio m-line we take, and everything needed to answer it.

:func:`analyze_offer` picks the first audio m-line that offers Opus and collects what the
transceiver needs from the offer into an :class:`AudioOffer`: the remote ICE credentials,
the remote DTLS fingerprints and role, the Opus payload type, the direction, the BUNDLE
group. Whatever stops us from serving the call becomes an :class:`UnsupportedOffer` whose
message names the missing piece; a malformed attribute we need becomes an
:class:`SdpParseError` naming its line.

Attributes may sit at the session level or in the m-line: for those valid at both levels the
media-level value wins and the session-level one is the default (RFC 9429 §5.3.1, and the
attribute definitions of RFC 8839 §5.4 and RFC 8122 §5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from voice.sdp._syntax import is_token, number
from voice.sdp.attributes import (
    FORBIDDEN_HASHES,
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
from voice.sdp.description import Attribute, MediaDescription, SessionDescription, _Section
from voice.sdp.errors import SdpParseError, UnsupportedOffer

T = TypeVar("T")

#: RFC 9429 §5.1.2: the RTP profile names a WebRTC answerer accepts in an offer, since some
#: endpoints write a plainer name while really speaking DTLS-SRTP with feedback. The answer
#: repeats the offer's name. The TCP/DTLS/... profiles are left out: we only speak UDP.
ACCEPTED_PROTOS = frozenset(
    {
        "UDP/TLS/RTP/SAVPF",
        "UDP/TLS/RTP/SAVP",
        "RTP/SAVPF",
        "RTP/SAVP",
        "RTP/AVPF",
        "RTP/AVP",
    }
)
_DIRECTIONS = frozenset(direction.value for direction in Direction)
OPUS_RATE = 48000
OPUS_CHANNELS = 2


@dataclass(frozen=True, slots=True)
class AudioOffer:
    """What an offer asks of our audio m-line; produced by :func:`analyze_offer`.

    ``index`` is the position of the accepted m-line in the offer, ``mid`` its media id.
    ``remote_fingerprints`` are ``(algorithm, value)`` pairs, algorithm in lower case, value
    as upper-case colon-separated hex, MD2/MD5 ones left out. ``setup`` is the offerer's
    DTLS role (``actpass`` or ``active``; ours is always passive). ``remote_candidates`` and
    ``remote_ssrc`` are for information: an ICE-lite agent learns the peer's address from
    its checks, not from the offer.
    """

    mid: str | None
    index: int
    opus_payload_type: int
    opus_fmtp: str
    remote_ufrag: str
    remote_pwd: str = field(repr=False)  # a secret: never in logs or reprs
    remote_fingerprints: list[tuple[str, str]] = field(default_factory=list)
    setup: Setup = Setup.ACTPASS
    direction: Direction = Direction.SENDRECV
    remote_candidates: list[Candidate] = field(default_factory=list)
    remote_ssrc: int | None = None
    extmap: dict[int, str] = field(default_factory=dict)
    bundle_mids: list[str] = field(default_factory=list)
    ice_options: list[str] = field(default_factory=list)
    telephone_event_pt: int | None = None
    proto: str = "UDP/TLS/RTP/SAVPF"
    tls_id: str | None = None


def _read(attribute: Attribute, parser: Callable[[str], T]) -> T:
    """Parses an attribute's value, adding its line number to any error."""
    try:
        return parser(attribute.value or "")
    except SdpParseError as exc:
        raise SdpParseError(exc.message, attribute.line.number) from None


def _one(section: _Section, name: str) -> Attribute | None:
    """The single ``a=name`` line of a level; a second one is an error (RFC 9429 §5.8)."""
    found = section.attributes(name)
    if len(found) > 1:
        raise SdpParseError(f"a second a={name} line at the same level", found[1].line.number)
    return found[0] if found else None


def _media_or_session(
    offer: SessionDescription, media: MediaDescription, name: str
) -> Attribute | None:
    return _one(media, name) or _one(offer, name)


def _rtpmaps(media: MediaDescription) -> dict[int, RtpMap]:
    rtpmaps: dict[int, RtpMap] = {}
    for attribute in media.attributes("rtpmap"):
        rtpmap = _read(attribute, RtpMap.parse)
        if rtpmap.payload_type in rtpmaps:
            raise SdpParseError(
                f"a second a=rtpmap for payload type {rtpmap.payload_type}",
                attribute.line.number,
            )
        rtpmaps[rtpmap.payload_type] = rtpmap
    return rtpmaps


def _payload_types(media: MediaDescription) -> list[tuple[str, int]]:
    """The m-line's formats, which in an RTP profile are payload type numbers 0-127."""
    line = media.lines[0]
    try:
        return [(fmt, number(fmt, "payload type", maximum=127)) for fmt in media.formats]
    except SdpParseError as exc:
        raise SdpParseError(f"m={media.media}: {exc.message}", line.number) from None


def _choose_audio(offer: SessionDescription) -> tuple[int, MediaDescription, str, int]:
    """Finds the first audio m-line we can accept: (index, media, opus format, opus pt)."""
    reasons: list[str] = []
    for index, media in enumerate(offer.media):
        if media.media != "audio":
            continue
        if media.port == 0:
            # RFC 9143 §7.3.1: an m-line with port 0 cannot be the one the answer tags; a
            # bundle-only one cannot be taken out of its group either (§7.3.2), so the only
            # m-lines we can accept are those offered with a real port.
            kind = "bundle-only" if media.has_attribute("bundle-only") else "disabled"
            reasons.append(f"audio m-line {index} is {kind} (port 0)")
            continue
        if media.proto not in ACCEPTED_PROTOS:
            reasons.append(
                f"audio m-line {index} uses {media.proto}, not UDP/TLS/RTP/SAVPF "
                "(DTLS-SRTP over UDP)"
            )
            continue
        rtpmaps = _rtpmaps(media)
        for fmt, pt in _payload_types(media):
            rtpmap = rtpmaps.get(pt)
            if rtpmap is not None and rtpmap.is_codec("opus", OPUS_RATE, OPUS_CHANNELS):
                return index, media, fmt, pt
        reasons.append(f"audio m-line {index} offers no Opus (a=rtpmap:<pt> opus/48000/2)")
    if not reasons:
        raise UnsupportedOffer("the offer has no audio m-line")
    raise UnsupportedOffer("; ".join(reasons))


def _fingerprints(offer: SessionDescription, media: MediaDescription) -> list[tuple[str, str]]:
    # RFC 8122 §5: a session-level fingerprint applies to every m-line without its own.
    attributes = media.attributes("fingerprint") or offer.attributes("fingerprint")
    if not attributes:
        # RFC 9429 §5.1.1: DTLS-SRTP is mandatory, so an offer without a fingerprint fails.
        raise UnsupportedOffer(
            "no a=fingerprint (in the audio m-line or at session level): DTLS-SRTP needs "
            "the offerer's certificate fingerprint"
        )
    parsed = [_read(attribute, Fingerprint.parse) for attribute in attributes]
    usable = [fp.as_tuple() for fp in parsed if fp.algorithm not in FORBIDDEN_HASHES]
    if not usable:
        raise UnsupportedOffer("only MD2/MD5 fingerprints, which RFC 8122 §5 forbids using")
    return usable


def _setup(offer: SessionDescription, media: MediaDescription) -> Setup:
    attribute = _media_or_session(offer, media, "setup")
    # Without a=setup the offerer is taken to be active (the default of RFC 4145, which
    # RFC 8842 §5.2 builds on): it will connect, we listen.
    setup = _read(attribute, Setup.parse) if attribute else Setup.ACTIVE
    # RFC 8842 §5.3: the answer takes the role the offer leaves. We always answer passive
    # (DTLS server), so the offerer must be able to be the client: actpass or active.
    if setup is Setup.PASSIVE:
        raise UnsupportedOffer(
            "a=setup:passive asks us to open the DTLS connection, but this server is "
            "always the DTLS server; offer a=setup:actpass (or active)"
        )
    if setup is Setup.HOLDCONN:
        raise UnsupportedOffer("a=setup:holdconn: the offerer wants no DTLS connection yet")
    return setup


def _direction(offer: SessionDescription, media: MediaDescription) -> Direction:
    # RFC 8866 §6.7: a direction attribute at media level overrides the session level one;
    # with neither, the stream is sendrecv.
    for section in (media, offer):
        found = [a for a in section.attributes() if a.name in _DIRECTIONS]
        if len(found) > 1:
            raise SdpParseError("more than one direction attribute", found[1].line.number)
        if found:
            return Direction(found[0].name)
    return Direction.SENDRECV


def _bundle(offer: SessionDescription, mid: str | None) -> list[str]:
    found: list[str] = []
    for attribute in offer.attributes("group"):
        group = _read(attribute, Group.parse)
        if group.semantics == "BUNDLE" and mid in group.mids:
            if found:
                # RFC 9143 §5: an m-line belongs to at most one BUNDLE group.
                raise SdpParseError(f"mid {mid} is in two BUNDLE groups", attribute.line.number)
            found = list(group.mids)
    return found


def _extmap(offer: SessionDescription, media: MediaDescription) -> dict[int, str]:
    # RFC 9429 §5.8: extmap lines are parsed at both levels; an id names one extension.
    merged: dict[int, str] = {}
    for section in (offer, media):
        level: dict[int, str] = {}
        for attribute in section.attributes("extmap"):
            extmap = _read(attribute, ExtMap.parse)
            if level.get(extmap.id, extmap.uri) != extmap.uri:
                raise SdpParseError(
                    f"a=extmap id {extmap.id} names two extensions", attribute.line.number
                )
            level[extmap.id] = extmap.uri
        merged.update(level)
    return merged


def analyze_offer(offer: SessionDescription) -> AudioOffer:
    """Decides which audio m-line to accept and reads what answering it needs.

    Raises :class:`UnsupportedOffer` naming what is missing (no audio m-line, no Opus, no
    ICE credentials, no fingerprint, no rtcp-mux, a DTLS role we cannot honour, an ICE-lite
    offerer) and :class:`SdpParseError` for a malformed attribute among those it reads.
    """
    index, media, opus_format, opus_pt = _choose_audio(offer)

    # RFC 8839 §5.3: a=ice-lite is session-level. Two lite agents never send checks to each
    # other, so ICE could not complete; we are lite, so the offerer must be a full agent.
    if offer.has_attribute("ice-lite"):
        raise UnsupportedOffer("the offerer is ICE-lite too; one side must be a full ICE agent")
    # RFC 8839 §5.4: ICE credentials may sit at either level; the media-level ones win.
    ufrag = _media_or_session(offer, media, "ice-ufrag")
    pwd = _media_or_session(offer, media, "ice-pwd")
    if ufrag is None:
        raise UnsupportedOffer("no a=ice-ufrag: ICE is mandatory in WebRTC")
    if pwd is None:
        raise UnsupportedOffer("no a=ice-pwd: ICE is mandatory in WebRTC")
    remote_ufrag = _read(ufrag, check_ice_ufrag)
    remote_pwd = _read(pwd, check_ice_pwd)

    fingerprints = _fingerprints(offer, media)
    setup = _setup(offer, media)

    # RFC 9429 §5.8.3: with an RTP/RTCP multiplexing policy of "require" (ours: one port per
    # call, behind one relay port) an m-line without a=rtcp-mux cannot be accepted.
    if not (media.has_attribute("rtcp-mux") or offer.has_attribute("rtcp-mux")):
        raise UnsupportedOffer("no a=rtcp-mux: RTP and RTCP must share one port")

    mid_attribute = _one(media, "mid")
    mid = _read(mid_attribute, check_mid) if mid_attribute else None

    options = _media_or_session(offer, media, "ice-options")
    tls_id = _media_or_session(offer, media, "tls-id")
    if tls_id is not None and not is_token(tls_id.value or ""):
        raise SdpParseError("a=tls-id value is not a token", tls_id.line.number)

    fmtps = [_read(a, Fmtp.parse) for a in media.attributes("fmtp")]
    opus_fmtp = next((f.parameters for f in fmtps if f.format == opus_format), "")
    rtpmaps = _rtpmaps(media)
    telephone_event = next(
        (
            pt
            for _, pt in _payload_types(media)
            if pt in rtpmaps and rtpmaps[pt].is_codec("telephone-event", OPUS_RATE)
        ),
        None,
    )
    ssrcs = [_read(a, SsrcAttribute.parse) for a in media.attributes("ssrc")]

    return AudioOffer(
        mid=mid,
        index=index,
        opus_payload_type=opus_pt,
        opus_fmtp=opus_fmtp,
        remote_ufrag=remote_ufrag,
        remote_pwd=remote_pwd,
        remote_fingerprints=fingerprints,
        setup=setup,
        direction=_direction(offer, media),
        remote_candidates=[_read(a, parse_candidate) for a in media.attributes("candidate")],
        remote_ssrc=ssrcs[0].ssrc if ssrcs else None,
        extmap=_extmap(offer, media),
        bundle_mids=_bundle(offer, mid) if mid is not None else [],
        ice_options=_read(options, parse_ice_options) if options else [],
        telephone_event_pt=telephone_event,
        proto=media.proto,
        tls_id=tls_id.value if tls_id else None,
    )
