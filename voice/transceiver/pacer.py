"""The Trio loop that sends one frame per deadline of a :class:`~voice.opus.pacing.FramePacer`.

All the timing decisions live in the sans-IO pacer; this loop only sleeps until the next
absolute deadline with :func:`trio.sleep_until` (never a relative :func:`trio.sleep`, which
would let lateness accumulate) and calls ``send_frame`` for each frame the pacer says is due.
Under :class:`trio.testing.MockClock` it runs an hour-long call in a moment, which is how the
tests show that it does not drift.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import trio

from voice.opus.pacing import FramePacer
from voice.sansio import drain_events

#: Called with the index of each frame to send; may be a plain or an async function.
SendFrame = Callable[[int], Awaitable[None]] | Callable[[int], None]


async def run_pacer(pacer: FramePacer, send_frame: SendFrame) -> None:
    """Calls ``send_frame(index)`` for every frame on ``pacer``'s schedule until cancelled.

    ``index`` counts frames from the pacer's start, skipped ones included; ``index -
    pacer.skipped`` counts the frames sent, which is what to number packets from.
    ``send_frame`` may take time, even longer than a frame: the loop then catches up within
    the pacer's bound on the next round. Stop the loop by cancelling its scope
    (``with trio.move_on_at(...)``, or the session's nursery).
    """
    while True:
        await trio.sleep_until(pacer.get_timer())
        pacer.handle_timeout(trio.current_time())
        for due in drain_events(pacer):
            result = send_frame(due.index)
            if inspect.isawaitable(result):
                await result
