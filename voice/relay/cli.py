"""``voice relay``: run the stateless UDP relay (N worker processes on one public port)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voice.relay.config import RelayConfig
    from voice.relay.token import TokenKey

KEYS_ENV = "VOICE_FLEET_KEYS"

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

EPILOG = f"""\
fleet keys: written as ID:HEXSECRET (key id 0-3, secret at least 16 bytes), separated
by commas, spaces or new lines; the relay accepts every key given (the current and the
previous one during a rotation). Read from --key-file, else from ${KEYS_ENV}.
Keys are never logged.

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


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "relay",
        help="run the stateless UDP relay that routes clients to transceivers by ICE ufrag",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    public = p.add_argument_group("public side (clients)")
    public.add_argument(
        "--host",
        default="0.0.0.0",
        help="address to receive client traffic on; on a wildcard (0.0.0.0, ::) each reply "
        "leaves from the address the client sent to (default: %(default)s)",
    )
    public.add_argument(
        "--port", type=int, default=50000, help="the public UDP port (default: %(default)s)"
    )
    public.add_argument(
        "--workers",
        type=int,
        default=0,
        help="worker processes sharing the port with SO_REUSEPORT; 0 = one per CPU "
        "(default: %(default)s)",
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
        help="address of the relay's internal sockets, reachable by transceivers "
        "(default: %(default)s)",
    )
    internal.add_argument(
        "--internal-port",
        type=int,
        default=50100,
        help="first internal port: worker i uses this + i. Keep it fixed so transceivers can "
        "reach a restarted relay at the address they know; 0 = any free port "
        "(default: %(default)s)",
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
    add_key_file_argument(tokens)
    tokens.add_argument(
        "--cluster",
        type=int,
        default=0,
        help="this relay's cluster id; tokens for other clusters go over the backbone to "
        "that cluster's relays (see the fleet view), or are dropped when the fleet view does "
        "not know the cluster (default: %(default)s)",
    )
    tokens.add_argument(
        "--token-max-age",
        type=float,
        default=24 * 3600.0,
        metavar="SECONDS",
        help="oldest token that may admit a new client address; 0 = no limit "
        "(default: %(default)s)",
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
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="re-resolve a name this long after its last answer, serving the old address "
        "meanwhile; a failed lookup is retried after 5 s and its packets are dropped and "
        "counted (default: %(default)s)",
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
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="re-read the fleet file / re-resolve a cluster's name this often "
        "(default: %(default)s)",
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
        help="client entries per worker; when full, the least recently used entry is evicted "
        "(default: %(default)s)",
    )
    table.add_argument(
        "--idle-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="an entry unused this long is removed (default: %(default)s)",
    )
    table.add_argument(
        "--admission-rate",
        type=float,
        default=20.0,
        help="new client addresses admitted per second per source IP (default: %(default)s)",
    )
    table.add_argument(
        "--admission-burst",
        type=float,
        default=40.0,
        help="admissions a source IP may make at once (default: %(default)s)",
    )
    table.add_argument(
        "--admission-global-rate",
        type=float,
        default=1000.0,
        help="new client addresses admitted per second per worker, from all sources "
        "(default: %(default)s)",
    )
    table.add_argument(
        "--admission-global-burst",
        type=float,
        default=2000.0,
        help="admissions a worker may make at once (default: %(default)s)",
    )
    table.add_argument(
        "--client-rate",
        type=float,
        default=250.0,
        help="datagrams per second a known client may send; beyond, dropped (default: %(default)s)",
    )
    table.add_argument(
        "--client-burst",
        type=float,
        default=500.0,
        help="datagrams a known client may send at once (default: %(default)s)",
    )

    ops = p.add_argument_group("operations")
    ops.add_argument(
        "--log-interval",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="log each worker's counters this often; 0 = never (default: %(default)s)",
    )
    ops.add_argument("--log-level", default="INFO", help="logging level (default: %(default)s)")
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
        help="address the metrics port binds; give a private address, never a public one "
        "(default: %(default)s)",
    )
    p.set_defaults(run=run)


def add_key_file_argument(group: argparse._ActionsContainer) -> None:
    """``--key-file``, shared by every command that mints or verifies routing tokens."""
    group.add_argument(
        "--key-file",
        help=f"file with the fleet keys (default: the {KEYS_ENV} environment variable)",
    )


def load_fleet_keys(key_file: str | None) -> list[TokenKey]:
    """The fleet keys from ``key_file``, else from ``$VOICE_FLEET_KEYS``; the first is the
    current key (the one tokens are minted with). ValueError (naming no secret) if neither
    gives a key, OSError if the file cannot be read."""
    from voice.relay.token import parse_keys

    if key_file:
        with open(key_file, encoding="utf-8") as f:
            return parse_keys(f.read())
    if os.environ.get(KEYS_ENV):
        return parse_keys(os.environ[KEYS_ENV])
    raise ValueError(f"no fleet key: give --key-file or set {KEYS_ENV}")


def build_config(args: argparse.Namespace) -> RelayConfig:
    """The :class:`~voice.relay.config.RelayConfig` the flags describe (ValueError if bad)."""
    import ipaddress

    from voice.relay.config import RelayConfig
    from voice.relay.directory import DnsPattern, parse_hostport, parse_static
    from voice.relay.fleet import FleetPattern, parse_fleet

    keys = load_fleet_keys(args.key_file)
    static: dict[int, tuple[str, int]] = {}
    if args.directory:
        with open(args.directory, encoding="utf-8") as f:
            static.update(parse_static(f.read(), toml=args.directory.endswith(".toml")))
    for item in args.transceiver:
        ident, sep, where = item.partition("=")
        if not sep or not ident.strip().isdigit():
            raise ValueError(f"--transceiver {item!r}: expected ID=HOST:PORT")
        static[int(ident)] = parse_hostport(where)
    for network in args.transceiver_network:
        ipaddress.ip_network(network, strict=False)  # ValueError now, not in a worker
    pattern = DnsPattern.parse(args.transceiver_dns) if args.transceiver_dns else None
    fleet_static: dict[int, tuple[tuple[str, int], ...]] = {}
    if args.fleet:
        with open(args.fleet, encoding="utf-8") as f:
            parse_fleet(f.read(), toml=args.fleet.endswith(".toml"))  # ValueError now
    for item in args.cluster_relay:
        ident, sep, where = item.partition("=")
        if not sep or not ident.strip().isdigit() or int(ident) > 0xFFFF:
            raise ValueError(f"--cluster-relay {item!r}: expected CLUSTER=HOST:PORT")
        fleet_static[int(ident)] = (*fleet_static.get(int(ident), ()), parse_hostport(where))
    for network in args.backbone_network:
        ipaddress.ip_network(network, strict=False)
    fleet_pattern = FleetPattern.parse(args.fleet_dns) if args.fleet_dns else None
    if args.fleet_refresh <= 0:
        raise ValueError("--fleet-refresh must be positive")
    if not static and pattern is None and not (args.fleet or fleet_static or fleet_pattern):
        # A relay with no transceivers of its own is an ingress only (VOICE-RELAY §12),
        # which needs a fleet view; with neither it could forward nothing.
        raise ValueError(
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
        transceiver_networks=tuple(args.transceiver_network),
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
        backbone_networks=tuple(args.backbone_network),
        log_interval=args.log_interval,
        workers=args.workers,
        pin_cpus=not args.no_pin,
    )


def run(args: argparse.Namespace) -> int:
    import logging

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = build_config(args)
    except (OSError, ValueError) as exc:
        print(f"voice relay: {exc}", file=sys.stderr)
        return 2
    if args.single_process:
        import trio

        if args.metrics_port:
            print(
                "voice relay: --metrics-port needs the supervisor (no --single-process)",
                file=sys.stderr,
            )
            return 2

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
