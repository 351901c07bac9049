"""``voice transceiver``: one transceiver of a fleet, with its signaling, behind ``voice relay``.

``voice serve`` embeds a relay for a laptop; a fleet runs the relay on its own (``voice
relay``, one public UDP address for everyone) and any number of these behind it. Each one
mints its sessions' server ufrags as routing tokens naming itself (VOICE-TOKEN), so the
relay can route a caller's first check to it, and takes the callers' datagrams from the
relays on one internal socket, with the shim header naming the caller (VOICE-SHIM). Its
answers advertise the relay's public address, never its own.

Only :mod:`argparse` (and the shared option modules, which import nothing heavier) is
imported at the top, so that ``voice --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from voice.cli.keys import KEYS_ENV, KEYS_HELP, add_key_option, load_fleet_keys
from voice.cli.options import (
    RawHelpFormatter,
    add_session_options,
    check_networks,
    check_session_options,
    configure_logging,
    hostport,
    run_until_signal,
    signaling_config,
    transceiver_config,
    uint16,
)

DESCRIPTION = """\
Run one transceiver of a fleet, with its signaling endpoint, behind `voice relay`.

Signaling (POST /v1/sessions) answers each offer with a server ufrag that is a routing
token naming this transceiver (--cluster, --transceiver-id), authenticated with the
current fleet key, and with the relay's public address (--advertise) as the only ICE
candidate. The caller's datagrams reach the relay, which checks the token and forwards
them to this transceiver's relay input (--relay-input) behind a shim header naming the
caller; replies go back the same way. The relay's directory must map this transceiver's
id to its relay input, and both must hold the same fleet keys (VOICE-RELAY §9).
"""

EPILOG = (
    KEYS_HELP
    + f"""
example, one relay and two transceivers on one machine:
  export {KEYS_ENV}=1:$(openssl rand -hex 32)
  voice relay --workers 2 --port 50000 --internal-port 50100 \\
      --transceiver 1=127.0.0.1:4001 --transceiver 2=127.0.0.1:4002 &
  voice transceiver --transceiver-id 1 --http-port 8081 \\
      --relay-input 127.0.0.1:4001 --advertise 127.0.0.1:50000 &
  voice transceiver --transceiver-id 2 --http-port 8082 \\
      --relay-input 127.0.0.1:4002 --advertise 127.0.0.1:50000
"""
)

if TYPE_CHECKING:
    from voice.server import ServerConfig, ServerInfo

LOOPBACK = ("127.0.0.0/8", "::1/128")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "transceiver",
        help="run one transceiver + signaling of a fleet, behind `voice relay`",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=RawHelpFormatter,
    )
    http = p.add_argument_group("signaling (HTTP)")
    http.add_argument("--http-host", default="127.0.0.1", help="address signaling listens on")
    http.add_argument("--http-port", type=int, default=8080, help="port signaling listens on")

    fleet = p.add_argument_group("fleet")
    fleet.add_argument(
        "--transceiver-id",
        type=transceiver_id,
        required=True,
        metavar="ID",
        help="this transceiver's number (0-65535), named by its tokens; the relay's directory "
        "maps it to --relay-input. A name ending in -N means N: in a StatefulSet, pass the "
        "pod's name (transceiver-3 is id 3, the pod's ordinal)",
    )
    fleet.add_argument(
        "--cluster",
        type=uint16,
        default=0,
        help="the cluster (0-65535) of the relays in front of this transceiver",
    )
    fleet.add_argument(
        "--relay-input",
        type=hostport,
        default="127.0.0.1:4000",
        metavar="HOST:PORT",
        help="the internal UDP socket relays forward callers' datagrams to (port 0: any free)",
    )
    fleet.add_argument(
        "--relay-network",
        action="append",
        metavar="CIDR",
        help="a network whose hosts may send to --relay-input (repeatable); anyone else "
        f"could claim to be any caller (default: {', '.join(LOOPBACK)})",
    )
    fleet.add_argument(
        "--advertise",
        type=hostport,
        action="append",
        required=True,
        metavar="HOST:PORT",
        help="the relay's public address, put in every answer as the ICE candidate "
        "(repeatable, e.g. once for IPv4 and once for IPv6)",
    )
    add_key_option(fleet)
    fleet.add_argument(
        "--drain-timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="on SIGTERM, take no new calls, answer /healthz with 503 and let the calls in "
        "progress go on for up to this long before ending them; 0 = end them at once, as on "
        "Ctrl-C. Give the pod a terminationGracePeriodSeconds above it",
    )
    add_session_options(p)
    p.set_defaults(run=run)


def transceiver_id(text: str) -> int:
    """An argparse type: ``7``, or a StatefulSet pod name such as ``transceiver-7`` (its
    ordinal, the number after the last dash)."""
    number = text.rpartition("-")[2]
    if not number.isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a number nor a name ending in -NUMBER"
        )
    return uint16(number)


def build_config(args: argparse.Namespace) -> ServerConfig:
    """The server the flags describe; a ConfigError naming the flag if they are bad (its
    message never contains a key)."""
    import time

    from voice.relay.token import TokenMinter
    from voice.server import ServerConfig

    check_session_options(args)
    networks = check_networks("--relay-network", args.relay_network or LOOPBACK)
    keys = load_fleet_keys(args.key_file)
    # VOICE-RELAY §9: tokens name this transceiver and are minted with the current key.
    minter = TokenMinter(keys[0], cluster=args.cluster, transceiver=args.transceiver_id)

    def mint() -> str:
        return minter.mint(time.time())

    return ServerConfig(
        http_host=args.http_host,
        http_port=args.http_port,
        # The direct socket every transceiver has is bound beside the relay input, on an
        # ephemeral port no answer advertises: in a fleet, clients reach us only by a relay.
        transceiver=transceiver_config(
            args,
            udp_host=args.relay_input[0],
            udp_port=None,  # behind the relay only: no client-facing socket of its own
            advertised=args.advertise,
            ufrag_factory=mint,
            relay_input=args.relay_input,
            relay_networks=networks,
        ),
        signaling=signaling_config(args),
    )


def run(args: argparse.Namespace) -> int:
    configure_logging(args)
    config = build_config(args)

    def announce(info: ServerInfo) -> list[str]:
        relay_input = info.transceiver.relay_input
        assert relay_input is not None
        networks = ", ".join(info.transceiver.config.relay_networks)
        advertised = ", ".join(f"{host}:{port}" for host, port in args.advertise)
        return [
            f"transceiver {args.transceiver_id} of cluster {args.cluster}; relay input on udp "
            f"{relay_input[0]}:{relay_input[1]} (from {networks}); answers advertise the "
            f"relay at {advertised}"
        ]

    return run_until_signal("voice transceiver", config, announce, drain_timeout=args.drain_timeout)
