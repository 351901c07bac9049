"""Sending one frame every 20 ms against absolute deadlines, sans-IO.

A voice sender must put out one packet per frame duration for as long as the call lasts. The
naive loop, ``while True: send(); await sleep(0.020)``, drifts: every iteration adds the time
spent sending and the scheduler's lateness to the period, so after an hour the stream runs
seconds behind the clock and the receiver's jitter buffer sees a sender that is slightly too
slow. :class:`FramePacer` instead gives frame ``n`` the deadline ``start + n * duration``,
computed from the start each time, so lateness never accumulates: frame 180 000 of an
hour-long call is due exactly one hour after frame 0.

When the sender is held up longer than a frame (a busy event loop, a paused process), several
deadlines have passed at once. Sending all of them would burst a backlog into the network
and the receiver's jitter buffer; sending none would leave a hole. The pacer sends at most
``max_catch_up`` of the frames that are due and *skips* the older rest, counting them in
:attr:`FramePacer.skipped`. The frame indices it hands out still follow the clock; a sender
numbers its packets from the frames it actually sent (``index - skipped``), not from the
index: a gap in the numbering is what a receiver conceals as lost audio, a cut in what it
plays, while a stream that goes on where it stopped, only sent late, is network jitter to
the receiver's jitter buffer, which it absorbs.

This module is the arithmetic only, shaped as every sans-IO object is
(:mod:`voice.sansio`): :meth:`FramePacer.get_timer` says when the next frame is due,
:meth:`FramePacer.handle_timeout` works out which frames are, and
:meth:`FramePacer.next_event` hands them out one :class:`OpusFrameDue` at a time.
:func:`voice.transceiver.pacer.run_pacer` is the Trio loop around it, and a test can drive it
with plain numbers.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from voice.opus.errors import OpusUsageError
from voice.opus.pcm import FRAME_DURATION

#: Frames sent at once after a stall, by default: 60 ms, which a receiver's jitter buffer
#: absorbs; anything older is skipped.
DEFAULT_MAX_CATCH_UP = 3


@dataclass(frozen=True, slots=True)
class OpusFrameDue:
    """Frame ``index`` (counted from the pacer's start, skipped ones included) is to be sent
    now; ``index - skipped`` counts the frames sent before it, which numbers its packet."""

    index: int


class FramePacer:
    """Absolute deadlines for a stream of fixed-duration frames, with bounded catch-up.

    ``start`` is the deadline of frame 0 on the caller's clock (``trio.current_time()``).
    """

    def __init__(
        self,
        *,
        start: float,
        frame_duration: float = FRAME_DURATION,
        max_catch_up: int = DEFAULT_MAX_CATCH_UP,
    ) -> None:
        if not frame_duration > 0:
            raise OpusUsageError(f"frame_duration must be positive, got {frame_duration}")
        if max_catch_up < 1:
            raise OpusUsageError(f"max_catch_up must be at least 1, got {max_catch_up}")
        self.start = start
        self.frame_duration = frame_duration
        self.max_catch_up = max_catch_up
        self._next = 0
        self._due: deque[OpusFrameDue] = deque()
        #: Frames handed out to send.
        self.sent = 0
        #: Frames skipped because they were too far behind the clock.
        self.skipped = 0
        #: Times the pacer had to skip frames: one per stall longer than the catch-up.
        self.stalls = 0

    def deadline(self, index: int) -> float:
        """When frame ``index`` is due: always computed from the start, never accumulated."""
        return self.start + index * self.frame_duration

    def get_timer(self) -> float:
        """When the next frame is due: sleep until then (``trio.sleep_until``), then
        :meth:`handle_timeout`."""
        return self.deadline(self._next)

    def handle_timeout(self, now: float) -> None:
        """Queues the frames to send now, in order, for :meth:`next_event` (none if none is
        due yet).

        Every frame whose deadline is at or before ``now`` is due. If more than
        ``max_catch_up`` are, only the newest ``max_catch_up`` are queued and the older
        ones are skipped for good.
        """
        self._due.extend(OpusFrameDue(index) for index in self._take_due(now))

    def next_event(self) -> OpusFrameDue | None:
        """The next frame to send, oldest first, or None when all due frames are out."""
        return self._due.popleft() if self._due else None

    def _take_due(self, now: float) -> range:
        first = self._next
        if now < self.deadline(first):
            return range(first, first)
        # The last due frame: the floor of the elapsed frames, corrected for the rounding of
        # the division so that it agrees exactly with deadline().
        last = math.floor((now - self.start) / self.frame_duration)
        while self.deadline(last + 1) <= now:
            last += 1
        while last > first and self.deadline(last) > now:
            last -= 1
        due = last - first + 1
        if due > self.max_catch_up:
            self.skipped += due - self.max_catch_up
            self.stalls += 1
            first = last - self.max_catch_up + 1
        self._next = last + 1
        self.sent += last + 1 - first
        return range(first, last + 1)

    def due_now(self, now: float) -> None:
        """Moves the whole schedule earlier so that the next frame is due at ``now``.

        For the moment a sender has something to say after a stretch of filler (the first
        frame of an agent's answer, after the silence sent while the call came up): sent at
        once, it is heard up to a frame sooner, and every frame after it keeps that phase.
        The schedule moves by less than a frame, earlier only; the receiver sees it as the
        path getting that much faster, once.
        """
        early = self.deadline(self._next) - now
        if 0 < early <= self.frame_duration:
            self.start -= early
