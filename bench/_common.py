"""Shared helpers for the benchmarks: timing loops, medians, percentiles and the table.

Every benchmark measures a baseline in the same run and prints the ratio, because the
machines are shared and noisy; figures quoted anywhere are medians (or p50/p99), never means.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from voice.relay.token import TokenKey


def time_per_call(fn: Callable[[], object], *, repeat: int = 15, number: int = 0) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` batches of ``number`` calls.

    With ``number`` 0 the batch size is chosen so one batch takes about 20 ms.
    """
    if number <= 0:
        number = 1
        while True:
            start = time.perf_counter()
            for _ in range(number):
                fn()
            if time.perf_counter() - start > 0.02:
                break
            number *= 2
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; ``nan`` for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def pyplot() -> Any:
    """matplotlib's ``pyplot``, drawing to files (no display here), or None with a note when
    matplotlib is not installed: a benchmark's figures do not depend on its plot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (./dev bench installs it): no plot")
        return None
    return plt


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Prints a plain, aligned text table (also valid Markdown)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


#: What `voice serve` and the aiortc echo server print once they listen.
URL = re.compile(r"(?:open|listening on) (http://\S+)")


@contextmanager
def process(argv: list[str]) -> Iterator[str]:
    """Runs a server until the block ends; yields the URL it prints when ready."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield wait_for_url(proc, str(argv))
    finally:
        stop(proc)


def wait_for_url(proc: subprocess.Popen[str], what: str) -> str:
    """The URL a server prints once it listens (its standard output is a pipe); what it
    printed before is read and dropped. RuntimeError naming ``what`` if it exits first."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if m := URL.search(line):
            return m.group(1)
    raise RuntimeError(f"{what} exited before printing its URL")


def stop(proc: subprocess.Popen[str]) -> None:
    """Stops a server with Ctrl-C (SIGINT), as a person would; kills it after 10 s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the call set-up benchmarks (browser, firefox): one demo page, three servers ----------

#: The servers a set-up benchmark compares, in the order its calls interleave.
SETUP_SERVERS = ("voice (relay)", "voice (direct)", "aiortc")


def setup_pages(stack: ExitStack, query: str) -> dict[str, str]:
    """Starts ``voice serve`` (through its relay, and direct) and the aiortc echo server
    until ``stack`` closes; returns the demo page's URL with ``query`` for each of
    :data:`SETUP_SERVERS`. aiortc's is the same page, served by voice, posting its offer
    to aiortc, so that every server is called from the very same page."""
    voice = [sys.executable, "-m", "voice", "serve", "--http-port", "0", "--log-level", "error"]
    aiortc = [sys.executable, str(ROOT / "bench" / "aiortc_server.py"), "--port", "0"]
    relay = stack.enter_context(process(voice))
    direct = stack.enter_context(process([*voice, "--direct"]))
    baseline = stack.enter_context(process(aiortc))
    return {
        "voice (relay)": f"{relay}{query}",
        "voice (direct)": f"{direct}{query}",
        "aiortc": f"{direct}{query}&whip={baseline}v1/sessions",
    }


def print_setup(
    title: str,
    medians: Mapping[str, Sequence[float]],
    counts: Mapping[str, int],
    *,
    counted: str,
    target: str = "",
) -> None:
    """The set-up table (a row per server: its median marks, the last the first audible
    echo, then its ``counted`` calls) and the echo's ratio to aiortc's, relayed and direct."""
    rows = [[name, *marks, counts[name]] for name, marks in medians.items()]
    print(title)
    print_table(
        [
            "server",
            "answer",
            "ICE connected",
            "DTLS connected",
            "first packet",
            "first audible echo",
            counted,
        ],
        rows,
    )
    echo = {name: marks[-1] for name, marks in medians.items()}
    print(
        "first audible echo, voice / aiortc: "
        f"relay {echo['voice (relay)'] / echo['aiortc']:.2f}, "
        f"direct {echo['voice (direct)'] / echo['aiortc']:.2f}{target}"
    )


# -- the relay benchmarks (relay, cross_relay): UDP flows through `voice relay` processes ----

Address = tuple[str, int]
HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
#: An Opus 20 ms frame at a high bitrate, with RTP and SRTP overhead.
PAYLOAD_SIZE = 160
#: What `voice relay` logs once every worker listens.
RELAY_READY = re.compile(
    r"relay ready: public [\d.]+:(\d+), (\d+) workers \(steering: [\w-]+\), "
    r"internal ports ([\d,]+), pids ([\d,]+)"
)


def udp_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, port))
    return sock


class Relay:
    """A ``voice relay`` process; one thread reads its log so nothing blocks on the pipe."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        m = RELAY_READY.search(self.wait_for("relay ready"))
        assert m is not None
        self.port = int(m.group(1))
        self.internal_ports = [int(p) for p in m.group(3).split(",")]
        self.pids = [int(p) for p in m.group(4).split(",")]

    @property
    def public(self) -> Address:
        return (HOST, self.port)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of output
            self._changed.notify_all()

    def wait_for(self, text: str, start: int = 0) -> str:
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    if text in line:
                        return line
                if self.lines and self.lines[-1] == "":
                    raise RuntimeError("relay exited:\n" + "".join(self.lines[-20:]))
                start = len(self.lines)
                self._changed.wait(10)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)
        self.process.wait(10)


def start_relay(key: TokenKey, *args: str, workers: int = 1) -> Relay:
    """A ``voice relay`` on loopback, any free ports, with ``args`` after (a later flag wins,
    so ``--port=...`` or ``--internal-port=...`` there choose the ports)."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "voice", "relay", f"--workers={workers}"),
            *(f"--host={HOST}", "--port=0", f"--internal-host={HOST}", "--internal-port=0"),
            "--log-interval=0",
            # A flow here is far faster than any call: lift the per-client budget
            # (VOICE-RELAY §10), whose bucket is still charged for every datagram.
            *("--client-rate=1e12", "--client-burst=1e12", *args),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, VOICE_FLEET_KEYS=f"{key.key_id}:{key.secret.hex()}"),
        cwd=ROOT,
    )
    return Relay(process)


def paced_rtts(sock: socket.socket, target: Address, rate: float, seconds: float) -> list[float]:
    """Round-trip times (seconds) of datagrams sent at a fixed ``rate`` for ``seconds``,
    each carrying its send time; what comes back is counted until 0.2 s after the last."""
    interval = 1.0 / rate
    sock.setblocking(False)
    rtts: list[float] = []
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    pad = bytes(PAYLOAD_SIZE - 9)
    next_send = start = time.perf_counter()
    end = start + seconds
    while True:
        now = time.perf_counter()
        if next_send <= now < end:
            sock.sendto(b"\x80" + struct.pack("!d", now) + pad, target)
            next_send += interval
            continue
        if now >= end + 0.2:
            break
        for _ in selector.select(max(0.0, min(next_send, end + 0.2) - now)):
            while True:
                try:
                    data = sock.recv(2048)
                except BlockingIOError:
                    break
                (sent,) = struct.unpack_from("!d", data, 1)
                rtts.append(time.perf_counter() - sent)
    selector.close()
    return rtts
