"""The talk agent, end to end on synthesized speech: recognition, answer, barge-in."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import trio

from tests.agents.line import Line
from tests.conftest import require_program
from voice.agents import talk
from voice.agents.conversation import ConversationalAgent
from voice.agents.speech import synthesize
from voice.agents.talk import Talker, make_talk, reply_to
from voice.opus import FRAME_BYTES, SILENCE
from voice.transceiver.agents import AgentError


def framed(pcm: bytes) -> list[bytes]:
    return [
        pcm[i : i + FRAME_BYTES]
        for i in range(0, len(pcm) // FRAME_BYTES * FRAME_BYTES, FRAME_BYTES)
    ]


def script(*parts: tuple[float, str]) -> list[bytes]:
    """Frames of speech: each part is (seconds of silence before it, words)."""
    frames: list[bytes] = []
    for pause, words in parts:
        frames += [SILENCE] * round(pause / 0.02)
        frames += framed(synthesize(words))
    return frames


def agent_frames(line: Line, heard: list[bytes]) -> int:
    caller = set(heard)
    return sum(1 for _, f in line.sent if f != SILENCE and f not in caller)


@pytest.fixture(autouse=True)
def _espeak() -> None:
    require_program("espeak-ng")


async def test_talk_answers_a_turn_with_what_it_understood() -> None:
    frames = script((0.3, "hello, how are you today"))
    agent = make_talk({"greet": "0"})
    assert isinstance(agent, ConversationalAgent)
    line = Line(lambda t: frames[t] if t < len(frames) else SILENCE)
    call_lines = lambda: agent.call.transcript if agent.call else []  # noqa: E731
    await line.run(
        agent,
        lambda ln: len(call_lines()) == 2 and agent_frames(ln, frames) > 25,
        limit=30,
    )
    (caller_role, heard), (agent_role, answer) = call_lines()
    assert (caller_role, agent_role) == ("caller", "agent")
    assert answer == reply_to("" if heard == "(not understood)" else heard)
    assert isinstance(agent.detail, Talker) and agent.detail.turns == 1


async def test_talking_over_the_greeting_stops_it() -> None:
    # The greeting lasts about 3 s; the caller talks over it after 1 s.
    frames = script((1.0, "wait, stop"))
    agent = make_talk({})
    assert isinstance(agent, ConversationalAgent)
    talker = agent.detail
    assert isinstance(talker, Talker)
    line = Line(lambda t: frames[t] if t < len(frames) else SILENCE)
    await line.run(agent, lambda ln: talker.interrupted == 1 and ln.ticks > 150, limit=30)
    # The greeting was heard, then cut at the interruption: between the interruption and
    # the end of the caller's turn (plus the answer's own think time) nothing plays.
    assert agent.call is not None and agent.call.frames_cleared > 20
    starts = [i for i, (_, f) in enumerate(line.sent) if f != SILENCE and f not in frames]
    assert starts and starts[0] < 50


def test_talk_checks_its_parameters() -> None:
    with pytest.raises(AgentError):
        make_talk({"greet": "maybe"})
    with pytest.raises(AgentError):
        make_talk({"hangover": "9"})


async def test_recognitions_share_the_engine_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def busy(arg: object) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)  # stands for a worker's CPU time
        with lock:
            running -= 1
        return "hi"

    with ThreadPoolExecutor(max_workers=4) as workers:
        monkeypatch.setattr(talk, "ENGINE_SLOTS", 1)
        monkeypatch.setattr(talk._engine, "submit", lambda fn, arg: workers.submit(busy, arg))
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(talk.recognize, SILENCE * 10)
    assert most == 1


async def test_recognition_leaves_the_event_loop_free() -> None:
    """pocketsphinx holds the GIL while it decodes: it runs in a worker process, so the
    loop keeps ticking meanwhile (a thread froze it for the whole recognition)."""
    speech = synthesize("hello, how are you today, what is the weather like")
    await talk.recognize(speech[:96_000])  # the pool and its model are loaded
    ticks = 0
    done = trio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await trio.sleep(0.005)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        started = trio.current_time()
        await talk.recognize(speech)
        elapsed = trio.current_time() - started
        done.set()
    # A frozen loop would have ticked once or twice; a free one about every 5 ms.
    assert ticks > elapsed / 0.005 / 3


def test_the_worker_pool_is_sized_by_the_cpus_this_process_may_use(tmp_path: Path) -> None:
    import os

    from voice.agents.talk import ENGINE_SLOTS, usable_cpus

    mine = len(os.sched_getaffinity(0))
    assert usable_cpus(str(tmp_path / "absent")) == mine
    quota = tmp_path / "cpu.max"
    quota.write_text("max 100000\n")
    assert usable_cpus(str(quota)) == mine
    quota.write_text("50000 100000\n")  # half a CPU: still one worker's worth
    assert usable_cpus(str(quota)) == 1
    quota.write_text(f"{100000 * (mine + 8)} 100000\n")  # a quota above the mask
    assert usable_cpus(str(quota)) == mine
    assert max(1, usable_cpus() - 1) == ENGINE_SLOTS
