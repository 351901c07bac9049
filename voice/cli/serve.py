"""``voice serve``: the whole edge on one machine, for a person with a browser.

The options it shares with ``voice transceiver`` (calls, agents, signaling, logging) and the
way both run live in :mod:`voice.cli.options`. Only :mod:`argparse` is imported at
the top so that ``voice --help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses

from voice.cli.keys import add_key_option, load_fleet_keys
from voice.cli.options import (
    HelpFormatter,
    add_session_options,
    check_session_options,
    configure_logging,
    hostport,
    run_until_signal,
    signaling_config,
    transceiver_config,
)
from voice.cli.trace import add_serve_options, build_tracer


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
        formatter_class=HelpFormatter,
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
    add_key_option(p, otherwise="neither: a random key for this process")
    p.add_argument(
        "--public-address",
        type=hostport,
        action="append",
        metavar="HOST:PORT",
        help="address to advertise as the ICE candidate (repeatable); default: the UDP socket",
    )
    add_session_options(p)
    add_serve_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import secrets

    from voice.relay.config import RelayConfig
    from voice.relay.token import TokenKey
    from voice.server import ServerConfig, ServerInfo

    configure_logging(args)
    check_session_options(args)
    relay: RelayConfig | None = None
    if not args.direct:
        given = load_fleet_keys(args.key_file, required=False)
        # Neither --key-file nor $VOICE_FLEET_KEYS: a key of this process's own will do,
        # since the embedded relay and transceiver are the only ones that need it.
        keys = tuple(given) or (TokenKey(0, secrets.token_bytes(32)),)
        relay = RelayConfig(
            keys=keys,
            public=(args.host, args.udp_port),
            internal=(args.host, 0),
            log_interval=0,
        )
    tracer = build_tracer(args)
    config = ServerConfig(
        http_host=args.host,
        http_port=args.http_port,
        transceiver=dataclasses.replace(
            transceiver_config(
                args,
                udp_host=args.host,
                # Behind the embedded relay, the transceiver needs no client-facing socket.
                udp_port=args.udp_port if args.direct else None,
                advertised=args.public_address or (),
            ),
            tracer=tracer,
        ),
        signaling=signaling_config(args),
        relay=relay,
    )

    def announce(info: ServerInfo) -> list[str]:
        path = "direct" if info.relay is None else "through the relay"
        if tracer is not None and info.relay is not None and not args.trace_session:
            info.relay.router.tracer = tracer  # routing decisions belong to no session
        return [f"media on udp {info.media[0]}:{info.media[1]} ({path})"]

    return run_until_signal("voice serve", config, announce)
