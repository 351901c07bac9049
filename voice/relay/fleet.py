"""The relay's view of the fleet: cluster id -> the backbone addresses of that cluster's relays.

A relay that admits a check whose routing token names another cluster forwards it over the
backbone to one of that cluster's relays (VOICE-RELAY §12), so it has to know where they
are. Two sources, as for transceivers (VOICE-RELAY §6):

* a **static mapping** from a JSON or TOML file (re-read by the driver when it changes, so
  a fleet change needs no restart) and command-line flags;
* a **DNS-name pattern** with ``{cluster}``, e.g.
  ``relays.{cluster}.backbone.voice.internal:50100``, whose name resolves to every relay
  of the cluster (one A/AAAA record each). A static entry wins over the pattern.

This module is the policy only, sans-IO like :mod:`voice.relay.directory`: what is cached,
when to ask again, what to answer meanwhile. The driver resolves names and reports back::

    fleet.relays(cluster, now)   -> a tuple of addresses, or a LookupMiss saying why not
    fleet.take_requests()        -> names to resolve now
    fleet.resolved(cluster, addresses_or_None, now)

It also names the hosts the backbone accepts datagrams from (:meth:`Fleet.known_hosts`), with
the networks given on the command line: the backbone must not be an open relay.
"""

from __future__ import annotations

import json
import tomllib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from voice.errors import ConfigError
from voice.relay.directory import LookupMiss, parse_hostport
from voice.types import Address

#: The most relays one cluster may list; more are ignored (a DNS answer is bounded too).
MAX_RELAYS = 64


@dataclass(frozen=True, slots=True)
class FleetPattern:
    """A host-name template with ``{cluster}`` and a port: the name of a cluster's relays."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> FleetPattern:
        host, port = parse_hostport(text)
        if "{cluster}" not in host:
            raise ConfigError(f"{text!r}: a fleet DNS pattern needs a {{cluster}} placeholder")
        pattern = cls(host, port)
        pattern.name(0)  # refuses unknown placeholders now rather than per packet
        return pattern

    def name(self, cluster: int) -> str:
        try:
            return self.host.format(cluster=cluster)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"bad fleet DNS pattern {self.host!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class FleetRequest:
    """A name the driver should resolve (to all its addresses) and report with
    :meth:`Fleet.resolved`."""

    cluster: int
    host: str
    port: int


class _Cached:
    __slots__ = ("addresses", "fetched", "in_flight", "last_good")

    def __init__(self) -> None:
        self.addresses: tuple[Address, ...] = ()
        self.fetched = float("-inf")
        self.last_good = float("-inf")
        self.in_flight = False


class Fleet:
    """Static entries plus a DNS pattern, with the directory's refresh-ahead policy."""

    def __init__(
        self,
        static: Mapping[int, Sequence[Address]] | None = None,
        pattern: FleetPattern | None = None,
        *,
        refresh: float = 30.0,
        negative_ttl: float = 5.0,
        stale_limit: float = 300.0,
    ) -> None:
        self.static: dict[int, tuple[Address, ...]] = {}
        #: Bumped whenever the set of known addresses may have changed.
        self.generation = 0
        self.replace_static(static or {})
        self.pattern = pattern
        self.refresh = refresh
        self.negative_ttl = negative_ttl
        self.stale_limit = stale_limit
        self._cache: dict[int, _Cached] = {}
        self._requests: list[FleetRequest] = []
        self.resolutions = 0
        self.failures = 0

    def replace_static(self, static: Mapping[int, Sequence[Address]]) -> None:
        """Installs a new static mapping (a re-read file): takes effect for new admissions."""
        self.static = {c: tuple(a[:MAX_RELAYS]) for c, a in static.items() if a}
        self.generation += 1

    @property
    def configured(self) -> bool:
        """Whether this relay can forward to any other cluster at all."""
        return bool(self.static) or self.pattern is not None

    def relays(self, cluster: int, now: float) -> tuple[Address, ...] | LookupMiss:
        """The backbone addresses of ``cluster``'s relays at ``now``, or why there are none."""
        addresses = self.static.get(cluster)
        if addresses:
            return addresses
        if self.pattern is None:
            return LookupMiss.UNKNOWN
        entry = self._cache.get(cluster)
        if entry is None:
            entry = self._cache[cluster] = _Cached()
        age = now - entry.fetched
        if entry.addresses:
            if age >= self.refresh and not entry.in_flight:
                self._request(cluster, entry)
            return entry.addresses
        if entry.in_flight:
            return LookupMiss.PENDING
        if age >= self.negative_ttl:
            self._request(cluster, entry)
            return LookupMiss.PENDING
        return LookupMiss.FAILED

    def _request(self, cluster: int, entry: _Cached) -> None:
        assert self.pattern is not None
        entry.in_flight = True
        self._requests.append(FleetRequest(cluster, self.pattern.name(cluster), self.pattern.port))

    @property
    def wants_resolution(self) -> bool:
        return bool(self._requests)

    def take_requests(self) -> list[FleetRequest]:
        requests, self._requests = self._requests, []
        return requests

    def resolved(self, cluster: int, addresses: Sequence[Address] | None, now: float) -> None:
        """Reports a lookup: every address the name had, or None (or nothing) on failure."""
        entry = self._cache.get(cluster)
        if entry is None:
            return
        entry.in_flight = False
        if addresses:
            self.resolutions += 1
            found = tuple(sorted(set(addresses)))[:MAX_RELAYS]
            if found != entry.addresses:
                self.generation += 1
            entry.addresses = found
            entry.fetched = entry.last_good = now
            return
        self.failures += 1
        if entry.addresses and now - entry.last_good <= self.stale_limit:
            entry.fetched = now - self.refresh + self.negative_ttl
            return
        if entry.addresses:
            self.generation += 1
        entry.addresses = ()
        entry.fetched = now

    def known_hosts(self) -> set[str]:
        """Every relay host the fleet view currently names (static and resolved)."""
        hosts = {host for addresses in self.static.values() for host, _ in addresses}
        for entry in self._cache.values():
            hosts.update(host for host, _ in entry.addresses)
        return hosts


def pick(relays: Sequence[Address], client: Address) -> Address:
    """One relay of a cluster for ``client``: the same one for the same client while the
    list does not change, and the clients spread over the list. Any choice would do (the
    owning cluster's relays keep no state for forwarded calls, VOICE-RELAY §12); a stable
    one keeps a call on one backbone path."""
    if len(relays) == 1:
        return relays[0]
    host, port = client
    return relays[(zlib.crc32(host.encode()) ^ port) % len(relays)]


def parse_fleet(text: str, *, toml: bool) -> dict[int, tuple[Address, ...]]:
    """Reads a fleet file: a ``clusters`` table of ``id = ["host:port", ...]``.

    JSON: ``{"clusters": {"2": ["10.2.0.5:50100"]}}``; TOML: ``[clusters]`` then
    ``2 = ["10.2.0.5:50100"]`` lines. A single string stands for a list of one.
    """
    try:
        document = tomllib.loads(text) if toml else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"fleet file does not parse: {exc}") from None
    table = document.get("clusters") if isinstance(document, dict) else None
    if not isinstance(table, dict):
        raise ConfigError("fleet file needs a 'clusters' table")
    fleet: dict[int, tuple[Address, ...]] = {}
    for key, value in table.items():
        items = [value] if isinstance(value, str) else value
        if (
            not str(key).isdecimal()
            or int(key) > 0xFFFF
            or not isinstance(items, list)
            or not all(isinstance(item, str) for item in items)
        ):
            raise ConfigError(f'fleet entry {key!r}: expected id = ["host:port", ...]')
        fleet[int(key)] = tuple(parse_hostport(item) for item in items)
    return fleet
