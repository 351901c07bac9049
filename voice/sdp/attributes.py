"""Typed values of the SDP attributes a WebRTC audio answerer reads or writes.

Each class parses the text after ``a=<name>:`` with a classmethod ``parse`` that raises
:class:`SdpParseError` (without a line number: the caller knows the line and adds it) and
formats itself back with ``str()``. Only attributes :mod:`voice.sdp.offer` interprets live
here; every other attribute stays an opaque line of the description.

``a=candidate`` is the exception: a candidate is ICE's, so :class:`Candidate` is
:class:`voice.ice.Candidate`, whose ``parse`` raises ICE's own error, and
:func:`parse_candidate` is the parser that raises :class:`SdpParseError`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from voice.ice.candidate import Candidate
from voice.ice.credentials import is_ice_chars, is_ice_string
from voice.ice.errors import IceParseError
from voice.sdp._syntax import is_token, number
from voice.sdp.errors import SdpParseError

__all__ = [
    "FORBIDDEN_HASHES",
    "Candidate",
    "Direction",
    "ExtMap",
    "Fingerprint",
    "Fmtp",
    "Group",
    "RtpMap",
    "Setup",
    "SsrcAttribute",
    "check_ice_pwd",
    "check_ice_ufrag",
    "check_mid",
    "parse_candidate",
    "parse_ice_options",
]

_MAX_PAYLOAD_TYPE = 127
_MAX_SSRC = 0xFFFFFFFF


class Direction(enum.StrEnum):
    """The media direction attributes (RFC 8866 §6.7), from the describing side's view."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def from_flags(cls, sends: bool, receives: bool) -> Direction:
        if sends:
            return cls.SENDRECV if receives else cls.SENDONLY
        return cls.RECVONLY if receives else cls.INACTIVE

    def answer(self, wanted: Direction | None = None) -> Direction:
        """The direction an answer gives a stream offered with this direction.

        RFC 3264 §6.1: the answerer may only send what the offerer will receive and receive
        what it will send (sendonly is answered recvonly or inactive, recvonly with sendonly
        or inactive, inactive with inactive). Within that, ``wanted`` (what the answerer
        would like) decides, as RFC 9429 §5.3.1 puts it: the mirror intersected with the
        local wish (``None`` wishes for both).
        """
        wanted = wanted or Direction.SENDRECV
        return Direction.from_flags(
            sends=self.receives and wanted.sends, receives=self.sends and wanted.receives
        )


class Setup(enum.StrEnum):
    """Values of ``a=setup``: which side opens the (D)TLS connection (RFC 8842 §5)."""

    ACTPASS = "actpass"
    ACTIVE = "active"
    PASSIVE = "passive"
    HOLDCONN = "holdconn"

    @classmethod
    def parse(cls, value: str) -> Setup:
        try:
            return cls(value)
        except ValueError:
            raise SdpParseError(
                f"a=setup:{value} is none of actpass, active, passive, holdconn"
            ) from None


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap:<pt> <encoding name>/<clock rate>[/<parameters>]`` (RFC 8866 §6.6)."""

    payload_type: int
    encoding_name: str
    clock_rate: int
    encoding_parameters: str | None = None

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        pt_text, space, encoding = value.partition(" ")
        if not space:
            raise SdpParseError("a=rtpmap needs <payload type> <encoding>/<clock rate>")
        payload_type = number(pt_text, "a=rtpmap payload type", maximum=_MAX_PAYLOAD_TYPE)
        name, _, rest = encoding.partition("/")
        rate_text, slash, parameters = rest.partition("/")
        if not is_token(name):
            raise SdpParseError(f"a=rtpmap encoding name {name!r} is not a token")
        clock_rate = number(rate_text, "a=rtpmap clock rate", digits=10)
        if slash and not parameters:
            raise SdpParseError("a=rtpmap has an empty encoding parameter after '/'")
        return cls(payload_type, name, clock_rate, parameters if slash else None)

    def is_codec(self, name: str, clock_rate: int, channels: int | None = None) -> bool:
        """Encoding names compare case-insensitively (they are media subtype names)."""
        if self.encoding_name.lower() != name.lower() or self.clock_rate != clock_rate:
            return False
        return channels is None or self.encoding_parameters == str(channels)

    def __str__(self) -> str:
        tail = f"/{self.encoding_parameters}" if self.encoding_parameters else ""
        return f"{self.payload_type} {self.encoding_name}/{self.clock_rate}{tail}"


@dataclass(frozen=True, slots=True)
class Fmtp:
    """``a=fmtp:<format> <format specific parameters>`` (RFC 8866 §6.15), parameters as text.

    The parameters belong to the codec's own specification (RFC 7587 for Opus); this layer
    only carries them.
    """

    format: str
    parameters: str

    @classmethod
    def parse(cls, value: str) -> Fmtp:
        fmt, space, parameters = value.partition(" ")
        if not space or not is_token(fmt) or not parameters:
            raise SdpParseError("a=fmtp needs <format> <parameters>")
        return cls(fmt, parameters)

    def __str__(self) -> str:
        return f"{self.format} {self.parameters}"


# Digest sizes of the hash functions RFC 8122 §5 names, to check a fingerprint's length.
_DIGEST_SIZES = {
    "sha-1": 20,
    "sha-224": 28,
    "sha-256": 32,
    "sha-384": 48,
    "sha-512": 64,
    "md5": 16,
    "md2": 16,
}
#: RFC 8122 §5: MD2 and MD5 fingerprints must not be used to verify a certificate.
FORBIDDEN_HASHES = frozenset({"md2", "md5"})
_HEX = frozenset("0123456789ABCDEF")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """``a=fingerprint:<hash-func> <XX:XX:...>``: a hash of a (D)TLS certificate.

    RFC 8122 §5: the hash function's name, a space, then the digest as colon-separated
    pairs of upper-case hex digits. Hash names are case-insensitive (the RFC's own example
    writes ``SHA-256``), so :attr:`algorithm` is kept in lower case; :attr:`value` is kept in
    upper case, which is also how we accept the occasional lower-case digest.
    """

    algorithm: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Fingerprint:
        algorithm, space, value = text.partition(" ")
        algorithm, value = algorithm.lower(), value.upper()
        if not space or not is_token(algorithm):
            raise SdpParseError("a=fingerprint needs <hash function> <fingerprint>")
        pairs = value.split(":")
        if not all(len(pair) == 2 and set(pair) <= _HEX for pair in pairs):
            raise SdpParseError("a=fingerprint value must be pairs of hex digits separated by ':'")
        size = _DIGEST_SIZES.get(algorithm)
        if size is not None and len(pairs) != size:
            raise SdpParseError(f"a=fingerprint {algorithm} has {len(pairs)} bytes, not {size}")
        return cls(algorithm, value)

    def as_tuple(self) -> tuple[str, str]:
        return (self.algorithm, self.value)

    def __str__(self) -> str:
        return f"{self.algorithm} {self.value}"


def parse_candidate(value: str) -> Candidate:
    """``a=candidate`` (RFC 8839 §5.1), read with :mod:`voice.ice`'s grammar.

    The candidate is ICE's, so :class:`voice.ice.Candidate` owns its grammar and this module
    only turns its :class:`~voice.ice.IceParseError` into an :class:`SdpParseError`,
    like every other attribute parser here. :class:`Candidate` is that same class.
    """
    try:
        return Candidate.parse(value)
    except IceParseError as exc:
        raise SdpParseError(f"a=candidate: {exc}") from None


@dataclass(frozen=True, slots=True)
class ExtMap:
    """``a=extmap:<id>[/<direction>] <uri> [<attributes>]``: an RTP header extension id."""

    id: int
    uri: str
    direction: Direction | None = None
    attributes: str | None = None

    @classmethod
    def parse(cls, value: str) -> ExtMap:
        head, _, rest = value.partition(" ")
        uri, space, attributes = rest.partition(" ")
        id_text, slash, direction_text = head.partition("/")
        if not uri:
            raise SdpParseError("a=extmap needs <id> <uri>")
        ext_id = number(id_text, "a=extmap id", maximum=255)
        if ext_id == 0:
            raise SdpParseError("a=extmap id must be 1-255")
        direction: Direction | None = None
        if slash:
            try:
                direction = Direction(direction_text)
            except ValueError:
                raise SdpParseError(f"a=extmap direction {direction_text!r} is unknown") from None
        return cls(ext_id, uri, direction, attributes if space else None)


@dataclass(frozen=True, slots=True)
class Group:
    """``a=group:<semantics> <mid> ...``, e.g. ``a=group:BUNDLE 0 1`` (RFC 9143 §5)."""

    semantics: str
    mids: tuple[str, ...]

    @classmethod
    def parse(cls, value: str) -> Group:
        semantics, *mids = value.split(" ")
        if not is_token(semantics) or not all(is_token(mid) for mid in mids):
            raise SdpParseError("a=group needs <semantics> followed by media ids (tokens)")
        return cls(semantics, tuple(mids))

    def __str__(self) -> str:
        return " ".join((self.semantics, *self.mids))


@dataclass(frozen=True, slots=True)
class SsrcAttribute:
    """``a=ssrc:<ssrc> <attribute>[:<value>]``: a property of one RTP source, e.g. its cname."""

    ssrc: int
    attribute: str
    value: str | None

    @classmethod
    def parse(cls, text: str) -> SsrcAttribute:
        ssrc_text, space, rest = text.partition(" ")
        name, colon, value = rest.partition(":")
        if not space or not is_token(name):
            raise SdpParseError("a=ssrc needs <ssrc> <attribute>[:<value>]")
        ssrc = number(ssrc_text, "a=ssrc source id", maximum=_MAX_SSRC, digits=10)
        return cls(ssrc, name, value if colon else None)


def check_mid(value: str) -> str:
    """``a=mid`` is an identification tag, a token (RFC 9143 §5 names m-lines by it)."""
    if not is_token(value):
        raise SdpParseError(f"a=mid value {value!r} is not a token")
    return value


def check_ice_ufrag(value: str) -> str:
    """RFC 8839 §5.4: a username fragment is 4 to 256 ice-chars."""
    if not is_ice_string(value, 4):
        raise SdpParseError("a=ice-ufrag must be 4-256 letters, digits, '+' or '/'")
    return value


def check_ice_pwd(value: str) -> str:
    """RFC 8839 §5.4: a password is 22 to 256 ice-chars."""
    if not is_ice_string(value, 22):
        raise SdpParseError("a=ice-pwd must be 22-256 letters, digits, '+' or '/'")
    return value


def parse_ice_options(value: str) -> list[str]:
    """RFC 8839 §5.6: ice-options is a space-separated list of ice-char tags."""
    tags = value.split(" ")
    if not all(is_ice_chars(tag) for tag in tags):
        raise SdpParseError("a=ice-options must be tags of ice-chars separated by spaces")
    return tags
