"""Tests of the sans-IO frame pacer: absolute deadlines and bounded catch-up."""

from __future__ import annotations

import random

import pytest

from voice.errors import LocalProtocolError
from voice.opus.pacing import FramePacer
from voice.sansio import drain_events


def due(pacer: FramePacer, now: float) -> list[int]:
    """What a driver does when woken at ``now``: the indices of the frames to send."""
    pacer.handle_timeout(now)
    return [frame.index for frame in drain_events(pacer)]


def test_nothing_is_due_before_the_start() -> None:
    pacer = FramePacer(start=10.0)
    assert pacer.get_timer() == 10.0
    assert due(pacer, 9.999) == []
    assert due(pacer, 10.0) == [0]
    assert pacer.next_event() is None
    assert pacer.get_timer() == pytest.approx(10.02)


def test_an_hour_of_late_wakeups_does_not_drift() -> None:
    """Waking up late every time (as a busy event loop does) delays each frame a little but
    never moves the schedule: frame n stays due at start + n * 20 ms, to the microsecond."""
    rng = random.Random(1)
    start = 12_345.678  # a large clock value, where rounding would show first
    pacer = FramePacer(start=start)
    frames = 3600 * 50
    for n in range(frames):
        deadline = pacer.get_timer()
        assert deadline == start + n * 0.020
        assert due(pacer, deadline + rng.uniform(0, 0.015)) == [n]
    assert pacer.get_timer() == pytest.approx(start + 3600.0, abs=1e-6)
    assert (pacer.sent, pacer.skipped, pacer.stalls) == (frames, 0, 0)


def test_waking_exactly_at_each_deadline_gives_one_frame_each() -> None:
    pacer = FramePacer(start=0.1, frame_duration=0.01)
    for n in range(10_000):
        assert due(pacer, pacer.get_timer()) == [n]


def test_a_short_delay_is_caught_up_in_full() -> None:
    pacer = FramePacer(start=0.0, max_catch_up=3)
    assert due(pacer, 0.0) == [0]
    # Woken at 65 ms, 45 ms late for frame 1: frames 1-3 are due, all are sent.
    assert due(pacer, 0.065) == [1, 2, 3]
    assert pacer.skipped == 0


def test_handling_the_same_time_twice_queues_nothing_more() -> None:
    pacer = FramePacer(start=0.0)
    pacer.handle_timeout(0.05)
    pacer.handle_timeout(0.05)
    assert [frame.index for frame in drain_events(pacer)] == [0, 1, 2]


def test_after_a_stall_the_burst_is_bounded_and_the_rest_skipped() -> None:
    pacer = FramePacer(start=0.0, max_catch_up=3)
    assert due(pacer, 0.0) == [0]
    # Stalled for 200 ms: frames 1-10 are due; only the newest three go out.
    assert due(pacer, 0.2005) == [8, 9, 10]
    assert (pacer.sent, pacer.skipped, pacer.stalls) == (4, 7, 1)
    # The schedule is unchanged: frame 11 is due at 220 ms, as it always was.
    assert pacer.get_timer() == pytest.approx(0.22)
    assert due(pacer, 0.22) == [11]


def test_settings_are_checked() -> None:
    with pytest.raises(LocalProtocolError):
        FramePacer(start=0.0, frame_duration=0.0)
    with pytest.raises(ValueError):
        FramePacer(start=0.0, max_catch_up=0)


def test_the_schedule_can_be_brought_forward_once_by_less_than_a_frame() -> None:
    pacer = FramePacer(start=10.0)
    assert due(pacer, 10.0) == [0]
    pacer.due_now(10.007)  # the next frame was due at 10.02: it is due now
    assert due(pacer, 10.007) == [1]
    assert pacer.get_timer() == pytest.approx(10.027)  # and the phase stays
    pacer.due_now(10.0)  # never later, and never by more than a frame
    pacer.due_now(9.9)
    assert pacer.get_timer() == pytest.approx(10.027)
