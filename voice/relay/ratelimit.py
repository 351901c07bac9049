"""A token bucket small enough to keep one per client address, for per-source packet limits.

Admission (:mod:`voice.relay.admission`) bounds how fast *new* addresses get in; once an
address is in, nothing used to bound how fast it sends. A single admitted source (an
attacker's own call, or a forged check that found a live ufrag) could then send tens of
thousands of datagrams a second, each costing the relay a forward and the transceiver a STUN
parse and an HMAC, and the loop that carries every other call falls behind (issue 11 §3).
A voice call sends about 50 datagrams a second; a bucket per source address refilled at a
few times that, with room for the bursts real callers make (a DTLS flight, a microphone
backlog sent at once), costs a legitimate caller nothing and caps a flooding one
(VOICE-RELAY §10).

Time is passed in; nothing reads a clock.
"""

from __future__ import annotations

#: Datagrams per second a client address may send once admitted, and the burst it may
#: send at once: five times a call's 50 packets a second, and ten seconds' backlog of
#: RTCP and checks on top of a second of audio.
CLIENT_RATE = 250.0
CLIENT_BURST = 500.0


class TokenBucket:
    """``take`` spends one token if there is one; tokens refill at ``rate`` up to ``burst``."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, burst: float, now: float) -> None:
        self.tokens = burst
        self.stamp = now

    def take(self, now: float, rate: float, burst: float) -> bool:
        tokens = min(self.tokens + (now - self.stamp) * rate, burst)
        self.stamp = now
        if tokens < 1.0:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1.0
        return True
