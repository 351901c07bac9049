"""Token buckets for the signaling API: per client address, and one for everyone.

Every request that changes state costs its client a token; a client whose bucket is empty
is told to come back later (``429`` with ``Retry-After``) before anything else is done for
it, so a refused request costs a dictionary lookup and a few float operations. A second,
global bucket bounds the offers the whole server parses per second, whatever number of
addresses they come from: each accepted offer is CPU taken from the event loop that also
carries every call's media.

Clients are keyed by IP address; an IPv6 client by its /64, since one host routinely holds
a whole /64 and could otherwise pick a fresh address per request. The table of buckets is
bounded: when full, the least recently used bucket is forgotten (a forgotten client starts
again with a full bucket, which the global bucket still bounds).

Sans-IO: the caller passes ``now`` (seconds on any monotonic clock).
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; starts full."""

    rate: float
    burst: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> TokenBucket:
        return cls(rate, burst, burst, now)

    def take(self, now: float, cost: float = 1.0) -> float:
        """Takes ``cost`` tokens and returns 0.0, or takes nothing and returns the seconds
        until the bucket will hold ``cost`` tokens."""
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        if self.rate <= 0:
            return math.inf
        return (cost - self.tokens) / self.rate


def client_key(address: str | None) -> str:
    """The rate-limiting identity of a client address: the IPv4 address, or the IPv6 /64."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


class ClientBuckets:
    """One :class:`TokenBucket` per client key, at most ``max_clients`` of them."""

    def __init__(self, rate: float, burst: float, max_clients: int = 4096) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, now: float, cost: float = 1.0) -> float:
        """Like :meth:`TokenBucket.take`, for the bucket of ``key``."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket.full(self.rate, self.burst, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now, cost)
