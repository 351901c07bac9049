"""Writing the answer: one accepted audio m-line, every other m-line rejected.

:func:`build_answer` follows the initial-answer procedure of JSEP (RFC 9429 §5.3.1) for a
server that is deliberately small: it is an ICE-lite agent (``a=ice-lite``), always the DTLS
server (``a=setup:passive``), speaks Opus only, multiplexes RTP and RTCP on one port, and
gives all its candidates at once (``a=end-of-candidates``, no trickle).

What the answer leaves out, on purpose: the offer's ``a=extmap`` and ``a=rtcp-fb`` lines (we
implement no RTP header extension and no RTCP feedback, and an answer may only claim what
the answerer supports), ``a=rtcp-rsize`` (we do not promise to accept reduced-size RTCP),
and ``a=ice-options:trickle`` (we never trickle candidates, and as an ICE-lite agent we
need none from the peer).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from voice.ice.errors import IceParseError
from voice.sdp._syntax import is_token
from voice.sdp.attributes import (
    FORBIDDEN_HASHES,
    Candidate,
    Direction,
    Fingerprint,
    check_ice_pwd,
    check_ice_ufrag,
)
from voice.sdp.description import Line, MediaDescription, SessionDescription
from voice.sdp.errors import SdpParseError, SdpUsageError
from voice.sdp.offer import OPUS_CHANNELS, OPUS_RATE, AudioOffer

_MAX_SENT_UFRAG = 32  # RFC 8839 §5.4: sent ufrags are at most 32 characters
_MAX_SESSION_ID = 2**63 - 1  # RFC 9429 §5.2.1: random, top bit 0, and below 2**63 - 1


def _attr(name: str, value: object = None) -> Line:
    return Line("a", name if value is None else f"{name}:{value}")


def _check_text(name: str, value: str, *, allow_empty: bool = False) -> None:
    if (not value and not allow_empty) or any(c in value for c in "\r\n\x00"):
        raise SdpUsageError(f"{name} must be non-empty text without CR, LF or NUL: {value!r}")


def _local_candidates(candidates: Sequence[str]) -> list[Candidate]:
    if not candidates:
        raise SdpUsageError("build_answer needs at least one local candidate")
    parsed = []
    for text in candidates:
        try:
            candidate = Candidate.parse(text)
        except IceParseError as exc:
            raise SdpUsageError(f"local candidate {text!r}: {exc}") from None
        # RFC 8839 §5.1: an agent never advertises a host name as one of its own candidates.
        if candidate.ip is None:
            raise SdpUsageError(f"local candidate {text!r} must carry an IP address")
        parsed.append(candidate)
    if parsed[0].transport.upper() != "UDP":
        raise SdpUsageError("the first local candidate (the default destination) must be UDP")
    return parsed


def _check_local(
    ice_ufrag: str, ice_pwd: str, fingerprint: tuple[str, str], ssrc: int, cname: str
) -> Fingerprint:
    """Our own parameters: a mistake here is our bug, so it raises ValueError."""
    try:
        check_ice_ufrag(ice_ufrag)
        check_ice_pwd(ice_pwd)
        local_fingerprint = Fingerprint.parse(" ".join(fingerprint))
    except SdpParseError as exc:
        raise SdpUsageError(f"local parameter: {exc.message}") from None
    if len(ice_ufrag) > _MAX_SENT_UFRAG:
        raise SdpUsageError(f"ice_ufrag longer than {_MAX_SENT_UFRAG} characters")
    if local_fingerprint.algorithm in FORBIDDEN_HASHES:
        raise SdpUsageError(f"a {local_fingerprint.algorithm} fingerprint must not be used")
    if not 0 <= ssrc <= 0xFFFFFFFF:
        raise SdpUsageError(f"ssrc {ssrc} is not a 32-bit unsigned number")
    _check_text("cname", cname)
    return local_fingerprint


def _rejected(media: MediaDescription) -> list[Line]:
    """An m-line we refuse: port 0, same media and proto, its mid kept, nothing else.

    RFC 3264 §6: a refused stream keeps its place with port 0 and at least one of the
    offered formats. RFC 9143 §7.3.3: it carries no bundle-only attribute and leaves the
    BUNDLE group. The c= line keeps the answer valid SDP (each m-line needs a connection
    address when the session level has none, RFC 8866 §5.7).
    """
    offered = media.media_line
    lines = [
        Line("m", f"{offered.media} 0 {offered.proto} {offered.formats[0]}"),
        Line("c", "IN IP4 0.0.0.0"),
    ]
    mid = media.attribute("mid")
    if mid:
        lines.append(_attr("mid", mid))
    return lines


def build_answer(
    offer: SessionDescription,
    audio: AudioOffer,
    *,
    ice_ufrag: str,
    ice_pwd: str,
    fingerprint: tuple[str, str],
    candidates: Sequence[str],
    ssrc: int,
    cname: str,
    session_id: int | None = None,
    opus_fmtp: str = "minptime=10;useinbandfec=1",
    direction: str | None = None,
    stream_id: str = "voice",
    maxptime: int | None = None,
    tls_id: str | None = None,
) -> str:
    """Builds the SDP answer to ``offer``, accepting the audio m-line ``audio`` describes.

    ``candidates`` are our ICE candidates as ``a=candidate`` values (with or without the
    ``candidate:`` prefix); the first one is the default destination written in the m= and
    c= lines. ``fingerprint`` is ``(algorithm, value)`` of our DTLS certificate.
    ``direction`` is what we would like (``None``: send and receive); the answer gives the
    part of it the offer allows. ``session_id`` defaults to a fresh random 63-bit number,
    ``tls_id`` (sent only when the offer has one) to a random one.

    Raises :class:`ValueError` for bad local parameters: those are the caller's bug, not
    the peer's, so they are deliberately not an :class:`~voice.sdp.SdpError`.
    """
    if not 0 <= audio.index < len(offer.media) or offer.media[audio.index].media != "audio":
        raise SdpUsageError("audio does not describe an audio m-line of this offer")
    local_fingerprint = _check_local(ice_ufrag, ice_pwd, fingerprint, ssrc, cname)
    local = _local_candidates(candidates)
    _check_text("opus_fmtp", opus_fmtp, allow_empty=True)
    if not (is_token(stream_id) and len(stream_id) <= 64):
        raise SdpUsageError(f"stream_id {stream_id!r} must be 1-64 token characters")
    if session_id is None:
        session_id = secrets.randbelow(_MAX_SESSION_ID)
    elif not 0 <= session_id < _MAX_SESSION_ID:
        raise SdpUsageError(f"session_id {session_id} must be in 0 .. 2**63-2")
    if maxptime is not None and maxptime <= 0:
        raise SdpUsageError(f"maxptime {maxptime} must be a positive number of milliseconds")
    try:
        wanted = Direction(direction) if direction is not None else None
    except ValueError:
        raise SdpUsageError(f"direction {direction!r} is not a media direction") from None
    if tls_id is not None and not (is_token(tls_id) and len(tls_id) >= 20):
        raise SdpUsageError("tls_id must be at least 20 token characters")

    # RFC 9429 §5.2.1 (which §5.3.1 reuses for answers): v=0, an o= line with "-" as user,
    # a random session id and a meaningless address, s=-, t=0 0.
    session = [
        Line("v", "0"),
        Line("o", f"- {session_id} 2 IN IP4 0.0.0.0"),
        Line("s", "-"),
        Line("t", "0 0"),
        # RFC 8839 §4.2.1.4: a lite implementation says so, at session level.
        _attr("ice-lite"),
    ]
    if audio.mid is not None and audio.bundle_mids:
        # RFC 9143 §7.3: the answer's BUNDLE group holds only m-lines it accepts; ours is
        # the answerer-tagged one, so its mid comes first (here: alone).
        session.append(_attr("group", f"BUNDLE {audio.mid}"))
    if "ice2" in audio.ice_options:
        # RFC 9429 §5.3.1: echo the ice2 option when offered (we implement RFC 8445).
        session.append(_attr("ice-options", "ice2"))

    accepted = _accepted_lines(
        offer.media[audio.index],
        audio,
        ice_ufrag=ice_ufrag,
        ice_pwd=ice_pwd,
        fingerprint=local_fingerprint,
        candidates=local,
        ssrc=ssrc,
        cname=cname,
        opus_fmtp=opus_fmtp,
        direction=audio.direction.answer(wanted),
        stream_id=stream_id,
        maxptime=maxptime,
        tls_id=tls_id,
    )
    # RFC 3264 §6: the answer has exactly the offer's m-lines, in the same order.
    media = tuple(
        MediaDescription(tuple(accepted if i == audio.index else _rejected(m)))
        for i, m in enumerate(offer.media)
    )
    return SessionDescription(tuple(session), media).serialize()


def _accepted_lines(
    offered: MediaDescription,
    audio: AudioOffer,
    *,
    ice_ufrag: str,
    ice_pwd: str,
    fingerprint: Fingerprint,
    candidates: list[Candidate],
    ssrc: int,
    cname: str,
    opus_fmtp: str,
    direction: Direction,
    stream_id: str,
    maxptime: int | None,
    tls_id: str | None,
) -> list[Line]:
    default = candidates[0]
    addrtype = "IP6" if default.ip is not None and default.ip.version == 6 else "IP4"
    pt = audio.opus_payload_type
    lines = [
        # RFC 8839 §4.2.1.2: m= and c= carry the default candidate's port and address.
        # RFC 9429 §5.3.1: the proto repeats the offer's; the formats are those we accept.
        Line("m", f"{offered.media} {default.port} {audio.proto} {pt}"),
        Line("c", f"IN {addrtype} {default.address}"),
    ]
    if audio.mid is not None:
        lines.append(_attr("mid", audio.mid))  # RFC 9429 §5.3.1: only if the offer has one
    lines += [
        # RFC 3264 §6.1: the direction mirrors the offer's (see Direction.answer).
        _attr(direction.value),
        _attr("rtcp-mux"),
        # RFC 8839 §4.3.2: the answer carries our ICE credentials and all our candidates.
        _attr("ice-ufrag", ice_ufrag),
        _attr("ice-pwd", ice_pwd),
        _attr("fingerprint", fingerprint),
        # RFC 8842 §5.3: the answer says active or passive; passive makes us the DTLS
        # server, so the browser sends the ClientHello as soon as ICE connects.
        _attr("setup", "passive"),
    ]
    if audio.tls_id is not None:
        # RFC 8842 §5.3: a tls-id only in answer to an offer that has one.
        lines.append(_attr("tls-id", tls_id or secrets.token_hex(16)))
    lines.append(_attr("rtpmap", f"{pt} opus/{OPUS_RATE}/{OPUS_CHANNELS}"))
    if opus_fmtp:
        lines.append(_attr("fmtp", f"{pt} {opus_fmtp}"))
    if maxptime is not None:
        lines.append(_attr("maxptime", maxptime))
    if direction.sends:
        # Our outgoing stream: its SSRC and RTCP CNAME, and the media stream it belongs to
        # (RFC 9429 §5.3.1 writes a=msid without the track part).
        lines.append(_attr("ssrc", f"{ssrc} cname:{cname}"))
        lines.append(_attr("msid", stream_id))
    lines += [_attr("candidate", candidate) for candidate in candidates]
    lines.append(_attr("end-of-candidates"))
    return lines
