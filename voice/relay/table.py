"""The relay's soft table: client address -> transceiver address, with idle expiry.

This table is the relay's only per-session state, and it is *soft*: losing it (a restart, an
eviction) loses nothing, because either side rebuilds an entry with its next packet
(VOICE-RELAY §4): the client's next STUN check is admitted again by its routing token, and
the transceiver's next shim packet names the client outright.

Entries are kept in least-recently-used order in one :class:`collections.OrderedDict`, so
the two ways an entry leaves are both "pop from the front":

* **idle expiry** (VOICE-RELAY §5): an entry nobody used for ``idle_timeout`` seconds goes.
  A call sends audio every 20 ms and a consent check at least every few seconds, so an idle
  entry belongs to a call that ended (or moved), not to one that is quiet.
* **size bound**: when the table is full, a new entry evicts the least recently used one,
  which is the one closest to expiring anyway. Admission is rate-limited per source IP
  (:mod:`voice.relay.admission`), so one address cannot churn the table alone.

Each entry also caches the shim header that names its client, so forwarding a packet to the
transceiver is one dict lookup and one concatenation. Time is passed in (``now``, seconds
on any monotonic origin); the table reads no clock.
"""

from __future__ import annotations

from collections import OrderedDict

from voice.relay.errors import RelayUsageError
from voice.relay.ratelimit import CLIENT_BURST, TokenBucket
from voice.relay.shim import shim_header
from voice.types import Address


class Route(TokenBucket):
    """One entry: where a client's packets go, the client's shim header, when last used,
    and (as a :class:`TokenBucket`) how many more datagrams the client may send now."""

    __slots__ = ("header", "last_seen", "local", "transceiver")

    def __init__(
        self, transceiver: Address, header: bytes, last_seen: float, burst: float = CLIENT_BURST
    ) -> None:
        super().__init__(burst, last_seen)
        self.transceiver = transceiver
        self.header = header
        self.last_seen = last_seen
        #: The relay address the client last wrote to, on a wildcard-bound socket (the
        #: source of replies, VOICE-RELAY §11); None: the kernel's choice.
        self.local: str | None = None

    def __repr__(self) -> str:
        return f"Route(transceiver={self.transceiver!r}, last_seen={self.last_seen!r})"


class RouteTable:
    """A bounded, idle-expiring map from client address to :class:`Route`."""

    def __init__(
        self, max_entries: int = 100_000, idle_timeout: float = 30.0, burst: float = CLIENT_BURST
    ) -> None:
        if max_entries < 1 or idle_timeout <= 0:
            raise RelayUsageError("the table needs room for one entry and a positive idle timeout")
        self.max_entries = max_entries
        self.idle_timeout = idle_timeout
        #: A new entry's packet budget (VOICE-RELAY §10): full, so a call's first burst passes.
        self.burst = burst
        self._routes: OrderedDict[Address, Route] = OrderedDict()
        #: Entries removed because they were idle too long / to make room (for counters).
        self.expired = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._routes)

    def __contains__(self, client: object) -> bool:
        return client in self._routes

    def peek(self, client: Address) -> Route | None:
        """The entry for ``client`` without refreshing it (for tests and diagnostics)."""
        return self._routes.get(client)

    def lookup(self, client: Address, now: float) -> Route | None:
        """The live entry for ``client``, refreshed as used at ``now``; None if absent or idle."""
        route = self._routes.get(client)
        if route is None:
            return None
        if now - route.last_seen > self.idle_timeout:
            # Expired but not yet swept: it must not come back to life.
            del self._routes[client]
            self.expired += 1
            return None
        route.last_seen = now
        self._routes.move_to_end(client)
        return route

    def update(
        self, client: Address, transceiver: Address, now: float, header: bytes | None = None
    ) -> Route:
        """Creates or refreshes the entry ``client -> transceiver`` at ``now``.

        An existing entry is re-pointed when ``transceiver`` differs: the newest statement
        wins (VOICE-RELAY §4). ``header`` is the shim header the client's datagrams go out
        with: None for version 1 (a transceiver of this cluster), or a version 2 header for
        another cluster's relay (VOICE-RELAY §12). Raises ValueError for an address no shim
        header can name.
        """
        route = self._routes.get(client)
        if route is not None:
            if route.transceiver != transceiver:
                route.transceiver = transceiver
            if header is not None:
                route.header = header
            elif route.header[0] != 1:
                route.header = shim_header(client)
            route.last_seen = now
            self._routes.move_to_end(client)
            return route
        route = Route(transceiver, header or shim_header(client), now, self.burst)
        if len(self._routes) >= self.max_entries:
            self.handle_timeout(now)
            while len(self._routes) >= self.max_entries:
                self._routes.popitem(last=False)
                self.evicted += 1
        self._routes[client] = route
        return route

    def items(self) -> list[tuple[Address, Route]]:
        """Every entry, least recently used first (a copy: for rare walks, not per packet)."""
        return list(self._routes.items())

    def remove(self, client: Address) -> bool:
        return self._routes.pop(client, None) is not None

    def handle_timeout(self, now: float) -> None:
        """Removes every entry idle for longer than ``idle_timeout`` (counted in
        :attr:`expired`)."""
        removed = 0
        routes = self._routes
        limit = now - self.idle_timeout
        while routes:
            client, route = next(iter(routes.items()))
            if route.last_seen >= limit:
                break
            del routes[client]
            removed += 1
        self.expired += removed

    def get_timer(self) -> float | None:
        """When the oldest entry expires (the next useful :meth:`handle_timeout`); None if
        the table is empty."""
        if not self._routes:
            return None
        oldest = next(iter(self._routes.values()))
        return oldest.last_seen + self.idle_timeout
