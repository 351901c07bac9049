"""The exceptions of :mod:`voice.sdp`.

Everything a peer's SDP can do wrong surfaces as an :class:`SdpError`, so the signaling
layer needs one ``except`` clause to turn a bad offer into a ``400`` with a readable reason:

* :class:`SdpParseError`: the text is not SDP, or a line or attribute we read is malformed.
  It names the line number when it knows it.
* :class:`UnsupportedOffer`: the offer is well-formed but asks for something this server
  cannot do (no audio, no Opus, no DTLS fingerprint, a DTLS role we cannot take, ...).

Mistakes of the caller (our own bugs: a malformed local ICE password, no local candidate)
raise :class:`ValueError` instead, on purpose *not* an :class:`SdpError`, so they are never
mistaken for the peer's fault.
"""

from __future__ import annotations


class SdpError(Exception):
    """Base class of every error caused by a peer's session description."""


class SdpParseError(SdpError, ValueError):
    """The session description (or one of its lines) is not well-formed.

    ``line`` is the 1-based line number in the text that was parsed, or ``None`` when the
    problem is not tied to one line (an empty description) or the line was built in code.
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.message = message
        self.line = line


class UnsupportedOffer(SdpError):  # noqa: N818 (the name reads as what happened)
    """A well-formed offer this server cannot answer; ``reason`` names the missing piece."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
