"""Per-source-IP rate limit on new-address admissions: one token bucket per IP.

A valid routing token is not a secret: it travels in clear in every STUN check, and any
client has one of its own. Replayed from many source ports of one host, a single token could
create a table entry per port and push everyone else's entries out. So each *admission*
(a new client address entering the table) costs one token from a bucket keyed by the
source IP, refilled at ``rate`` per second up to ``burst`` (VOICE-RELAY §3).

Only admissions pay; packets from known addresses and packets that fail the token check do
not. Charging failed checks too would let someone spoofing a victim's IP drain the victim's
bucket with garbage; not charging them costs the relay one HMAC per forged packet, which is
cheap. The defaults leave room for ICE (a browser checks from a handful of local candidates)
and for many users behind one carrier-grade NAT.

Per-IP buckets cannot stop many sources: a second, global bucket bounds the admissions of
the whole worker (:meth:`AdmissionLimiter.allow_global`).

The buckets themselves are bounded: beyond ``max_sources`` IPs the least recently charged is
forgotten, which only ever makes the limiter more lenient (a forgotten IP starts with a full
bucket), never blocks anyone it should not. Time is passed in; nothing reads a clock.
"""

from __future__ import annotations

from collections import OrderedDict

from voice.relay.errors import RelayUsageError
from voice.relay.ratelimit import TokenBucket


class AdmissionLimiter:
    """Token buckets of admissions per source IP."""

    def __init__(
        self,
        rate: float = 20.0,
        burst: float = 40.0,
        max_sources: int = 65536,
        *,
        global_rate: float = 1000.0,
        global_burst: float = 2000.0,
    ) -> None:
        if rate <= 0 or burst < 1 or max_sources < 1 or global_rate <= 0 or global_burst < 1:
            raise RelayUsageError(
                "rates must be positive, bursts at least 1, max_sources at least 1"
            )
        self.rate = rate
        self.burst = burst
        self.max_sources = max_sources
        self.global_rate = global_rate
        self.global_burst = global_burst
        self._global = TokenBucket(global_burst, 0.0)
        self._global_started = False
        # ip -> (tokens left, time they were counted); least recently charged first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, ip: str, now: float) -> bool:
        """Charges one admission to ``ip`` at ``now``; False when its bucket is empty."""
        bucket = self._buckets.pop(ip, None)
        if bucket is None:
            tokens = self.burst
        else:
            tokens, then = bucket
            tokens = min(self.burst, tokens + (now - then) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[ip] = (tokens, now)
        if len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return allowed

    def allow_global(self, now: float) -> bool:
        """Charges one admission to the worker as a whole; False when that bucket is empty.

        Per-IP buckets do nothing against many source addresses (a botnet, spoofed sources
        on a network that does not filter them): this bucket bounds how fast the table can
        be filled at all (VOICE-RELAY §5). Asked only after the source's own bucket agreed,
        so one source cannot spend everyone's budget.
        """
        bucket = self._global
        if not self._global_started:
            bucket.stamp, self._global_started = now, True
        return bucket.take(now, self.global_rate, self.global_burst)

    def forget_idle(self, now: float) -> int:
        """Drops buckets that have refilled completely (same as absent); returns how many."""
        full_after = self.burst / self.rate
        removed = 0
        while self._buckets:
            ip, (_, then) = next(iter(self._buckets.items()))
            if now - then < full_after:
                break
            del self._buckets[ip]
            removed += 1
        return removed
