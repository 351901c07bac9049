"""Counters, the one shape of a layer's counts, and the driver contract's drain helper."""

from __future__ import annotations

import enum

from voice.counters import Counters
from voice.opus.pacing import FramePacer
from voice.sansio import drain_events


class Reason(enum.StrEnum):
    LATE = "late"
    MALFORMED = "malformed"


def test_declared_names_start_at_zero_and_others_read_as_zero() -> None:
    counters = Counters(Reason)
    assert dict(counters) == {Reason.LATE: 0, Reason.MALFORMED: 0}
    assert counters["never-counted"] == 0
    assert "never-counted" not in counters  # reading does not create a series


def test_increments_add_up() -> None:
    counters: Counters[str] = Counters(("a",))
    counters["a"] += 1
    counters.increment("b", 3)
    counters.increment("a")
    assert dict(counters) == {"a": 2, "b": 3}
    assert counters.total == 5


def test_enum_keys_export_under_their_value() -> None:
    counters = Counters(Reason)
    counters[Reason.MALFORMED] += 2
    assert {reason.value: n for reason, n in counters.items()} == {"late": 0, "malformed": 2}


def test_drain_events_yields_until_the_source_has_none() -> None:
    pacer = FramePacer(start=0.0)
    pacer.handle_timeout(0.041)
    assert [due.index for due in drain_events(pacer)] == [0, 1, 2]
    assert list(drain_events(pacer)) == []
