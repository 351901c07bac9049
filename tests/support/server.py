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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families


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


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a Prometheus text exposition, read with ``prometheus_client``'s own
    parser (so a malformed exposition fails the test): name, labels, value."""
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def metric_value(text: str, name: str) -> float:
    """One sample of Prometheus text. ``name`` may carry labels (``a="b",c="d"``, in any
    order); a bare name, or one with some of the labels, sums every sample that matches."""
    bare, _, rest = name.partition("{")
    wanted: dict[str, str] = {}
    if rest:
        for item in rest.rstrip("}").split(","):
            key, _, value = item.partition("=")
            wanted[key.strip()] = value.strip().strip('"')
    return sum(
        value
        for sample, labels, value in samples(text)
        if sample == bare and all(labels.get(k) == v for k, v in wanted.items())
    )


def _pump(stream: object, sink: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.put(line.rstrip("\n"))


#: The line every serving command prints once it listens; group 1 is its URL.
OPEN_URL = r"open (http://\S+) "


def stop(process: subprocess.Popen[str]) -> None:
    """Stops a server as a person does, with Ctrl-C (SIGINT); kills it if it has not exited
    10 s later (a hang guard: a graceful stop takes well under a second)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def voice_process(
    *args: str, ready: str = OPEN_URL, env: Mapping[str, str] | None = None
) -> Iterator[tuple[RunningServer, re.Match[str]]]:
    """Runs ``python -m voice <args>`` until the block ends; yields it once a log line
    matches ``ready`` (with that match), and stops it with SIGINT after. When the block
    fails, what the program said goes to the test's output."""
    process = subprocess.Popen(
        [sys.executable, "-m", "voice", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    running = RunningServer(process=process, url="", lines=lines)
    try:
        yield running, running.wait_for_log(ready, timeout=30)
    except BaseException:
        while not lines.empty():
            running.seen.append(lines.get_nowait())
        print(f"--- voice {args[0]}:", *running.seen[-40:], sep="\n")
        raise
    finally:
        stop(process)


@contextmanager
def voice_serve(*args: str, env: dict[str, str] | None = None) -> Iterator[RunningServer]:
    """Starts ``python -m voice serve --http-port 0 ...`` and stops it with SIGINT after."""
    with voice_process("serve", "--http-port", "0", "--log-level", "info", *args, env=env) as (
        server,
        ready,
    ):
        server.url = ready.group(1)
        yield server
