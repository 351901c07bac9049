"""Tests of the Trio pacing loop on a mock clock: no drift over a long call, bounded burst
after a stall."""

from __future__ import annotations

import trio
import trio.testing

from voice.opus.pacing import FramePacer
from voice.transceiver.pacer import run_pacer

FRAME = 0.020


async def test_a_long_call_does_not_drift(autojump_clock: trio.testing.MockClock) -> None:
    start = trio.current_time() + 1.0
    pacer = FramePacer(start=start)
    sent: list[tuple[int, float]] = []
    late = 0.0

    async def send(index: int) -> None:
        nonlocal late
        now = trio.current_time()
        late = max(late, now - pacer.deadline(index))
        sent.append((index, now))
        await trio.sleep(0.013)  # encoding and sending take most of the frame

    # Ten minutes of simulated call (tests/opus/test_pacing.py runs a full hour sans-IO).
    with trio.move_on_at(start + 600.0 - FRAME / 2):
        await run_pacer(pacer, send)
    assert [i for i, _ in sent] == list(range(600 * 50))
    # Every frame went out at its deadline, the last one ten minutes after the first.
    assert late < 1e-6
    assert abs(sent[-1][1] - sent[0][1] - (600.0 - FRAME)) < 1e-6
    assert pacer.skipped == 0


async def test_a_stall_gives_a_bounded_burst_then_the_old_schedule(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    pacer = FramePacer(start=start, max_catch_up=3)
    sent: list[tuple[int, float]] = []

    def send(index: int) -> None:  # a plain function works too
        sent.append((index, trio.current_time() - start))

    async def stall_once(index: int) -> None:
        send(index)
        if index == 100:
            await trio.sleep(0.2)  # the process is held up for 200 ms

    with trio.move_on_at(start + 3.0 - FRAME / 2):
        await run_pacer(pacer, stall_once)
    at = {i: t for i, t in sent}
    # Frames 101-110 fell due during the stall: 108-110 go out together, 101-107 never.
    assert all(i not in at for i in range(101, 108))
    assert at[108] == at[109] == at[110]
    assert abs(at[110] - at[100] - 0.2) < 1e-9
    assert pacer.skipped == 7 and pacer.stalls == 1
    # Then the original grid again.
    assert abs(at[111] - 111 * FRAME) < 1e-9
    assert abs(at[149] - 149 * FRAME) < 1e-9

    plain = FramePacer(start=trio.current_time())
    with trio.move_on_at(plain.start + 0.1 - FRAME / 2):
        await run_pacer(plain, send)
    assert plain.sent == 5
