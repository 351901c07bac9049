"""The exceptions of :mod:`voice.rtp`.

Bad bytes from a peer raise exactly one type, :class:`RtpParseError`, which drivers count
and drop. Building a packet from impossible values (a 7-bit payload type of 200, a
seventeenth CSRC) is the caller's bug and raises :class:`RtpUsageError`, a
:class:`~voice.errors.LocalProtocolError` (and a :class:`ValueError`).
"""

from __future__ import annotations

from voice.errors import LocalProtocolError, ParseError, VoiceError


class RtpError(VoiceError):
    """Base of every error :mod:`voice.rtp` raises on purpose."""


class RtpParseError(RtpError, ParseError):
    """An RTP or RTCP packet from the network is malformed (too short, wrong version, a
    length field that runs past the end, ...)."""


class RtpUsageError(RtpError, LocalProtocolError, ValueError):
    """The caller asked for a packet or setting that cannot exist (a bug in the caller)."""
