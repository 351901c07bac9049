"""The conversation wrapper under a mock clock: a fake 20 ms send loop, frames fed on time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from voice.agents.conversation import END_GRACE, Call, ConversationalAgent
from voice.agents.events import (
    AgentEvent,
    CallEnded,
    OutputCleared,
    OutputFinished,
    SpeechStarted,
    SpeechStopped,
)
from voice.agents.turns import TurnSettings
from voice.opus import FRAME_BYTES, SILENCE
from voice.transceiver.agents import SessionInfo

VOICED = b"\x01" * FRAME_BYTES
AGENT = b"\x02" * FRAME_BYTES
SETTINGS = TurnSettings(min_speech=0.06, hangover=0.2)


def fake(pcm: bytes) -> bool:
    return pcm == VOICED


class Harness:
    """Plays the session's part: caller frames in every 20 ms, one frame out every 20 ms."""

    def __init__(self, caller: list[bytes]) -> None:
        self.caller = caller
        self.sent: list[tuple[float, bytes]] = []

    async def run(self, agent: ConversationalAgent, duration: float) -> None:
        in_send, in_recv = trio.open_memory_channel[bytes](8)
        out_send, out_recv = trio.open_memory_channel[bytes](agent.output_frames)
        info = SessionInfo("s1", "test")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(agent, info, in_recv, out_send)

            async def send_loop() -> None:
                start = trio.current_time()
                tick = 0
                while True:
                    tick += 1
                    await trio.sleep_until(start + 0.02 * tick + 0.005)
                    try:
                        self.sent.append((trio.current_time(), out_recv.receive_nowait()))
                    except trio.WouldBlock:
                        self.sent.append((trio.current_time(), SILENCE))

            async def caller() -> None:
                start = trio.current_time()
                for i, frame in enumerate(self.caller):
                    await trio.sleep_until(start + 0.02 * (i + 1))
                    in_send.send_nowait(frame)

            nursery.start_soon(send_loop)
            nursery.start_soon(caller)
            await trio.sleep(duration)
            nursery.cancel_scope.cancel()

    def agent_times(self) -> list[float]:
        return [t for t, frame in self.sent if frame == AGENT]


def recording(
    body: Callable[[Call, list[AgentEvent]], Awaitable[None]],
) -> tuple[ConversationalAgent, list[AgentEvent]]:
    seen: list[AgentEvent] = []

    async def agent(call: Call) -> None:
        await body(call, seen)

    return ConversationalAgent(agent, SETTINGS, classifier=fake), seen


async def answer_each_turn(call: Call, seen: list[AgentEvent]) -> None:
    async for event in call.events:
        seen.append(event)
        if isinstance(event, SpeechStopped):
            await call.play(AGENT * 10)


async def test_the_answer_leaves_at_the_first_tick_after_the_turn_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    harness = Harness([SILENCE] * 5 + [VOICED] * 10 + [SILENCE] * 60)
    agent, seen = recording(answer_each_turn)
    await harness.run(agent, 1.6)
    stopped = next(e for e in seen if isinstance(e, SpeechStopped))
    times = harness.agent_times()
    assert len(times) == 10
    # The first agent frame goes out at the send loop's next tick after the decision.
    assert stopped.decided_at < times[0] <= stopped.decided_at + 0.02
    finished = [e for e in seen if isinstance(e, OutputFinished)]
    assert finished == [OutputFinished(at=pytest.approx(times[-1]), frames=10)]


async def test_barge_in_drops_the_queued_answer_within_a_frame(
    autojump_clock: trio.testing.MockClock,
) -> None:
    played: list[bool] = []

    async def long_answer(call: Call, seen: list[AgentEvent]) -> None:
        async def listen() -> None:
            async for event in call.events:
                seen.append(event)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(listen)
            played.append(await call.play(AGENT * 400))  # 8 s, more than the queue holds

    # The agent talks from the start; the caller interrupts at 1 s.
    harness = Harness([SILENCE] * 50 + [VOICED] * 10 + [SILENCE] * 40)
    agent, seen = recording(long_answer)
    await harness.run(agent, 2.5)
    started = next(e for e in seen if isinstance(e, SpeechStarted))
    cleared = next(e for e in seen if isinstance(e, OutputCleared))
    assert cleared.reason == "barge-in"
    assert cleared.at == started.decided_at
    assert cleared.frames > 0
    times = harness.agent_times()
    assert times, "the agent was heard before the interruption"
    # Not one agent frame leaves after the decision: the next tick is silence.
    assert max(times) <= started.decided_at
    assert played == [False]  # play() gave up the rest of the interrupted answer
    assert agent.call is not None and agent.call.frames_cleared == cleared.frames


async def test_no_barge_in_when_disabled(autojump_clock: trio.testing.MockClock) -> None:
    async def long_answer(call: Call, seen: list[AgentEvent]) -> None:
        await call.play(AGENT * 100)
        await trio.sleep_forever()

    harness = Harness([SILENCE] * 20 + [VOICED] * 10 + [SILENCE] * 40)
    seen: list[AgentEvent] = []

    async def agent_fn(call: Call) -> None:
        await long_answer(call, seen)

    agent = ConversationalAgent(agent_fn, SETTINGS, barge_in=False, classifier=fake)
    await harness.run(agent, 2.5)
    assert len(harness.agent_times()) == 100


async def test_the_agent_clears_its_own_output(autojump_clock: trio.testing.MockClock) -> None:
    async def change_of_mind(call: Call, seen: list[AgentEvent]) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call.play, AGENT * 100)
            await trio.sleep(0.5)
            seen.append(OutputCleared(at=0, reason="count", frames=call.clear_output()))
            async for event in call.events:
                seen.append(event)

    harness = Harness([SILENCE] * 100)
    agent, seen = recording(change_of_mind)
    await harness.run(agent, 1.5)
    assert isinstance(seen[0], OutputCleared) and seen[0].frames > 0
    cleared = [e for e in seen[1:] if isinstance(e, OutputCleared)]
    assert [c.reason for c in cleared] == ["agent"]
    times = harness.agent_times()
    assert times and max(times) <= cleared[0].at
    assert len(times) + seen[0].frames == 100


async def test_the_agent_is_told_the_call_ended_and_gets_a_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    told: list[float] = []
    cut: list[float] = []

    async def stubborn(call: Call, seen: list[AgentEvent]) -> None:
        try:
            async for event in call.events:
                if isinstance(event, CallEnded):
                    told.append(event.at)
                    await trio.sleep(10)  # ignores the grace
        except trio.Cancelled:
            cut.append(trio.current_time())
            raise

    harness = Harness([SILENCE] * 10)
    agent, _ = recording(stubborn)
    await harness.run(agent, 0.5)
    assert told == [pytest.approx(0.5)]
    assert cut == [pytest.approx(0.5 + END_GRACE)]


async def test_an_agent_that_returns_ends_the_call(autojump_clock: trio.testing.MockClock) -> None:
    async def brief(call: Call, seen: list[AgentEvent]) -> None:
        await call.play(AGENT * 3)

    agent, _ = recording(brief)
    _in_send, in_recv = trio.open_memory_channel[bytes](8)
    out_send, out_recv = trio.open_memory_channel[bytes](0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(agent, SessionInfo("s", "t"), in_recv, out_send)
        got = [await out_recv.receive() for _ in range(3)]
    assert got == [AGENT] * 3


async def test_an_agent_that_reads_nothing_never_stalls_the_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def deaf(call: Call, seen: list[AgentEvent]) -> None:
        await trio.sleep_forever()

    harness = Harness(([VOICED] * 10 + [SILENCE] * 20) * 10)
    agent, _ = recording(deaf)
    await harness.run(agent, 6.5)
    assert agent.call is not None
    assert agent.call.audio_dropped > 0
    assert len(harness.sent) >= 300  # the send loop kept its pace throughout
