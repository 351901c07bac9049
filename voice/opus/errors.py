"""The exceptions of :mod:`voice.opus`.

One base class, :class:`OpusError`, so a driver can catch everything this layer raises about
a peer's data in one clause. Parse errors also subclass :class:`ValueError`, the convention of
every ``voice`` layer: bad input is a bad value, never a crash.
"""

from __future__ import annotations

from voice.errors import LocalProtocolError, ParseError, VoiceError


class OpusError(VoiceError):
    """Base class of every error :mod:`voice.opus` raises about data it was given."""


class OpusParseError(OpusError, ParseError):
    """A peer's Opus data cannot be read: a packet that breaks the framing rules of RFC 6716
    §3 (R1-R7 of §3.4; the message names the rule), or an ``a=fmtp`` value (RFC 7587 §6.1)
    with bad syntax, a value that is not a number, or a flag that is not 0 or 1.

    The receiver drops such a packet (and counts it) instead of handing it to the decoder.
    """


class OpusCodecError(OpusError):
    """The codec library (libopus through PyAV/FFmpeg) refused a packet or a frame."""


class OpusUsageError(OpusError, LocalProtocolError, ValueError):
    """The caller passed an impossible setting or frame (a bug in the caller, not the peer)."""
