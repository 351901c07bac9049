"""SDP session descriptions (RFC 8866): parse into lines, keep every one, serialize back.

A session description is a list of ``<type>=<value>`` lines: a session-level part, then one
media description per ``m=`` line. This module keeps exactly that shape. A
:class:`SessionDescription` holds its session-level :class:`Line` objects and a tuple of
:class:`MediaDescription`, each holding its own lines starting with the ``m=`` line. Nothing
is dropped or reordered, so ``parse(text).serialize()`` gives back the same lines (with CRLF
line ends), including every attribute this package does not understand.

Typed views (:attr:`SessionDescription.origin`, :attr:`MediaDescription.port`, the
``attribute`` helpers) are computed from the lines on demand. :func:`parse` has already
checked the syntax of every line they read, so on a parsed description they cannot fail.

What :func:`parse` checks is the *structure* of RFC 8866 §5: that ``v=``, ``o=``, ``s=`` and
``t=`` are there, that line types appear in the order §5 gives, that no unknown type letter
is used, and the syntax of each non-attribute line (numbers are numbers, ports are ports).
Attribute *values* are carried as text; the modules that interpret them
(:mod:`voice.sdp.attributes`) check their syntax when they are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voice.sdp._syntax import is_token, number
from voice.sdp.errors import SdpParseError, SdpUsageError

# RFC 8866 §5: the order of line types. Session level: v o s i u e p c b, then one or more
# time descriptions (t followed by its r lines), then z k a. Media level: m i c b k a.
# Lines of one type may repeat where the RFC allows it; t and r share a rank because time
# descriptions repeat as a unit.
_SESSION_RANK = {
    "v": 0, "o": 1, "s": 2, "i": 3, "u": 4, "e": 5, "p": 6, "c": 7, "b": 8,
    "t": 9, "r": 9, "z": 10, "k": 11, "a": 12,
}  # fmt: skip
_MEDIA_RANK = {"m": 0, "i": 1, "c": 2, "b": 3, "k": 4, "a": 5}
_ONCE_PER_SESSION = frozenset("vosiuczk")
_ONCE_PER_MEDIA = frozenset("ik")
_MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class Line:
    """One ``<type>=<value>`` line.

    ``number`` is the 1-based line number in the parsed text (0 for lines built in code); it
    is only used in error messages, so it takes no part in equality.
    """

    type: str
    value: str
    number: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return f"{self.type}={self.value}"


@dataclass(frozen=True, slots=True)
class Attribute:
    """An ``a=<name>[:<value>]`` line; ``value`` is ``None`` for a flag such as ``a=rtcp-mux``."""

    name: str
    value: str | None
    line: Line

    @classmethod
    def from_line(cls, line: Line) -> Attribute:
        name, colon, value = line.value.partition(":")
        return cls(name, value if colon else None, line)


@dataclass(frozen=True, slots=True)
class Origin:
    """The ``o=`` line (RFC 8866 §5.2): who made the description, and which version it is."""

    username: str
    session_id: int
    session_version: int
    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str) -> Origin:
        fields = value.split(" ")
        if len(fields) != 6 or not all(fields):
            raise SdpParseError(
                "o= needs six fields separated by single spaces: "
                "<username> <sess-id> <sess-version> <nettype> <addrtype> <address>"
            )
        username, sess_id, sess_version, nettype, addrtype, address = fields
        return cls(
            username,
            number(sess_id, "o= session id"),
            number(sess_version, "o= session version"),
            nettype,
            addrtype,
            address,
        )

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """A ``c=`` line (RFC 8866 §5.7): ``<nettype> <addrtype> <connection-address>``."""

    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str) -> Connection:
        fields = value.split(" ")
        if len(fields) != 3 or not all(fields):
            raise SdpParseError("c= needs three fields: <nettype> <addrtype> <address>")
        return cls(*fields)

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True, slots=True)
class MediaLine:
    """The ``m=`` line (RFC 8866 §5.14): ``<media> <port>[/<count>] <proto> <fmt> ...``."""

    media: str
    port: int
    port_count: int | None
    proto: str
    formats: tuple[str, ...]

    @classmethod
    def parse(cls, value: str) -> MediaLine:
        fields = value.split(" ")
        if len(fields) < 4 or not all(fields):
            raise SdpParseError(
                "m= needs <media> <port> <proto> and at least one format, "
                "separated by single spaces"
            )
        media, port_text, proto, *formats = fields
        if not is_token(media):
            raise SdpParseError(f"m= media type {media!r} is not a token")
        port_text, slash, count_text = port_text.partition("/")
        port = number(port_text, "m= port", maximum=_MAX_PORT)
        port_count = number(count_text, "m= port count", maximum=_MAX_PORT) if slash else None
        if port_count == 0:
            raise SdpParseError("m= port count must be at least 1")
        # proto is one or more tokens joined by "/" (UDP/TLS/RTP/SAVPF).
        if not all(is_token(part) for part in proto.split("/")):
            raise SdpParseError(f"m= proto {proto!r} is not a list of tokens joined by '/'")
        for fmt in formats:
            if not is_token(fmt):
                raise SdpParseError(f"m= format {fmt!r} is not a token")
        return cls(media, port, port_count, proto, tuple(formats))

    def __str__(self) -> str:
        port = self.port if self.port_count is None else f"{self.port}/{self.port_count}"
        return f"{self.media} {port} {self.proto} {' '.join(self.formats)}"


class _Section:
    """What the session level and a media description have in common: attribute lines."""

    __slots__ = ()
    lines: tuple[Line, ...]

    def attributes(self, name: str | None = None) -> list[Attribute]:
        """The ``a=`` lines of this level, in order; only those called ``name`` if given."""
        if name is None:
            return [Attribute.from_line(line) for line in self.lines if line.type == "a"]
        prefix = name + ":"
        return [
            Attribute.from_line(line)
            for line in self.lines
            if line.type == "a" and (line.value == name or line.value.startswith(prefix))
        ]

    def attribute(self, name: str) -> str | None:
        """The value of the first ``a=name`` line: ``""`` for a flag, ``None`` if absent."""
        for attribute in self.attributes(name):
            return attribute.value or ""
        return None

    def has_attribute(self, name: str) -> bool:
        return bool(self.attributes(name))

    def first(self, line_type: str) -> Line | None:
        """The first line of a given type letter at this level, or None."""
        return next((line for line in self.lines if line.type == line_type), None)

    @property
    def connection(self) -> Connection | None:
        line = self.first("c")
        return Connection.parse(line.value) if line else None


@dataclass(frozen=True, slots=True)
class MediaDescription(_Section):
    """One media description: its ``m=`` line (``lines[0]``) and the lines that follow it."""

    lines: tuple[Line, ...]

    @property
    def media_line(self) -> MediaLine:
        return MediaLine.parse(self.lines[0].value)

    @property
    def media(self) -> str:
        return self.media_line.media

    @property
    def port(self) -> int:
        return self.media_line.port

    @property
    def proto(self) -> str:
        return self.media_line.proto

    @property
    def formats(self) -> tuple[str, ...]:
        return self.media_line.formats


@dataclass(frozen=True, slots=True)
class SessionDescription(_Section):
    """A whole session description: session-level lines, then the media descriptions."""

    lines: tuple[Line, ...]
    media: tuple[MediaDescription, ...] = ()

    @property
    def origin(self) -> Origin:
        line = self.first("o")
        if line is None:
            raise SdpParseError("the description has no o= line")
        return Origin.parse(line.value)

    @property
    def session_name(self) -> str:
        line = self.first("s")
        return line.value if line else ""

    def all_lines(self) -> list[Line]:
        """Every line, session level first, in the order they are serialized."""
        out = list(self.lines)
        for media in self.media:
            out.extend(media.lines)
        return out

    def serialize(self) -> str:
        """The description as SDP text: one line per :class:`Line`, each ended by CRLF."""
        return "".join(f"{line}\r\n" for line in self.all_lines())

    __str__ = serialize


def _read_line(text: str, number_: int) -> Line:
    # RFC 8866 §5: a line is one case-significant type letter, "=", and a value; no
    # whitespace on either side of the "=". The value may hold any character but NUL, CR, LF.
    if len(text) < 2 or text[1] != "=" or not ("a" <= text[0] <= "z"):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise SdpParseError(f"expected <letter>=<value>, got {shown!r}", number_)
    value = text[2:]
    if not value:
        raise SdpParseError(f"{text[0]}= has an empty value", number_)
    if "\r" in value or "\x00" in value:
        raise SdpParseError(f"{text[0]}= holds a CR or NUL character", number_)
    return Line(text[0], value, number_)


def _check_value(line: Line) -> None:
    """Checks the syntax of one non-attribute line (RFC 8866 §5.1-§5.14)."""
    kind, value = line.type, line.value
    if kind == "v":
        if value != "0":  # RFC 8866 §5.1: the only version is 0.
            raise SdpParseError(f"unsupported SDP version v={value} (only v=0 exists)")
    elif kind == "o":
        Origin.parse(value)
    elif kind == "c":
        Connection.parse(value)
    elif kind == "b":
        # RFC 8866 §5.8: b=<bwtype>:<bandwidth>, the bandwidth a number (kilobits/s for AS/CT).
        bwtype, colon, bandwidth = value.partition(":")
        if not colon or not is_token(bwtype):
            raise SdpParseError("b= needs <bwtype>:<bandwidth>")
        number(bandwidth, "b= bandwidth")
    elif kind == "t":
        # RFC 8866 §5.9: t=<start-time> <stop-time>, decimal NTP seconds (0 0 = unbounded).
        fields = value.split(" ")
        if len(fields) != 2:
            raise SdpParseError("t= needs <start-time> <stop-time>")
        number(fields[0], "t= start time")
        number(fields[1], "t= stop time")
    elif kind == "m":
        MediaLine.parse(value)
    elif kind == "a":
        # RFC 8866 §5.13: a=<attribute-name>[:<value>]; the name is a token.
        name = value.partition(":")[0]
        if not is_token(name):
            raise SdpParseError(f"attribute name {name!r} is not a token")


def parse(text: str) -> SessionDescription:
    """Parses SDP text into a :class:`SessionDescription`.

    Lines may end in CRLF or in a bare LF (RFC 8866 §5 asks parsers to accept both); empty
    lines at the very end are ignored. Raises :class:`SdpParseError`, naming the line, for
    anything structurally wrong.
    """
    if not isinstance(text, str):
        raise SdpUsageError(f"parse() takes the SDP as str, not {type(text).__name__}")
    raw = text.split("\n")
    while raw and raw[-1] in ("", "\r"):
        raw.pop()
    if not raw:
        raise SdpParseError("the session description is empty")

    session: list[Line] = []
    media: list[list[Line]] = []
    seen: set[str] = set()
    rank = -1
    for number_, raw_line in enumerate(raw, 1):
        text_line = raw_line.removesuffix("\r")
        if not text_line:
            raise SdpParseError("empty line inside the description", number_)
        line = _read_line(text_line, number_)
        try:
            _check_value(line)
        except SdpParseError as exc:
            raise SdpParseError(exc.message, number_) from None

        # RFC 8866 §5: the first three lines are v=, o=, s=, in that order.
        if number_ <= 3 and line.type != "vos"[number_ - 1]:
            raise SdpParseError(
                f"expected {'vos'[number_ - 1]}= here (a description starts with v=, o=, s=), "
                f"found {line.type}=",
                number_,
            )
        if line.type == "m":
            if not media and "t" not in seen:
                raise SdpParseError("the session level has no t= line before the first m=", number_)
            media.append([line])
            seen = {"m"}
            rank = 0
            continue

        ranks = _MEDIA_RANK if media else _SESSION_RANK
        where = "a media description" if media else "the session level"
        # RFC 8866 §5: a description with a type letter the parser does not know is refused.
        if line.type not in _SESSION_RANK:
            raise SdpParseError(f"unknown line type {line.type}=", number_)
        if line.type not in ranks:
            raise SdpParseError(f"{line.type}= lines are not allowed at {where}", number_)
        once = _ONCE_PER_MEDIA if media else _ONCE_PER_SESSION
        if line.type in once and line.type in seen:
            raise SdpParseError(f"a second {line.type}= line at {where}", number_)
        if line.type == "r" and "t" not in seen:
            raise SdpParseError("r= must follow a t= line", number_)
        if ranks[line.type] < rank:
            later = max(seen, key=ranks.__getitem__)
            raise SdpParseError(
                f"{line.type}= comes after {later}=, but RFC 8866 §5 orders it before", number_
            )
        rank = ranks[line.type]
        seen.add(line.type)
        (media[-1] if media else session).append(line)

    if "t" not in seen and not media:
        missing = next(t for t in "vost" if t not in seen)
        raise SdpParseError(f"the description has no {missing}= line")
    return SessionDescription(
        tuple(session), tuple(MediaDescription(tuple(lines)) for lines in media)
    )
