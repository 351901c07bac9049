"""The ``voice`` command line: this package holds every sub-command.

Each sub-command lives in its own small module of this package that exposes
``add_parser(subparsers)``; the module registers its arguments and sets ``run`` (a function
taking the parsed namespace and returning an exit code) as the parser default. Those modules
import only :mod:`argparse` at the top, so ``voice --help`` stays fast; the heavy imports
(Trio, PyAV, ...) happen inside ``run``. What several commands share is written once, here:
:mod:`voice.cli.options` (the transceiver's session, agent and signaling options, and how a
server runs until a signal), :mod:`voice.cli.keys` (fleet keys: ``--key-file`` or
``$VOICE_FLEET_KEYS``) and :mod:`voice.cli.logs` (``--log-level`` and the one log format).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from voice import __version__
from voice.errors import ConfigError

#: Modules that contribute a sub-command, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "voice.cli.serve",
    "voice.cli.transceiver",
    "voice.cli.relay",
    "voice.cli.steer",
    "voice.cli.bench",
    "voice.cli.trace",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voice",
        description=(
            "A low-latency WebRTC voice edge: a stateless UDP relay that routes by ICE ufrag, "
            "stateful transceivers terminating ICE-lite, DTLS-SRTP and RTP/Opus, and a "
            "WHIP-style signaling endpoint."
        ),
        epilog="Run 'voice <command> --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"voice {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="<command>", dest="command")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command ``argv`` names and returns its exit status.

    A :class:`~voice.errors.ConfigError` (an option, key file, directory, fleet or regions
    file the operator got wrong) ends the command the way argparse ends it for a bad flag:
    ``voice <command>: error: <what is wrong>`` on standard error and exit status 2, with no
    traceback, since it is the operator's to fix and not a bug.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = run(args)
    except ConfigError as exc:
        parser.exit(2, f"{parser.prog} {args.command}: error: {exc}\n")
    return code
