"""``voice trace``: read a recorded trace back, and the tracing options of ``voice serve``.

``voice serve --trace FILE`` writes JSON lines (``-`` prints the coloured view instead),
``--pcap FILE`` a capture and ``--key-log FILE`` the NSS key log Wireshark decrypts it with.
``voice trace FILE`` pretty-prints a JSON-lines trace, keeps only some kinds
(``--kind stun,dtls``), shows every decoded field (``-v``) and follows a growing file
(``--follow``). Only :mod:`argparse` is imported at the top.
"""

from __future__ import annotations

import argparse
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voice.trace import Tracer

KINDS = ("stun", "dtls", "rtp", "rtcp", "route", "zrtp", "turn-channel", "unknown")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "trace",
        help="pretty-print, filter and follow a trace written by 'voice serve --trace'",
        description=(
            "Print a JSON-lines trace written by 'voice serve --trace FILE': one line per "
            "datagram (STUN, DTLS, RTP, RTCP) or relay routing decision, and with -v every "
            "decoded field with the RFC section that defines it."
        ),
    )
    p.add_argument(
        "file",
        help="the trace (JSON lines); - reads standard input; an http(s) URL follows one live "
        "session's feed (<session URL>/trace?key=..., as the demo page's ladder does)",
    )
    p.add_argument("--kind", help="comma-separated kinds to keep: " + ",".join(KINDS))
    p.add_argument("--session", help="keep only this session id")
    p.add_argument("-v", "--verbose", action="store_true", help="show every decoded field")
    p.add_argument("-f", "--follow", action="store_true", help="wait for more lines (tail -f)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.set_defaults(run=run)


def add_serve_options(p: argparse.ArgumentParser) -> None:
    """The tracing options ``voice serve`` takes."""
    g = p.add_argument_group("tracing (see 'voice trace --help')")
    g.add_argument(
        "--trace",
        metavar="FILE|-",
        help="record every datagram of every call, decoded: JSON lines to FILE, or a "
        "readable coloured view to standard output with -",
    )
    g.add_argument(
        "--trace-session",
        action="append",
        type=_session_choice,
        metavar="ID|first|first:N",
        help="trace only this session (repeatable; default: all). Session ids are random, "
        "so 'first' traces the first call made after the server starts and 'first:N' the "
        "first N; the trace's records name each call's id",
    )
    g.add_argument("--key-log", metavar="FILE", help="append the NSS key log (for Wireshark)")
    g.add_argument("--pcap", metavar="FILE", help="write the calls' datagrams as a pcap")


def _session_choice(text: str) -> str:
    from voice.trace.tracer import first_calls

    try:
        first_calls(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not text:
        raise argparse.ArgumentTypeError("a session id cannot be empty")
    return text


def build_tracer(args: argparse.Namespace) -> Tracer | None:
    """The tracer ``voice serve`` options ask for, or None (tracing off)."""
    if not (args.trace or args.key_log or args.pcap):
        return None
    import sys

    from voice.trace import PcapWriter, Tracer

    jsonl = pretty = None
    if args.trace == "-":
        pretty = sys.stdout
    elif args.trace:
        jsonl = open(args.trace, "a", encoding="utf-8")  # noqa: SIM115 (lives as long as the process)
    pcap = PcapWriter(open(args.pcap, "wb")) if args.pcap else None  # noqa: SIM115
    key_log = open(args.key_log, "a", encoding="utf-8") if args.key_log else None  # noqa: SIM115
    return Tracer(
        jsonl=jsonl,
        pretty=pretty,
        color=pretty is not None and pretty.isatty(),
        pcap=pcap,
        key_log=key_log,
        sessions=args.trace_session,
    )


def _event_stream(url: str) -> IO[str]:
    """A session's live trace (server-sent events) as a text stream of its lines."""
    import io
    import urllib.request

    response = urllib.request.urlopen(url, timeout=60)
    return io.TextIOWrapper(response, encoding="utf-8")


def _kind(record: dict[str, Any]) -> str:
    return "route" if record.get("event") == "route" else str(record.get("kind"))


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    import time

    from voice.trace import format_record

    kinds = None if not args.kind else {k.strip() for k in args.kind.split(",")}
    if kinds is not None and (unknown := kinds - set(KINDS)):
        print(f"voice trace: unknown kind(s) {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    source: IO[str]
    live = args.file.startswith(("http://", "https://"))
    if live:
        source = _event_stream(args.file)
    elif args.file == "-":
        source = sys.stdin
    else:
        source = open(args.file, encoding="utf-8")  # noqa: SIM115
    bad = 0
    try:
        while True:
            line = source.readline()
            if not line:
                if not args.follow or live:
                    break
                time.sleep(0.2)
                continue
            if live:
                if not line.startswith('data: {"'):
                    continue  # event names, keep-alives, the empty ready/end payloads
                line = line[6:]
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if kinds is not None and _kind(record) not in kinds:
                continue
            if args.session and record.get("session") != args.session:
                continue
            print(format_record(record, color=color, tree=args.verbose), flush=args.follow)
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        if source is not sys.stdin:
            source.close()
    if bad:
        print(f"voice trace: skipped {bad} line(s) that are not JSON", file=sys.stderr)
    return 0
