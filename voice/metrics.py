"""Counters and gauges with labels, rendered in the Prometheus text exposition format.

A deliberately tiny registry (no dependency): the services count what happens (sessions
started and ended by reason, packets in and out, drops by reason, handshake durations) and
``GET /metrics`` renders it. Counting is a dict update, cheap enough for every packet.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

Labels = tuple[tuple[str, str], ...]


def _labels(labels: dict[str, str] | None) -> Labels:
    return tuple(sorted((labels or {}).items()))


def _render_labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels
    )
    return "{" + inner + "}"


@dataclass
class Metric:
    name: str
    help: str
    kind: str  # "counter" or "gauge"
    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = _labels(labels)
        self.values[key] = self.values.get(key, 0.0) + float(amount)

    def set(self, value: float, **labels: str) -> None:
        self.values[_labels(labels)] = float(value)

    def get(self, **labels: str) -> float:
        return self.values.get(_labels(labels), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"
        for labels, value in sorted(self.values.items()):
            text = repr(value) if not value.is_integer() else str(int(value))
            yield f"{self.name}{_render_labels(labels)} {text}"


@dataclass
class Summary:
    """Observations summarised as count, sum and a few quantiles over the last samples."""

    name: str
    help: str
    window: int = 1024
    samples: list[float] = field(default_factory=list)
    count: int = 0
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.samples.append(value)
        if len(self.samples) > self.window:
            del self.samples[: len(self.samples) - self.window]

    def quantile(self, q: float) -> float:
        if not self.samples:
            return math.nan
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} summary"
        for q in (0.5, 0.9, 0.99):
            yield f'{self.name}{{quantile="{q}"}} {self.quantile(q)!r}'
        yield f"{self.name}_sum {self.total!r}"
        yield f"{self.name}_count {self.count}"


_M = TypeVar("_M", "Metric", "Summary")


class Registry:
    """Named metrics, rendered in registration order."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric | Summary] = {}
        self._collectors: list[Callable[[], str]] = []

    def add_collector(self, render: Callable[[], str]) -> None:
        """Adds text rendered elsewhere (the relay's counters) to every :meth:`render`."""
        self._collectors.append(render)

    def counter(self, name: str, help: str) -> Metric:
        return self._add(Metric(name, help, "counter"))

    def gauge(self, name: str, help: str) -> Metric:
        return self._add(Metric(name, help, "gauge"))

    def summary(self, name: str, help: str) -> Summary:
        return self._add(Summary(name, help))

    def _add(self, metric: _M) -> _M:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics[metric.name] = metric
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics.values():
            lines.extend(metric.render())
        text = "\n".join(lines) + "\n"
        return text + "".join(render() for render in self._collectors)
