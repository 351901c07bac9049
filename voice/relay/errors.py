"""The exceptions of :mod:`voice.relay`, beneath :mod:`voice.errors`.

The router never raises about a datagram: a bad one is counted under a
:class:`~voice.relay.counters.DropReason` and dropped. What raises is a shim header that does
not parse (:class:`RelayParseError`, a bad datagram from the other side of the shim) and
settings our own code gets wrong (:class:`RelayUsageError`).
"""

from __future__ import annotations

from voice.errors import LocalProtocolError, ParseError, VoiceError


class RelayError(VoiceError):
    """Base class of every exception :mod:`voice.relay` raises on purpose."""


class RelayParseError(RelayError, ParseError):
    """A shim header (VOICE-SHIM) the receiver cannot use; it drops the datagram and counts it."""


class RelayUsageError(RelayError, LocalProtocolError, ValueError):
    """The caller passed an impossible setting (a bad key id, no room in the table)."""
