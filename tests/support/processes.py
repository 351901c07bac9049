"""``python -m voice <command>`` as real processes under a Trio nursery, for fleet tests.

A fleet is several programs: ``voice relay`` (a supervisor and its worker processes) and
one ``voice transceiver`` per transceiver. Tests start them exactly as an operator would,
collect each one's output (stdout and stderr together) line by line as it comes, and wait
for the line that says a process is ready or that something happened: never a sleep.

Processes run under the test's nursery (``trio.run_process`` under ``nursery.start``), so
however the test ends they are stopped with it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from tests.support.server import metric_value
from voice.types import Address

if TYPE_CHECKING:
    from voice.loadgen.caller import Caller

ROOT = Path(__file__).resolve().parents[2]

#: The supervisor's line once every worker serves (voice/relay/supervisor.py).
RELAY_READY = (
    r"relay ready: public ([\d.]+):(\d+), (\d+) workers \(steering: ([\w-]+)\), "
    r"internal ports ([\d,]+), pids ([\d,]+)"
)
#: ``voice serve`` and ``voice transceiver`` print this line last when they are up.
URL_LINE = r"open (http://\S+) "
#: ``voice transceiver`` prints this line just before the URL line.
RELAY_INPUT_LINE = r"relay input on udp ([\d.]+):(\d+)"


def free_udp_ports(count: int = 1, host: str = "127.0.0.1") -> int:
    """The first of ``count`` consecutive UDP ports that are free on ``host`` right now.

    For programs that must be told a port before they start (a relay's fixed internal
    ports, a transceiver's relay input that the relay's directory names). The ports are
    released before returning; inside the test's own network namespace nothing else
    takes them meanwhile.
    """
    for _ in range(50):
        with contextlib.ExitStack() as held:
            first = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            first.bind((host, 0))
            base: int = first.getsockname()[1]
            if base + count - 1 <= 0xFFFF and all(
                _bind(held, host, port) for port in range(base + 1, base + count)
            ):
                return base
    raise RuntimeError(f"no {count} consecutive free UDP ports on {host}")


def _bind(held: contextlib.ExitStack, host: str, port: int) -> bool:
    sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    try:
        sock.bind((host, port))
    except OSError:
        return False
    return True


class VoiceProcess:
    """One ``python -m voice <command> <args>`` with its output lines collected."""

    def __init__(self, command: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.argv = [sys.executable, "-m", "voice", command, *args]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.lines: list[str] = []
        self.process: trio.Process | None = None
        self._changed = trio.Event()
        self._eof = False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, nursery: trio.Nursery, ready: str, timeout: float = 30) -> re.Match[str]:
        """Starts the process and waits for the line matching ``ready``."""
        self.process = await nursery.start(
            partial(
                trio.run_process,
                self.argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=self.env,
                check=False,
            )
        )
        nursery.start_soon(self._read)
        return await self.wait_for(ready, timeout=timeout)

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        pending = b""
        async for chunk in self.process.stdout:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            self.lines.extend(line.decode(errors="replace") for line in complete)
            self._changed.set()
            self._changed = trio.Event()
        self._eof = True
        self._changed.set()

    def mark(self) -> int:
        """A position in the output: :meth:`wait_for` with ``start=mark()`` sees only what
        comes later."""
        return len(self.lines)

    async def wait_for(self, pattern: str, start: int = 0, timeout: float = 30) -> re.Match[str]:
        """The first line from position ``start`` on that matches ``pattern``; waits for it.

        Fails with the process's last lines if the output ends, or ``timeout`` (a hang
        guard, not a measurement) passes, without such a line.
        """
        regex = re.compile(pattern)
        seen = start
        with trio.move_on_after(timeout):
            while True:
                for line in self.lines[seen:]:
                    if m := regex.search(line):
                        return m
                seen = len(self.lines)
                if self._eof:
                    break
                await self._changed.wait()
        tail = "\n".join(self.lines[-40:])
        raise AssertionError(f"{self.argv[2:4]}: no line matched {pattern!r}; last lines:\n{tail}")

    async def kill(self) -> None:
        """SIGKILL, then wait until the process is gone."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()


@dataclass(frozen=True, slots=True)
class RelayReady:
    """What the relay supervisor's ready line says."""

    public: Address
    workers: int
    steering: str
    internal_ports: tuple[int, ...]
    pids: tuple[int, ...]

    @classmethod
    def parse(cls, m: re.Match[str]) -> RelayReady:
        return cls(
            public=(m.group(1), int(m.group(2))),
            workers=int(m.group(3)),
            steering=m.group(4),
            internal_ports=tuple(int(p) for p in m.group(5).split(",")),
            pids=tuple(int(p) for p in m.group(6).split(",")),
        )


async def start_relay(
    nursery: trio.Nursery, *args: str, env: Mapping[str, str]
) -> tuple[VoiceProcess, RelayReady]:
    """``voice relay <args>``, once its supervisor reports every worker ready."""
    relay = VoiceProcess("relay", *args, env=env)
    ready = RelayReady.parse(await relay.start(nursery, RELAY_READY))
    return relay, ready


async def kill_relay_tree(relay: VoiceProcess, ready: RelayReady) -> None:
    """SIGKILLs the supervisor and every worker it reported, as a crash of the whole host
    process tree would, and returns once all of them are gone."""
    # The supervisor first: killed after a worker, it could still fork a replacement.
    for pid in (relay.pid, *ready.pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert relay.process is not None
    await relay.process.wait()
    for pid in ready.pids:
        await wait_for_exit(pid)


async def wait_for_exit(pid: int) -> None:
    """Waits (without polling) until process ``pid``, not necessarily our child, has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        await trio.lowlevel.wait_readable(fd)
    finally:
        os.close(fd)


async def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    """GET ``url`` in a thread; the status and the body, also for 4xx/5xx."""

    def get() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    return await trio.to_thread.run_sync(get)


async def metric(base_url: str, name: str) -> float:
    """One sample of ``GET <base_url>/metrics`` (see :func:`metric_value`)."""
    status, text = await http_get(base_url.rstrip("/") + "/metrics")
    assert status == 200, text
    return metric_value(text, name)


async def first_increase(url: str, name: str, value: float) -> float:
    """When the transceiver's counter ``name`` is first seen above ``value``.

    A measurement, so it asks back to back: the answer is late by at most one request.
    """
    while await metric(url, name) <= value:
        pass
    return trio.current_time()


async def echoed_burst_after(caller: Caller, moment: float) -> float:
    """Waits until the caller hears the echo of a probe burst it sent after ``moment``, which
    takes audio in both directions; returns that round trip."""
    while True:
        heard = len(caller.result.round_trips)
        arrived = await caller.rtp_after(trio.current_time())
        if len(caller.result.round_trips) > heard:
            round_trip = caller.result.round_trips[-1]
            if arrived - round_trip > moment:
                return round_trip
