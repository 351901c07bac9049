"""Which region serves a caller, and which relay ingresses its answer names (VOICE-STEER §3).

Sans-IO: the table is data read from a TOML file, health is what the poller last saw, and
:func:`choose` is a pure function of the two and the caller's address, so tests need no
network and no clock.

The file::

    [[region]]
    name = "eu"
    signaling = "http://10.1.0.2:8080"   # the region's signaling base URL
    ingress = "eu"                       # its relay, as the transceivers' --ingress names it
    capacity = 100                       # sessions; at or above it the region is skipped
    health = ["http://10.1.0.3:9100/healthz"]   # more probes (e.g. the relay's); optional

    [[prefix]]
    network = "10.1.0.0/16"
    regions = ["eu", "us"]               # nearest first

A caller matches the longest prefix; one that matches none gets the regions in file order.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from voice.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Ingress candidates an answer names at most: the nearest, and one to fall back to.
MAX_INGRESSES = 2


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    #: Base URL of the region's signaling (scheme, host, port; no path).
    signaling: str
    #: The name the region's transceivers know its relay ingress by; None: name none.
    ingress: str | None = None
    capacity: int = 100
    #: Further URLs that must answer 2xx for the region to count as up (its relays').
    health: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RegionHealth:
    """What the last poll of one region found."""

    #: The signaling answered /healthz with 2xx.
    signaling_up: bool = False
    #: Every extra health URL answered 2xx (the ingress is usable).
    ingress_up: bool = False
    #: Sessions the signaling reported (0 when it did not say).
    sessions: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    region: Region
    #: Ingress names for the answer, nearest the caller first.
    ingresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SteeringTable:
    regions: tuple[Region, ...]
    prefixes: tuple[tuple[Network, tuple[str, ...]], ...] = field(default=())

    def by_name(self, name: str) -> Region:
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(name)

    def order_for(self, client: str) -> tuple[Region, ...]:
        """The regions nearest ``client`` first: its longest matching prefix's list, then
        every other region in file order (so a caller always has somewhere to go)."""
        try:
            address = ipaddress.ip_address(client.split("%", 1)[0])
        except ValueError:
            address = None
        best: tuple[str, ...] = ()
        best_len = -1
        for network, names in self.prefixes:
            if (
                address is not None
                and address.version == network.version
                and address in network
                and network.prefixlen > best_len
            ):
                best, best_len = names, network.prefixlen
        ordered = [self.by_name(n) for n in best]
        ordered += [r for r in self.regions if r not in ordered]
        return tuple(ordered)


def choose(
    table: SteeringTable, client: str, health: Mapping[str, RegionHealth]
) -> Decision | None:
    """VOICE-STEER §3: the nearest region whose signaling and relay are up and that is under
    capacity, and the nearest usable ingresses; None when no region can take the call."""
    order = table.order_for(client)
    region = next(
        (
            r
            for r in order
            if (h := health.get(r.name)) is not None
            and h.signaling_up
            # A region's transceivers are reached only through its own relays (VOICE-RELAY
            # §12: every ingress forwards to the owning cluster's relays), so a region
            # whose relay probe fails cannot carry a call either.
            and h.ingress_up
            and h.sessions < r.capacity
        ),
        None,
    )
    if region is None:
        return None
    # Several entries (one per signaling endpoint) may share a region's ingress: name each
    # ingress once, at its nearest position.
    usable = dict.fromkeys(
        r.ingress
        for r in order
        if r.ingress is not None and (h := health.get(r.name)) is not None and h.ingress_up
    )
    ingresses = tuple(usable)[:MAX_INGRESSES]
    return Decision(region=region, ingresses=ingresses)


def load_table(path: Path) -> SteeringTable:
    """Reads and checks a regions file; a ConfigError names the file and what is wrong."""
    try:
        # TOML is UTF-8 whatever the locale; RecursionError: arrays nested too deep.
        return parse_table(tomllib.loads(path.read_text(encoding="utf-8")))
    except (
        OSError,
        UnicodeDecodeError,
        tomllib.TOMLDecodeError,
        RecursionError,
        ConfigError,
    ) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_table(data: Mapping[str, object]) -> SteeringTable:
    raw_regions = data.get("region")
    if not isinstance(raw_regions, list) or not raw_regions:
        raise ConfigError("the file names no [[region]]")
    regions: list[Region] = []
    for n, raw in enumerate(raw_regions):
        if not isinstance(raw, dict):
            raise ConfigError(f"region {n + 1} is not a table")
        regions.append(_region(n, raw))
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise ConfigError("two regions share a name")
    prefixes: list[tuple[Network, tuple[str, ...]]] = []
    raw_prefixes = data.get("prefix", [])
    if not isinstance(raw_prefixes, list):
        raise ConfigError("prefix must be an array of tables ([[prefix]])")
    for n, raw in enumerate(raw_prefixes):
        if not isinstance(raw, dict):
            raise ConfigError(f"prefix {n + 1} is not a table")
        try:
            network = ipaddress.ip_network(str(raw.get("network")), strict=False)
        except ValueError as exc:
            raise ConfigError(f"prefix {n + 1}: {exc}") from exc
        listed = raw.get("regions")
        if not isinstance(listed, list) or not listed:
            raise ConfigError(f"prefix {n + 1} ({network}) lists no regions")
        for name in listed:
            if name not in names:
                raise ConfigError(f"prefix {n + 1} ({network}) names unknown region {name!r}")
        prefixes.append((network, tuple(str(x) for x in listed)))
    return SteeringTable(regions=tuple(regions), prefixes=tuple(prefixes))


def _region(n: int, raw: Mapping[str, object]) -> Region:
    name = raw.get("name")
    signaling = raw.get("signaling")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"region {n + 1} has no name")
    if not isinstance(signaling, str) or not _http_base(signaling):
        raise ConfigError(f"region {name}: signaling must be an http(s) base URL")
    ingress = raw.get("ingress")
    if ingress is not None and (not isinstance(ingress, str) or not ingress.isidentifier()):
        raise ConfigError(f"region {name}: ingress must be a name (letters, digits, _)")
    capacity = raw.get("capacity", 100)
    if not isinstance(capacity, int) or capacity < 0:
        raise ConfigError(f"region {name}: capacity must be a whole number >= 0")
    health = raw.get("health", [])
    if not isinstance(health, list) or not all(isinstance(u, str) and _http(u) for u in health):
        raise ConfigError(f"region {name}: health must be a list of http(s) URLs")
    return Region(
        name=name,
        signaling=signaling.rstrip("/"),
        ingress=ingress,
        capacity=capacity,
        health=tuple(health),
    )


def _http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _http_base(url: str) -> bool:
    parts = urlsplit(url)
    return _http(url) and parts.path in ("", "/") and not parts.query


def parse_sessions(body: Mapping[str, object]) -> int:
    """The session count a signaling /healthz reports (0 when it does not say)."""
    sessions = body.get("sessions", 0)
    return sessions if isinstance(sessions, int) and sessions >= 0 else 0


def redirect_url(decision: Decision, query: Sequence[tuple[str, str]]) -> str:
    """VOICE-STEER §4: the region's session resource, the caller's own query parameters
    kept, and the ingress names appended nearest first."""
    from urllib.parse import urlencode

    pairs = [(k, v) for k, v in query if k != "ingress"]
    if decision.ingresses:
        pairs.append(("ingress", ",".join(decision.ingresses)))
    encoded = urlencode(pairs)
    return f"{decision.region.signaling}/v1/sessions" + (f"?{encoded}" if encoded else "")
