"""Runs ``voice steer`` as a real subprocess for end-to-end tests (sync, like
:func:`tests.support.server.voice_serve`): waits for its URL line, stops it with SIGINT."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.server import RunningServer, voice_process


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now, for a server whose port must be known before it starts
    (the front's origin goes into the regions' --cors-origin)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def write_regions(
    path: Path, regions: list[dict[str, object]], prefixes: list[dict[str, object]]
) -> Path:
    """A regions file (VOICE-STEER §3) from plain data."""

    def value(v: object) -> str:
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(v)

    lines: list[str] = []
    for table, rows in (("region", regions), ("prefix", prefixes)):
        for row in rows:
            lines.append(f"[[{table}]]")
            lines += [f"{k} = {value(v)}" for k, v in row.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def voice_steer(
    regions: Path, port: int, *args: str, host: str = "127.0.0.1"
) -> Iterator[RunningServer]:
    with voice_process(
        "steer",
        *("--host", host, "--http-port", str(port), "--regions", str(regions)),
        *("--log-level", "info", *args),
    ) as (server, ready):
        server.url = ready.group(1)
        yield server
