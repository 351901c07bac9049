"""The exceptions of :mod:`voice.ice`, beneath :mod:`voice.errors`.

A peer's STUN checks never raise out of an agent: the agent answers with an error response
or counts and drops (see ``counters``). What can raise is a candidate line that does not
parse (:class:`IceParseError`, the peer's fault) and a setting or call our own code
gets wrong (:class:`IceUsageError`, a bug that propagates).
"""

from __future__ import annotations

from voice.errors import LocalProtocolError, ParseError, VoiceError


class IceError(VoiceError):
    """Base class of every exception :mod:`voice.ice` raises on purpose."""


class IceParseError(IceError, ParseError):
    """An ``a=candidate`` line (RFC 8839 §5.1) is not well-formed."""


class IceUsageError(IceError, LocalProtocolError, ValueError):
    """The caller passed an impossible value (a bad ufrag, a preference out of range)."""
