"""The exceptions of :mod:`voice.sdp`.

Everything a peer's SDP can do wrong surfaces as an :class:`SdpError`, so the signaling
layer needs one ``except`` clause to turn a bad offer into a ``400`` with a readable reason:

* :class:`SdpParseError`: the text is not SDP, or a line or attribute we read is malformed.
  It names the line number when it knows it.
* :class:`UnsupportedOffer`: the offer is well-formed but asks for something this server
  cannot do (no audio, no Opus, no DTLS fingerprint, a DTLS role we cannot take, ...).

Both are :class:`~voice.errors.RemoteProtocolError`, which is what the signaling layer
catches. Mistakes of the caller (our own bugs: a malformed local ICE password, no local
candidate) raise :class:`SdpUsageError`, a :class:`~voice.errors.LocalProtocolError`, so they
are never mistaken for the peer's fault.
"""

from __future__ import annotations

from voice.errors import LocalProtocolError, ParseError, RemoteProtocolError, VoiceError


class SdpError(VoiceError):
    """Base class of every exception :mod:`voice.sdp` raises on purpose."""


class SdpParseError(SdpError, ParseError):
    """The session description (or one of its lines) is not well-formed.

    ``line`` is the 1-based line number in the text that was parsed, or ``None`` when the
    problem is not tied to one line (an empty description) or the line was built in code.
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.message = message
        self.line = line


class UnsupportedOffer(SdpError, RemoteProtocolError):  # noqa: N818 (the name reads as what happened)
    """A well-formed offer this server cannot answer; ``reason`` names the missing piece."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SdpUsageError(SdpError, LocalProtocolError, ValueError):
    """The caller built a description from impossible local values, or handed the parser
    something that is not text (a bug in the caller)."""
