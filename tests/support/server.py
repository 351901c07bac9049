"""Runs ``voice serve`` as a real subprocess, the way a person runs it, for end-to-end tests.

The server prints its URL when it is ready, and logs one line per session start and end;
tests wait on those lines (events), never on sleeps.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    url: str
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def wait_for_log(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """Blocks until a log line matches ``pattern`` (also one already seen)."""
        regex = re.compile(pattern)
        for line in self.seen:
            if m := regex.search(line):
                return m
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if m := regex.search(line):
                return m
        raise AssertionError(
            f"no log line matched {pattern!r} within {timeout} s; last lines:\n"
            + "\n".join(self.seen[-30:])
        )

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metric(self, name: str) -> float:
        _, text = self.get("/metrics")
        return metric_value(text, name)


def metric_value(text: str, name: str) -> float:
    """One sample of Prometheus text. ``name`` may carry labels, in the order the registry
    sorts them; a bare name sums every labelled sample of the metric."""
    total = 0.0
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == name or (("{" not in name) and sample.startswith(name + "{")):
            total += float(value)
    return total


def _pump(stream: object, sink: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.put(line.rstrip("\n"))


@contextmanager
def voice_serve(*args: str, env: dict[str, str] | None = None) -> Iterator[RunningServer]:
    """Starts ``python -m voice serve --http-port 0 ...`` and stops it with SIGINT after."""
    cmd = [sys.executable, "-m", "voice", "serve", "--http-port", "0", "--log-level", "info"]
    process = subprocess.Popen(
        [*cmd, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    server = RunningServer(process=process, url="", lines=lines)
    try:
        server.url = server.wait_for_log(r"open (http://\S+) ", timeout=30).group(1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
