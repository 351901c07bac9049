"""What ``voice serve`` and ``voice transceiver`` share: their options and how they run.

Both commands run a transceiver with its signaling endpoint; they differ only in what stands
in front of it (``serve`` embeds a relay or faces clients itself, ``transceiver`` is one
member of a fleet behind ``voice relay``). So the options for sessions, agents, signaling
and logging are declared here once, turned into configuration here once, and both commands
end in :func:`run_until_signal`, the same ``trio.run`` around :func:`voice.server.run_server`.

Only :mod:`argparse` and :mod:`os` are imported at the top, so that ``voice --help`` stays
fast; Trio and the services are imported when a command runs.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from voice.cli.logs import add_log_option, configure_logging
from voice.errors import ConfigError

__all__ = ["configure_logging"]  # re-exported: the commands import their set-up from here

if TYPE_CHECKING:
    from voice.server import ServerConfig, ServerInfo
    from voice.signaling.app import SignalingConfig
    from voice.transceiver.service import TransceiverConfig
    from voice.types import Address

T = TypeVar("T")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless there is none to show (None, False, [])."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


class RawHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """Like :class:`HelpFormatter`, keeping the line breaks of the description and epilog."""


def hostport(text: str) -> tuple[str, int]:
    """An argparse type for ``HOST:PORT`` or ``[IPV6]:PORT``; port 0 means "any free port"."""
    from voice.relay.directory import parse_hostport

    try:
        return parse_hostport(text, any_port=True)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def ingress(text: str) -> tuple[str, tuple[str, int]]:
    """An argparse type for ``NAME=HOST:PORT``: a relay ingress a steering front may name."""
    name, sep, address = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=HOST:PORT")
    return name, hostport(address)


def uint16(text: str) -> int:
    """An argparse type for a cluster or transceiver id: what a routing token can carry."""
    if not text.isdigit() or int(text) > 0xFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 65535")
    return int(text)


def positive(text: str) -> float:
    """An argparse type for a rate, a burst or a period: a number above zero."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def add_rate_options(
    group: argparse._ActionsContainer, name: str, *, rate: float, burst: float, what: str
) -> None:
    """``--NAME-rate`` and ``--NAME-burst``, a token bucket's two settings, said the same way
    in every command: ``what`` is what is counted and for whom ("offers per client")."""
    group.add_argument(
        f"--{name}-rate",
        type=positive,
        default=rate,
        metavar="PER_SECOND",
        help=f"{what}: how many per second",
    )
    group.add_argument(
        f"--{name}-burst",
        type=positive,
        default=burst,
        metavar="COUNT",
        help=f"{what}: how many at once, above --{name}-rate",
    )


def read_file(option: str, path: str, parse: Callable[[str], T]) -> T:
    """What ``parse`` makes of the file ``option`` names. A file that cannot be read, or whose
    text ``parse`` refuses (with a :class:`ConfigError`), is a ConfigError naming both."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"{option} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{option} {path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return parse(text)
    except ConfigError as exc:
        raise ConfigError(f"{option} {path}: {exc}") from None


def check_networks(option: str, networks: Sequence[str]) -> tuple[str, ...]:
    """The CIDR networks an option lists, each checked now (not later, in a worker)."""
    import ipaddress

    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise ConfigError(f"{option} {network!r}: {exc}") from None
    return tuple(networks)


def add_session_options(parser: argparse.ArgumentParser) -> None:
    """Limits, agents, signaling and logging: the options every transceiver takes."""
    calls = parser.add_argument_group("calls")
    calls.add_argument("--max-sessions", type=int, default=100, help="calls carried at once")
    calls.add_argument("--agent", default="echo", help="agent for calls that do not name one")
    calls.add_argument("--consent-timeout", type=float, default=30.0, help="RFC 7675 consent, s")
    calls.add_argument("--handshake-timeout", type=float, default=10.0, help="offer to DTLS, s")
    calls.add_argument(
        "--idle-timeout", type=float, default=30.0, help="silence that ends a call, s"
    )
    calls.add_argument(
        "--max-pending",
        type=int,
        default=32,
        help="sessions waiting to connect (answered, DTLS not up yet), from everyone",
    )
    calls.add_argument(
        "--max-pending-per-client",
        type=int,
        default=8,
        help="sessions waiting to connect, per client address (an IPv6 /64 counts as one)",
    )
    calls.add_argument(
        "--check-timeout",
        type=float,
        default=4.0,
        help="a session with no authenticated ICE check this long after its answer ends, s",
    )
    calls.add_argument(
        "--ingress",
        type=ingress,
        action="append",
        metavar="NAME=HOST:PORT",
        help="a relay ingress a steering front may name in ?ingress=NAME[,NAME] (voice "
        "steer): the answer's candidates are then those ingresses, nearest first, instead of "
        "the default address (repeatable; VOICE-STEER §4)",
    )
    http = parser.add_argument_group("signaling (HTTP) limits and access")
    http.add_argument(
        "--bearer-token-env",
        default="VOICE_BEARER_TOKEN",
        help="environment variable holding a bearer token that every route changing or "
        "revealing state requires (POST, DELETE, PATCH, /metrics); unset or empty: none",
    )
    http.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="let pages from ORIGIN (e.g. https://app.example) call the API from a browser "
        "(repeatable; '*' for any); default: no cross-origin access",
    )
    add_rate_options(
        http,
        "client",
        rate=5.0,
        burst=20.0,
        what="POST/DELETE/PATCH requests per client address (429 beyond)",
    )
    add_rate_options(
        http, "global", rate=40.0, burst=40.0, what="offers (POST) from all clients (429 beyond)"
    )
    http.add_argument(
        "--body-timeout",
        type=float,
        default=10.0,
        help="seconds a client has to send a request body (408 beyond, connection closed)",
    )
    add_log_option(parser)


def check_session_options(args: argparse.Namespace) -> None:
    """Raises a :class:`ConfigError` saying what is wrong with the shared options, if anything
    is (argparse has checked each value's type; this checks what a type cannot)."""
    from voice.agents.bridge import BACKEND_ENV
    from voice.transceiver.agents import AGENTS

    if args.agent not in AGENTS:
        raise ConfigError(f"--agent: unknown agent {args.agent!r}; choose from {', '.join(AGENTS)}")
    # The bridge agent's backend is the operator's setting too: a wrong one is refused at
    # start-up, not on the first call that asks for the bridge.
    backend = os.environ.get(BACKEND_ENV)
    if backend and not backend.startswith(("ws://", "wss://")):
        scheme = backend.partition(":")[0]  # not the rest: a URL may carry a password
        raise ConfigError(f"${BACKEND_ENV} is a {scheme!r} URL, not ws:// or wss://")
    if args.agent == "bridge" and not backend:
        raise ConfigError(f"--agent bridge needs a backend: set {BACKEND_ENV}=ws://host:port/")
    if args.max_pending < 1 or args.max_pending_per_client < 1:
        raise ConfigError("--max-pending and --max-pending-per-client must be at least 1")
    for origin in args.cors_origin or ():
        if origin != "*" and ("://" not in origin or origin.endswith("/")):
            raise ConfigError(f"--cors-origin {origin!r} is not an origin like https://app.example")


def transceiver_config(
    args: argparse.Namespace,
    *,
    udp_host: str,
    udp_port: int | None = 0,
    advertised: Sequence[Address] = (),
    ufrag_factory: Callable[[], str] | None = None,
    relay_input: Address | None = None,
    relay_networks: Sequence[str] | None = None,
) -> TransceiverConfig:
    """The transceiver the shared options describe, at the addresses the command chose."""
    from voice.transceiver.service import TransceiverConfig
    from voice.transceiver.session import SessionLimits

    fleet: dict[str, Any] = {}
    if ufrag_factory is not None:
        fleet["ufrag_factory"] = ufrag_factory
    if getattr(args, "ingress", None):
        fleet["ingresses"] = dict(args.ingress)
    if relay_networks is not None:
        fleet["relay_networks"] = tuple(relay_networks)
    return TransceiverConfig(
        udp_host=udp_host,
        udp_port=udp_port,
        advertised=tuple(advertised),
        max_sessions=args.max_sessions,
        max_pending=args.max_pending,
        max_pending_per_client=args.max_pending_per_client,
        check_timeout=args.check_timeout,
        default_agent=args.agent,
        consent_timeout=args.consent_timeout,
        limits=SessionLimits(
            handshake_timeout=args.handshake_timeout, idle_timeout=args.idle_timeout
        ),
        relay_input=relay_input,
        **fleet,
    )


def signaling_config(args: argparse.Namespace) -> SignalingConfig:
    from voice.signaling.app import SignalingConfig

    return SignalingConfig(
        bearer_token=os.environ.get(args.bearer_token_env) or None,
        client_rate=args.client_rate,
        client_burst=args.client_burst,
        global_rate=args.global_rate,
        global_burst=args.global_burst,
        body_timeout=args.body_timeout,
        cors_origins=tuple(args.cors_origin or ()),
    )


def run_until_signal(
    command: str,
    config: ServerConfig,
    announce: Callable[[ServerInfo], Sequence[str]],
    *,
    drain_timeout: float = 0.0,
) -> int:
    """Runs :func:`voice.server.run_server` until SIGINT or SIGTERM; returns the exit status.

    Once the server is up, prints ``announce(info)`` and then the line with the URL
    (``<command>: open <url> and press Talk``), in that order, so that whoever waits for the
    URL line knows the lines before it are there too. Ctrl-C stops the server gracefully
    (:attr:`voice.server.ServerInfo.stop`): every call ends politely (RTCP BYE, DTLS
    close_notify, still through the relay) before the process exits.

    With ``drain_timeout`` > 0, SIGTERM (what Kubernetes sends a pod it deletes) drains
    first: no new sessions (503), ``/healthz`` 503, and the calls in progress go on until
    they end or ``drain_timeout`` passes; then the rest end politely as above. SIGINT, or a
    second signal while draining, stops at once.
    """
    import signal

    import trio

    from voice.server import run_server

    async def main() -> None:
        # The signal receiver stays open until everything has unwound, so a second Ctrl-C
        # while calls are saying goodbye does not tear through the shutdown.
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                info: ServerInfo = await nursery.start(run_server, config)
                for line in announce(info):
                    print(f"{command}: {line}", flush=True)
                print(f"{command}: open {info.url} and press Talk (Ctrl-C to stop)", flush=True)
                with trio.CancelScope() as listening:

                    async def drain() -> None:
                        drained = await info.transceiver.drain(drain_timeout)
                        left = len(info.transceiver.sessions)
                        print(
                            f"{command}: drained, stopping"
                            + ("" if drained else f" ({left} calls still up: ending them)"),
                            flush=True,
                        )
                        info.stop.set()
                        listening.cancel()

                    draining = False
                    async for signum in signals:
                        if signum == signal.SIGTERM and drain_timeout > 0 and not draining:
                            draining = True
                            print(
                                f"{command}: draining: no new calls; waiting up to "
                                f"{drain_timeout:g} s for {len(info.transceiver.sessions)} "
                                "calls to end (signal again to stop now)",
                                flush=True,
                            )
                            nursery.start_soon(drain)
                            continue
                        print(f"{command}: stopping (ending every call politely)", flush=True)
                        info.stop.set()
                        break

    try:
        trio.run(main)
    except KeyboardInterrupt:  # a Ctrl-C before the receiver was installed
        return 130
    return 0
