"""The exceptions of :mod:`voice.rtp`.

Bad bytes from a peer raise exactly one type, :class:`RtpParseError`, which drivers count
and drop. Building a packet from impossible values (a 7-bit payload type of 200, a
seventeenth CSRC) is the caller's bug and raises a plain :class:`ValueError`.
"""

from __future__ import annotations


class RtpError(Exception):
    """Base of every error :mod:`voice.rtp` raises on purpose."""


class RtpParseError(RtpError, ValueError):
    """An RTP or RTCP packet from the network is malformed (too short, wrong version, a
    length field that runs past the end, ...)."""
