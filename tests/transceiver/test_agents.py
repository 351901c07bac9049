"""The built-in agents, on memory channels."""

from __future__ import annotations

import pytest
import trio

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
