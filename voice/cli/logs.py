"""Logging set-up for every command: one option, one format, in one place.

The format names the process because ``voice relay`` runs worker processes that log to the
same standard error as their supervisor; for the single-process commands the name is
simply ``MainProcess``, which keeps every command's lines the same shape for whoever
parses them.
"""

from __future__ import annotations

import argparse

LEVELS = ("debug", "info", "warning", "error")
FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"


def add_log_option(group: argparse._ActionsContainer, *, default: str = "info") -> None:
    """``--log-level``, the same in every command (only its default may differ)."""
    group.add_argument(
        "--log-level",
        default=default,
        type=str.lower,
        choices=LEVELS,
        help="logging level",
    )


def configure_logging(args: argparse.Namespace) -> None:
    """Sends log records at ``--log-level`` and above to standard error."""
    import logging
    import sys

    logging.basicConfig(level=args.log_level.upper(), format=FORMAT, stream=sys.stderr)
