"""The transceiver directory: transceiver id -> internal address, with a DNS cache policy.

A verified routing token names a transceiver by number; the relay still needs its internal
address. Two sources, both common in deployments (VOICE-RELAY §6):

* a **static mapping**, from a JSON or TOML file or command-line flags: the embedded
  default (`voice serve`) and small fixed fleets;
* a **DNS-name pattern** such as ``transceiver-{id}.transceivers.voice.svc.cluster.local:4000``,
  which is exactly the stable per-pod name a Kubernetes StatefulSet with a headless service
  gives its pods. A static entry wins over the pattern.

This module holds only the *policy* (what is cached, when to ask again, what to answer
meanwhile); the Trio driver does the resolving (``trio.socket.getaddrinfo``), because a
lookup may block and a sans-IO object must not. The conversation is::

    directory.lookup(id, now)     -> an Address, or a LookupMiss saying why not
    directory.take_requests()     -> names the driver should resolve now
    directory.resolved(id, address_or_None, now)

Policy: a fresh answer is used for ``refresh`` seconds; after that the old address is still
used while a new lookup runs in the background (a DNS hiccup must not stop admissions). A
failed lookup is remembered for ``negative_ttl`` seconds, and while it is, packets for that
transceiver are dropped and counted rather than queued behind a resolver that is down. If a
refresh fails, the last good address is kept for up to ``stale_limit`` seconds.

The cache is bounded by the id space (16 bits) and, more to the point, an entry is created
only after a token's MAC verified, so nobody outside signaling can make it grow.
"""

from __future__ import annotations

import enum
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass

from voice.errors import ConfigError
from voice.types import Address


class LookupMiss(enum.Enum):
    """Why :meth:`Directory.lookup` returned no address."""

    UNKNOWN = "unknown"  # no static entry and no DNS pattern: this relay cannot reach it
    PENDING = "pending"  # a DNS lookup has been requested or is running
    FAILED = "failed"  # the last DNS lookup failed and is still negatively cached


def parse_hostport(text: str, *, any_port: bool = False) -> Address:
    """``"10.0.0.5:4000"``, ``"[fd00::5]:4000"`` or ``"name:4000"`` as an Address; with
    ``any_port``, port 0 too (an address to bind: "any free port").

    Only operator input is written this way (flags, directory and fleet files), so a bad
    one is a :class:`~voice.errors.ConfigError` that quotes it.
    """
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdecimal():
        raise ConfigError(f"{text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"{text!r}: write an IPv6 address in brackets, [addr]:port")
    port = int(port_text)
    if not (0 if any_port else 1) <= port <= 0xFFFF:
        raise ConfigError(f"{text!r}: port out of range")
    return host, port


@dataclass(frozen=True, slots=True)
class DnsPattern:
    """A host-name template with ``{id}`` (and optionally ``{cluster}``) and a port."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> DnsPattern:
        host, port = parse_hostport(text)
        pattern = cls(host, port)
        pattern.name(0, 0)  # refuses unknown placeholders now rather than per packet
        if "{id}" not in host:
            raise ConfigError(f"{text!r}: a DNS pattern needs an {{id}} placeholder")
        return pattern

    def name(self, transceiver: int, cluster: int) -> str:
        try:
            return self.host.format(id=transceiver, cluster=cluster)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"bad DNS pattern {self.host!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class ResolveRequest:
    """A name the driver should resolve and report back with :meth:`Directory.resolved`."""

    transceiver: int
    host: str
    port: int


class _Cached:
    __slots__ = ("address", "fetched", "in_flight", "last_good")

    def __init__(self) -> None:
        self.address: Address | None = None
        self.fetched = float("-inf")
        self.last_good = float("-inf")
        self.in_flight = False


class Directory:
    """Static entries plus a DNS pattern with a refresh-ahead, negatively caching policy."""

    def __init__(
        self,
        static: Mapping[int, Address] | None = None,
        pattern: DnsPattern | None = None,
        *,
        cluster: int = 0,
        refresh: float = 30.0,
        negative_ttl: float = 5.0,
        stale_limit: float = 300.0,
    ) -> None:
        self.static: dict[int, Address] = dict(static or {})
        self.pattern = pattern
        self.cluster = cluster
        self.refresh = refresh
        self.negative_ttl = negative_ttl
        self.stale_limit = stale_limit
        self._cache: dict[int, _Cached] = {}
        self._requests: list[ResolveRequest] = []
        #: Counts of finished lookups, for the driver's counters.
        self.resolutions = 0
        self.failures = 0
        #: Bumped whenever the set of known addresses changes (see :meth:`known_hosts`).
        self.generation = 0

    def lookup(self, transceiver: int, now: float) -> Address | LookupMiss:
        """The address of ``transceiver`` at ``now``, or why there is none yet."""
        address = self.static.get(transceiver)
        if address is not None:
            return address
        if self.pattern is None:
            return LookupMiss.UNKNOWN
        entry = self._cache.get(transceiver)
        if entry is None:
            entry = self._cache[transceiver] = _Cached()
        age = now - entry.fetched
        if entry.address is not None:
            if age >= self.refresh and not entry.in_flight:
                self._request(transceiver, entry)
            return entry.address
        if entry.in_flight:
            return LookupMiss.PENDING
        if age >= self.negative_ttl:
            self._request(transceiver, entry)
            return LookupMiss.PENDING
        return LookupMiss.FAILED

    def _request(self, transceiver: int, entry: _Cached) -> None:
        assert self.pattern is not None
        entry.in_flight = True
        host = self.pattern.name(transceiver, self.cluster)
        self._requests.append(ResolveRequest(transceiver, host, self.pattern.port))

    @property
    def wants_resolution(self) -> bool:
        """True when :meth:`take_requests` has something (cheap enough to ask per batch)."""
        return bool(self._requests)

    def take_requests(self) -> list[ResolveRequest]:
        """Drains the lookups to start; each must be answered with :meth:`resolved`."""
        requests, self._requests = self._requests, []
        return requests

    def resolved(self, transceiver: int, address: Address | None, now: float) -> None:
        """Reports the result of a lookup: the address, or None when it failed."""
        entry = self._cache.get(transceiver)
        if entry is None:
            return
        entry.in_flight = False
        if address is not None:
            self.resolutions += 1
            if entry.address != address:
                self.generation += 1
            entry.address = address
            entry.fetched = entry.last_good = now
            return
        self.failures += 1
        if entry.address is not None and now - entry.last_good <= self.stale_limit:
            # Keep serving the last good address; ask again after the negative TTL.
            entry.fetched = now - self.refresh + self.negative_ttl
            return
        if entry.address is not None:
            self.generation += 1
        entry.address = None
        entry.fetched = now

    def known_hosts(self) -> set[str]:
        """The hosts of every address the directory currently knows (static and resolved)."""
        hosts = {host for host, _ in self.static.values()}
        hosts.update(e.address[0] for e in self._cache.values() if e.address is not None)
        return hosts


def parse_static(text: str, *, toml: bool) -> dict[int, Address]:
    """Reads a static directory file: a ``transceivers`` table of ``id = "host:port"``.

    JSON: ``{"transceivers": {"1": "10.0.0.5:4000"}}``; TOML: ``[transceivers]`` then
    ``1 = "10.0.0.5:4000"`` lines.
    """
    try:
        document = tomllib.loads(text) if toml else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"directory file does not parse: {exc}") from None
    table = document.get("transceivers") if isinstance(document, dict) else None
    if not isinstance(table, dict):
        raise ConfigError("directory file needs a 'transceivers' table")
    static: dict[int, Address] = {}
    for key, value in table.items():
        if not str(key).isdecimal() or int(key) > 0xFFFF or not isinstance(value, str):
            raise ConfigError(f'directory entry {key!r}: expected id = "host:port"')
        static[int(key)] = parse_hostport(value)
    return static
