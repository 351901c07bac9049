"""The built-in agents, on memory channels."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from tests.support.audio import rms, tone_share
from voice.opus import FRAME_BYTES, SILENCE
from voice.transceiver.agents import (
    AgentError,
    SessionInfo,
    ToneTable,
    create_agent,
    tone_frames,
    tone_table,
)

INFO = SessionInfo(session_id="s", agent="test")


async def run_agent(
    name: str, params: dict[str, str], frames: list[bytes], want: int
) -> list[bytes]:
    agent = create_agent(name, params)
    in_send, in_recv = trio.open_memory_channel[bytes](len(frames) + 1)
    out_send, out_recv = trio.open_memory_channel[bytes](0)
    for frame in frames:
        in_send.send_nowait(frame)
    got: list[bytes] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(agent, INFO, in_recv, out_send)
        async for frame in out_recv:
            got.append(frame)
            if len(got) == want:
                nursery.cancel_scope.cancel()
    return got


async def test_echo_returns_frames_in_order() -> None:
    frames = [bytes([n]) * FRAME_BYTES for n in range(5)]
    assert await run_agent("echo", {}, frames, 5) == frames


async def test_echo_delay_holds_frames_back() -> None:
    frames = [bytes([n + 1]) * FRAME_BYTES for n in range(10)]
    # 0.1 s is five frames: the first frame comes out once the sixth has gone in.
    got = await run_agent("echo", {"delay": "0.1"}, frames, 5)
    assert got == frames[:5]


async def echo_with_standing_backlog(
    frames: list[bytes], waiting: list[int] | None = None
) -> list[bytes]:
    """Runs the echo agent with ``frames`` going in as fast as its output is taken, one a
    tick, but one frame always waiting in between (the playout hands over the first two at
    once); returns what came out. ``waiting`` gets the output's backlog at each tick."""
    agent = create_agent("echo", {})
    in_send, in_recv = trio.open_memory_channel[bytes](8)
    out_send, out_recv = trio.open_memory_channel[bytes](2)
    got: list[bytes] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(agent, INFO, in_recv, out_send)
        in_send.send_nowait(frames[0])  # the playout hands over two at once, once
        for frame in frames[1:]:
            in_send.send_nowait(frame)
            await trio.testing.wait_all_tasks_blocked()
            if waiting is not None:
                waiting.append(out_recv.statistics().current_buffer_used)
            got.append(out_recv.receive_nowait())  # the sender takes one per tick
        nursery.cancel_scope.cancel()
    return got


async def test_echo_drops_a_frame_to_end_a_standing_backlog() -> None:
    """Frames in and out at the same pace, but one frame always waiting in between: after
    a second of that, the echo drops one, and from then on nothing waits."""
    frames = [n.to_bytes(2, "little") * (FRAME_BYTES // 2) for n in range(200)]
    waiting: list[int] = []
    got = await echo_with_standing_backlog(frames, waiting)
    dropped = [f for f in frames if f not in got]
    assert len(dropped) == 1
    assert got == [f for f in frames if f not in dropped]
    assert waiting[:49] == [2] * 49  # the backlog: a frame always waiting behind the next
    assert set(waiting[60:]) == {1}  # gone: only the frame about to be taken


async def test_tone_is_a_steady_sine_at_its_frequency() -> None:
    got = await run_agent("tone", {"frequency": "880", "amplitude": "0.5"}, [], 50)
    pcm = b"".join(got)
    assert len(pcm) == 50 * FRAME_BYTES
    assert tone_share(pcm, 880) > 0.95
    assert 0.3 < rms(pcm) < 0.4  # a sine's rms is its peak over the square root of two
    assert tone_frames(880, 0.5)[0] == got[0]


@pytest.mark.parametrize(
    ("name", "params", "says"),
    [
        ("parrot", {}, "unknown agent"),
        ("echo", {"delay": "soon"}, "not a number"),
        ("echo", {"delay": "9"}, "outside"),
        ("tone", {"frequency": "5"}, "outside"),
        ("tone", {"amplitude": "2"}, "outside"),
    ],
)
def test_bad_agent_requests_are_refused_with_a_reason(
    name: str, params: dict[str, str], says: str
) -> None:
    with pytest.raises(AgentError, match=says):
        create_agent(name, params)


def test_silence_is_a_frame_of_zeros() -> None:
    assert bytes(FRAME_BYTES) == SILENCE


def test_creating_a_tone_agent_computes_no_samples() -> None:
    # Issue 10 §5: the request path only validates; the agent computes frames as it sends.
    create_agent("tone", {"frequency": "523", "amplitude": "0.123"})
    table = tone_table(523, 0.123)
    assert table.computed == 0
    assert table.frame(3) == tone_frames(523, 0.123)[3]
    assert table.computed == ToneTable.FRAMES
    # The same tone is shared, not rebuilt.
    assert tone_table(523, 0.123) is table


async def test_echo_drops_its_backlog_frame_in_a_pause_not_in_a_word() -> None:
    """The same standing backlog, in speech: the frame dropped is the first quiet one after
    the backlog has lasted a second, not the loud frame the second ends on."""
    pause = range(70, 73)
    frames = [
        (n if n in pause else 3000 + n).to_bytes(2, "little") * (FRAME_BYTES // 2)
        for n in range(200)
    ]
    got = await echo_with_standing_backlog(frames)
    assert [n for n, f in enumerate(frames) if f not in got] == [pause.start]
