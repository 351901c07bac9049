"""The exceptions of the STUN layer.

A peer's bytes can only ever raise :class:`StunParseError` (a :class:`ValueError`), so a
driver needs exactly one ``except`` clause to count and drop a bad datagram. Mistakes of the
caller (asking to encode an attribute that cannot be encoded) raise :class:`StunUsageError`,
which is a bug in our own code and is left to propagate.
"""

from __future__ import annotations

from voice.errors import LocalProtocolError, ParseError, VoiceError


class StunError(VoiceError):
    """Base class of every exception raised by :mod:`voice.stun`."""


class StunParseError(StunError, ParseError):
    """A datagram is not a well-formed STUN message (RFC 8489 §5, §14)."""


class StunUsageError(StunError, LocalProtocolError, ValueError):
    """The caller asked for a message that cannot be encoded (a local bug, not bad input)."""
