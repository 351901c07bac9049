"""Events an :class:`voice.rtp.RtpSession` hands its driver through ``next_event()``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RtpByeReceived:
    """A remote source said BYE (RFC 3550 §6.6): it has left the session."""

    ssrc: int
    reason: bytes = b""


@dataclass(frozen=True, slots=True)
class RtpSsrcCollision:
    """A packet from the network carried our own SSRC (RFC 3550 §8.2): a loop or a
    collision. The packet was ignored; the driver may choose a new SSRC."""

    ssrc: int


RtpEvent = RtpByeReceived | RtpSsrcCollision
