"""The ``voice`` command line.

Each sub-command lives in its own small module that exposes ``add_parser(subparsers)``; the
module registers its arguments and sets ``run`` (a function taking the parsed namespace and
returning an exit code) as the parser default. Those modules import only :mod:`argparse` at
the top, so ``voice --help`` stays fast; the heavy imports (Trio, PyAV, ...) happen inside
``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from voice import __version__

#: Modules that contribute a sub-command, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "voice.serve_cli",
    "voice.transceiver.cli",
    "voice.relay.cli",
    "voice.steer_cli",
    "voice.bench_cli",
    "voice.trace_cli",
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
    sub = parser.add_subparsers(title="commands", metavar="<command>")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    code: int = run(args)
    return code
