"""The one shape of a layer's counters: named counts of what happened, for the driver.

Every sans-IO object that drops or refuses something counts it (a malformed packet is
counted and dropped, never a crash), and its driver exports the counts. They all use
:class:`Counters`, so a driver (and the metrics exporter) reads every layer the same way::

    counters = Counters(DropReason)          # every declared name starts at 0
    counters[DropReason.BAD_TOKEN] += 1      # or counters.increment(reason)
    counters["late"]                         # a name never counted reads as 0
    dict(counters)                           # a plain snapshot, for logs and export

It is a ``dict`` so that logging, ``sum(counters.values())`` and an exporter need nothing
special. Names are strings, or a :class:`enum.StrEnum` of the layer's reasons (drop reasons
are an enum in the layers that have a fixed set); declaring them up front makes an exporter
show every series from the start, at zero, instead of only the ones that happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

K = TypeVar("K", bound=str)


class Counters(dict[K, int]):
    """Counts by name; a name not yet counted reads as 0."""

    __slots__ = ()

    def __init__(self, names: Iterable[K] = ()) -> None:
        super().__init__(dict.fromkeys(names, 0))

    def __missing__(self, name: K) -> int:
        return 0

    def increment(self, name: K, amount: int = 1) -> None:
        """Adds ``amount`` to ``name``'s count."""
        self[name] = self[name] + amount

    @property
    def total(self) -> int:
        """The sum of every count."""
        return sum(self.values())
