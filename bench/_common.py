"""Shared helpers for the benchmarks: timing loops, medians, percentiles and the table.

Every benchmark measures a baseline in the same run and prints the ratio, because the
machines are shared and noisy; figures quoted anywhere are medians (or p50/p99), never means.
"""

from __future__ import annotations

import re
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager


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
        assert proc.stdout is not None
        for line in proc.stdout:
            if m := URL.search(line):
                yield m.group(1)
                break
        else:
            raise RuntimeError(f"{argv} exited before printing its URL")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
