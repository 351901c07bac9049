"""``voice serve``: the whole edge on one machine, for a person with a browser.

Only :mod:`argparse` is imported at the top so that ``voice --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run relay + transceiver + signaling on loopback, with a demo page",
        description=(
            "Run the whole voice edge in one process: the WHIP-style signaling endpoint with "
            "its demo page, a transceiver terminating ICE-lite, DTLS-SRTP and Opus for each "
            "call, and in front of it the stateless relay that routes every datagram by the "
            "session's ufrag (a routing token minted at signaling time). Open the printed URL "
            "in a browser, press Talk, and speak. Ctrl-C ends every call politely (RTCP BYE, "
            "DTLS close_notify) and exits."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address for HTTP and media sockets")
    p.add_argument("--http-port", type=int, default=8080, help="HTTP port of signaling")
    p.add_argument(
        "--udp-port",
        type=int,
        default=0,
        help="public UDP port for media: the relay's, or with --direct the transceiver's "
        "(0: any free)",
    )
    p.add_argument(
        "--direct",
        action="store_true",
        help="no relay: the transceiver faces clients on its own socket (direct mode)",
    )
    p.add_argument(
        "--fleet-keys-env",
        default="VOICE_FLEET_KEYS",
        help="environment variable with the routing-token keys as ID:HEXSECRET items, current "
        "first (unset: a random key for this process; never logged)",
    )
    p.add_argument(
        "--public-address",
        type=_address,
        action="append",
        metavar="HOST:PORT",
        help="address to advertise as the ICE candidate (repeatable); default: the UDP socket",
    )
    p.add_argument("--max-sessions", type=int, default=100, help="calls carried at once")
    p.add_argument("--agent", default="echo", help="agent for calls that do not name one")
    p.add_argument("--consent-timeout", type=float, default=30.0, help="RFC 7675 consent, s")
    p.add_argument("--handshake-timeout", type=float, default=10.0, help="offer to DTLS, s")
    p.add_argument("--idle-timeout", type=float, default=30.0, help="silence that ends a call, s")
    p.add_argument(
        "--bearer-token-env",
        default="VOICE_BEARER_TOKEN",
        help="environment variable holding a bearer token that POST /v1/sessions requires "
        "(unset or empty: no token needed)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import secrets
    import signal

    import trio

    from voice.relay.config import RelayConfig
    from voice.relay.token import TokenKey, parse_keys
    from voice.server import ServerConfig, ServerInfo, run_server
    from voice.signaling.app import SignalingConfig
    from voice.transceiver.agents import AGENTS
    from voice.transceiver.service import TransceiverConfig
    from voice.transceiver.session import SessionLimits

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.agent not in AGENTS:
        print(f"voice serve: unknown agent {args.agent!r}; choose from {', '.join(AGENTS)}")
        return 2
    relay: RelayConfig | None = None
    if not args.direct:
        keys: tuple[TokenKey, ...] = (TokenKey(0, secrets.token_bytes(32)),)
        if os.environ.get(args.fleet_keys_env):
            try:
                keys = tuple(parse_keys(os.environ[args.fleet_keys_env]))
            except ValueError as exc:
                print(f"voice serve: ${args.fleet_keys_env}: {exc}")
                return 2
        relay = RelayConfig(
            keys=keys,
            public=(args.host, args.udp_port),
            internal=(args.host, 0),
            log_interval=0,
        )
    config = ServerConfig(
        http_host=args.host,
        http_port=args.http_port,
        transceiver=TransceiverConfig(
            udp_host=args.host,
            udp_port=args.udp_port if args.direct else 0,
            advertised=tuple(args.public_address or ()),
            max_sessions=args.max_sessions,
            default_agent=args.agent,
            consent_timeout=args.consent_timeout,
            limits=SessionLimits(
                handshake_timeout=args.handshake_timeout, idle_timeout=args.idle_timeout
            ),
        ),
        signaling=SignalingConfig(bearer_token=os.environ.get(args.bearer_token_env) or None),
        relay=relay,
    )

    async def main() -> None:
        # The signal receiver stays open until everything has unwound, so a second Ctrl-C
        # while calls are saying goodbye does not tear through the shutdown.
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                info: ServerInfo = await nursery.start(run_server, config)
                path = "direct" if info.relay is None else "through the relay"
                print(
                    f"voice serve: media on udp {info.media[0]}:{info.media[1]} ({path})",
                    flush=True,
                )
                print(f"voice serve: open {info.url} and press Talk (Ctrl-C to stop)", flush=True)
                async for _ in signals:
                    print("voice serve: stopping (ending every call politely)", flush=True)
                    info.stop.set()
                    break

    try:
        trio.run(main)
    except KeyboardInterrupt:  # a Ctrl-C before the receiver was installed
        return 130
    return 0
