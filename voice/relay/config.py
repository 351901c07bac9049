"""The relay's configuration, and the sans-IO pieces built from it.

One frozen object carries everything ``voice relay`` accepts on its command line, so the
in-process form (:func:`voice.relay.worker.serve_relay`, used by tests and ``voice serve``)
and the multi-process form (:mod:`voice.relay.supervisor`) are configured the same way.
Its ``repr`` is safe to log: :class:`~voice.relay.token.TokenKey` hides its secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from voice.relay.admission import AdmissionLimiter
from voice.relay.directory import Directory, DnsPattern
from voice.relay.fleet import Fleet, FleetPattern, parse_fleet
from voice.relay.networks import NetworkAllowlist
from voice.relay.ratelimit import CLIENT_BURST, CLIENT_RATE
from voice.relay.router import Router
from voice.relay.table import RouteTable
from voice.relay.token import TokenKey, TokenVerifier
from voice.types import Address


@dataclass(frozen=True)
class RelayConfig:
    """Everything a relay worker needs; the defaults suit one host on loopback."""

    #: Fleet keys the relay accepts (current and previous); VOICE-TOKEN §7.
    keys: tuple[TokenKey, ...]
    #: The public address clients send to; port 0 picks one (in-process form only).
    public: Address = ("127.0.0.1", 0)
    #: Where the relay's internal sockets bind. With several workers, worker ``i`` binds
    #: port ``internal[1] + i`` (port 0: any free port, which then changes on a restart).
    internal: Address = ("127.0.0.1", 0)
    #: This relay's cluster; tokens naming another cluster are dropped.
    cluster: int = 0
    #: Transceiver id -> internal address, from a file or flags; wins over the pattern.
    static_directory: Mapping[int, Address] = field(default_factory=dict)
    #: A DNS-name pattern with ``{id}`` (and ``{cluster}``) for fleets, or None.
    dns_pattern: DnsPattern | None = None
    dns_refresh: float = 30.0
    dns_negative_ttl: float = 5.0
    #: Networks whose hosts may send shim packets, besides the directory's own addresses.
    transceiver_networks: tuple[str, ...] = ()
    table_size: int = 100_000
    idle_timeout: float = 30.0
    #: Admissions per second and burst per source IP.
    admission_rate: float = 20.0
    admission_burst: float = 40.0
    #: Admissions per second and burst of the worker as a whole (VOICE-RELAY §5).
    admission_global_rate: float = 1000.0
    admission_global_burst: float = 2000.0
    #: Datagrams per second and burst each known client may send (VOICE-RELAY §10).
    client_rate: float = CLIENT_RATE
    client_burst: float = CLIENT_BURST
    #: Oldest token accepted for a new client address, seconds (None: no limit).
    token_max_age: float | None = 24 * 3600.0
    #: VOICE-RELAY §12: cluster id -> backbone addresses of its relays, from flags; these
    #: win over ``fleet_file``, which is re-read when it changes.
    fleet_static: Mapping[int, tuple[Address, ...]] = field(default_factory=dict)
    fleet_file: str | None = None
    #: A DNS-name pattern with ``{cluster}`` naming a cluster's relays, or None.
    fleet_pattern: FleetPattern | None = None
    #: Seconds between checks of the fleet file, and between DNS refreshes of the pattern.
    fleet_refresh: float = 30.0
    #: Networks whose hosts may speak the backbone, besides the fleet view's own hosts.
    backbone_networks: tuple[str, ...] = ()
    #: Seconds between counter log lines (0: never).
    log_interval: float = 60.0
    #: Worker processes for the supervisor (the in-process form always runs one).
    workers: int = 1
    #: Pin each worker process to one CPU.
    pin_cpus: bool = True

    def build_router(self) -> Router:
        directory = Directory(
            self.static_directory,
            self.dns_pattern,
            cluster=self.cluster,
            refresh=self.dns_refresh,
            negative_ttl=self.dns_negative_ttl,
        )
        static: dict[int, tuple[Address, ...]] = {}
        if self.fleet_file is not None:
            # Read once here so the first datagrams find it; the worker re-reads it later.
            try:
                with open(self.fleet_file, encoding="utf-8") as f:
                    static.update(parse_fleet(f.read(), toml=self.fleet_file.endswith(".toml")))
            except (OSError, ValueError):
                static = {}
        static.update(self.fleet_static)
        fleet = Fleet(
            static,
            self.fleet_pattern,
            refresh=self.fleet_refresh,
            negative_ttl=self.dns_negative_ttl,
        )
        return Router(
            TokenVerifier(self.keys, max_age=self.token_max_age),
            directory,
            cluster=self.cluster,
            table=RouteTable(self.table_size, self.idle_timeout, self.client_burst),
            limiter=AdmissionLimiter(
                self.admission_rate,
                self.admission_burst,
                global_rate=self.admission_global_rate,
                global_burst=self.admission_global_burst,
            ),
            client_rate=self.client_rate,
            client_burst=self.client_burst,
            allowlist=NetworkAllowlist(
                self.transceiver_networks, extra_hosts=directory.known_hosts
            ),
            fleet=fleet,
            backbone=NetworkAllowlist(self.backbone_networks, extra_hosts=fleet.known_hosts),
        )
