"""``voice relay``: run the stateless UDP relay (N worker processes on one public port)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from voice.cli.keys import KEYS_ENV, KEYS_HELP, add_key_option, load_fleet_keys
from voice.cli.logs import add_log_option, configure_logging
from voice.cli.options import (
    RawHelpFormatter,
    add_rate_options,
    check_networks,
    positive,
    read_file,
    uint16,
)
from voice.errors import ConfigError

if TYPE_CHECKING:
    from voice.relay.config import RelayConfig

P = TypeVar("P")

__all__ = ["KEYS_ENV", "build_config"]

DESCRIPTION = """\
Run the relay: one public UDP port for the whole fleet. A new client address is admitted
only by a STUN Binding request whose server ufrag is a valid routing token (HMAC under the
fleet key); its packets then go, with a small shim header naming the client, to the
transceiver the token names. Packets from transceivers go back out of the public port to
the client their shim header names. The relay never decrypts and never answers a client
by itself. A valid token of another cluster is carried over the backbone to one of that
cluster's relays (the fleet view), and its replies come back the same way, so a caller
keeps one address whichever cluster owns its call. See spec/voice-relay.md,
spec/voice-token.md and spec/voice-shim.md.
"""

EPILOG = (
    KEYS_HELP
    + f"""
directory file (JSON or TOML by extension):
  {{"transceivers": {{"1": "10.0.0.5:4000", "2": "[fd00::2]:4000"}}}}
  [transceivers]
  1 = "10.0.0.5:4000"

fleet file (JSON or TOML by extension), cluster id -> relays' internal addresses:
  {{"clusters": {{"1": ["10.1.0.5:50100"], "2": ["10.2.0.5:50100", "10.2.0.6:50100"]}}}}
  [clusters]
  2 = ["10.2.0.5:50100", "10.2.0.6:50100"]

example: {KEYS_ENV}=1:00112233445566778899aabbccddeeff voice relay --port 50000 \\
  --transceiver-dns 'transceiver-{{id}}.transceivers.voice.svc.cluster.local:4000' \\
  --transceiver-network 10.244.0.0/16
"""
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "relay",
        help="run the stateless UDP relay that routes clients to transceivers by ICE ufrag",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=RawHelpFormatter,
    )
    public = p.add_argument_group("public side (clients)")
    public.add_argument(
        "--host",
        default="0.0.0.0",
        help="address to receive client traffic on; on a wildcard (0.0.0.0, ::) each reply "
        "leaves from the address the client sent to",
    )
    public.add_argument("--port", type=int, default=50000, help="the public UDP port")
    public.add_argument(
        "--workers",
        type=int,
        default=0,
        help="worker processes sharing the port with SO_REUSEPORT; 0 = one per CPU",
    )
    public.add_argument(
        "--no-pin", action="store_true", help="do not pin each worker process to its own CPU"
    )
    public.add_argument(
        "--single-process",
        action="store_true",
        help="run one worker in this process, without the supervisor (debugging)",
    )

    internal = p.add_argument_group("internal side (transceivers)")
    internal.add_argument(
        "--internal-host",
        default="127.0.0.1",
        help="address of the relay's internal sockets, reachable by transceivers",
    )
    internal.add_argument(
        "--internal-port",
        type=int,
        default=50100,
        help="first internal port: worker i uses this + i. Keep it fixed so transceivers can "
        "reach a restarted relay at the address they know; 0 = any free port",
    )
    internal.add_argument(
        "--transceiver-network",
        action="append",
        default=[],
        metavar="CIDR",
        help="a network whose hosts may send shim packets (repeatable). Addresses in the "
        "directory are always allowed; with a DNS directory, give the transceivers' network "
        "so a restarted relay accepts them before it has resolved their names",
    )

    tokens = p.add_argument_group("routing tokens")
    add_key_option(tokens)
    tokens.add_argument(
        "--cluster",
        type=uint16,
        default=0,
        help="this relay's cluster id; tokens for other clusters go over the backbone to "
        "that cluster's relays (see the fleet view), or are dropped when the fleet view does "
        "not know the cluster",
    )
    tokens.add_argument(
        "--token-max-age",
        type=float,
        default=24 * 3600.0,
        metavar="SECONDS",
        help="oldest token that may admit a new client address; 0 = no limit",
    )

    directory = p.add_argument_group("transceiver directory (id -> internal address)")
    directory.add_argument(
        "--directory", metavar="FILE", help="static mapping file, .json or .toml (see below)"
    )
    directory.add_argument(
        "--transceiver",
        action="append",
        default=[],
        metavar="ID=HOST:PORT",
        help="one static entry (repeatable); wins over the file and the DNS pattern",
    )
    directory.add_argument(
        "--transceiver-dns",
        metavar="PATTERN",
        help="DNS name pattern with {id} (and {cluster}) and a port, e.g. "
        "'transceiver-{id}.transceivers.voice.svc.cluster.local:4000'",
    )
    directory.add_argument(
        "--dns-refresh",
        type=positive,
        default=30.0,
        metavar="SECONDS",
        help="re-resolve a name this long after its last answer, serving the old address "
        "meanwhile; a failed lookup is retried after 5 s and its packets are dropped and "
        "counted",
    )

    fleet = p.add_argument_group(
        "fleet view (cluster -> its relays' backbone addresses, VOICE-RELAY §12)"
    )
    fleet.add_argument(
        "--fleet",
        metavar="FILE",
        help="static fleet file, .json or .toml (see below); re-read when it changes, "
        "checked every --fleet-refresh seconds, so a fleet change needs no restart",
    )
    fleet.add_argument(
        "--cluster-relay",
        action="append",
        default=[],
        metavar="CLUSTER=HOST:PORT",
        help="one relay of a cluster, at its internal (backbone) address (repeatable; "
        "several per cluster allowed); wins over the file and the DNS pattern",
    )
    fleet.add_argument(
        "--fleet-dns",
        metavar="PATTERN",
        help="DNS name pattern with {cluster} and a port, resolving to every relay of the "
        "cluster, e.g. 'relays.{cluster}.backbone.voice.internal:50100'",
    )
    fleet.add_argument(
        "--fleet-refresh",
        type=positive,
        default=30.0,
        metavar="SECONDS",
        help="re-read the fleet file / re-resolve a cluster's name this often",
    )
    fleet.add_argument(
        "--backbone-network",
        action="append",
        default=[],
        metavar="CIDR",
        help="a network whose hosts may speak the backbone (repeatable). The fleet view's "
        "addresses are always allowed; with --fleet-dns, give the other relays' network so "
        "a restarted relay accepts them before it has resolved their names. Nothing is "
        "accepted from, or sent over the backbone to, any other host",
    )

    table = p.add_argument_group("soft table and admission")
    table.add_argument(
        "--table-size",
        type=int,
        default=100_000,
        help="client entries per worker; when full, the least recently used entry is evicted",
    )
    table.add_argument(
        "--idle-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="an entry unused this long is removed",
    )
    for name, rate, burst, what in (
        ("admission", 20.0, 40.0, "new client addresses admitted per source IP"),
        ("admission-global", 1e3, 2e3, "new client addresses admitted per worker, from anyone"),
        ("client", 250.0, 500.0, "datagrams a known client may send (beyond, dropped)"),
    ):
        add_rate_options(table, name, rate=rate, burst=burst, what=what)

    ops = p.add_argument_group("operations")
    ops.add_argument(
        "--log-interval",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="log each worker's counters this often; 0 = never",
    )
    add_log_option(ops)
    ops.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        metavar="PORT",
        help="serve GET /metrics (every worker's counters, Prometheus text) and GET /healthz "
        "(200 while every worker runs) over HTTP on this TCP port; 0 = off, the default, "
        "because a relay faces the Internet and should open no port it was not asked to",
    )
    ops.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address the metrics port binds; give a private address, never a public one",
    )
    p.set_defaults(run=run)


def _numbered(option: str, item: str) -> tuple[int, tuple[str, int]]:
    """``ID=HOST:PORT`` (a transceiver, a cluster's relay) as the id and the address."""
    from voice.relay.directory import parse_hostport

    ident, sep, where = item.partition("=")
    if not sep or not ident.strip().isdecimal() or int(ident) > 0xFFFF:
        raise ConfigError(f"{option} {item!r}: expected a number 0-65535, '=', HOST:PORT")
    try:
        return int(ident), parse_hostport(where)
    except ConfigError as exc:
        raise ConfigError(f"{option} {item!r}: {exc}") from None


def build_config(args: argparse.Namespace) -> RelayConfig:
    """The :class:`~voice.relay.config.RelayConfig` the flags describe; a ConfigError naming
    the flag (and the file) for anything wrong in them."""
    from functools import partial

    from voice.relay.config import RelayConfig
    from voice.relay.directory import DnsPattern, parse_static
    from voice.relay.fleet import FleetPattern, parse_fleet

    keys = load_fleet_keys(args.key_file)
    static: dict[int, tuple[str, int]] = {}
    if args.directory:
        toml = args.directory.endswith(".toml")
        static.update(read_file("--directory", args.directory, partial(parse_static, toml=toml)))
    static.update(_numbered("--transceiver", item) for item in args.transceiver)
    transceiver_networks = check_networks("--transceiver-network", args.transceiver_network)
    pattern = _pattern("--transceiver-dns", args.transceiver_dns, DnsPattern.parse)
    if args.fleet:  # read now for its errors; each worker reads it again, and again on change
        read_file("--fleet", args.fleet, partial(parse_fleet, toml=args.fleet.endswith(".toml")))
    fleet_static: dict[int, tuple[tuple[str, int], ...]] = {}
    for ident, where in (_numbered("--cluster-relay", item) for item in args.cluster_relay):
        fleet_static[ident] = (*fleet_static.get(ident, ()), where)
    backbone_networks = check_networks("--backbone-network", args.backbone_network)
    fleet_pattern = _pattern("--fleet-dns", args.fleet_dns, FleetPattern.parse)
    if not static and pattern is None and not (args.fleet or fleet_static or fleet_pattern):
        # A relay with no transceivers of its own is an ingress only (VOICE-RELAY §12),
        # which needs a fleet view; with neither it could forward nothing.
        raise ConfigError(
            "no transceivers and no fleet view: give --directory, --transceiver or "
            "--transceiver-dns, or --fleet, --cluster-relay or --fleet-dns"
        )
    return RelayConfig(
        keys=tuple(keys),
        public=(args.host, args.port),
        internal=(args.internal_host, args.internal_port),
        cluster=args.cluster,
        static_directory=static,
        dns_pattern=pattern,
        dns_refresh=args.dns_refresh,
        transceiver_networks=transceiver_networks,
        table_size=args.table_size,
        idle_timeout=args.idle_timeout,
        admission_rate=args.admission_rate,
        admission_burst=args.admission_burst,
        admission_global_rate=args.admission_global_rate,
        admission_global_burst=args.admission_global_burst,
        client_rate=args.client_rate,
        client_burst=args.client_burst,
        token_max_age=args.token_max_age or None,
        fleet_static=fleet_static,
        fleet_file=args.fleet,
        fleet_pattern=fleet_pattern,
        fleet_refresh=args.fleet_refresh,
        backbone_networks=backbone_networks,
        log_interval=args.log_interval,
        workers=args.workers,
        pin_cpus=not args.no_pin,
    )


def _pattern(option: str, text: str | None, parse: Callable[[str], P]) -> P | None:
    """A DNS name pattern the option gives, or None; a ConfigError names the option."""
    if not text:
        return None
    try:
        return parse(text)
    except ConfigError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    configure_logging(args)
    config = build_config(args)
    if args.single_process:
        import trio

        if args.metrics_port:
            raise ConfigError("--metrics-port needs the supervisor (no --single-process)")

        from voice.relay.worker import serve_relay

        with contextlib.suppress(KeyboardInterrupt):
            trio.run(serve_relay, config)
        return 0
    from voice.relay.supervisor import run_supervisor

    metrics = (args.metrics_host, args.metrics_port) if args.metrics_port else None
    try:
        return run_supervisor(config, metrics)
    except OSError as exc:  # a port in use, an address not on this host
        print(f"voice relay: {exc}", file=sys.stderr)
        return 1
