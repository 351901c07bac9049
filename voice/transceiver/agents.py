"""Agents: what a call talks to.

An agent is an async function of its session's information and two Trio memory channels of
PCM frames: one bringing what the caller says, one taking what the agent says. A frame is
20 ms of 48 kHz mono signed 16-bit little-endian audio (:data:`voice.opus.FRAME_BYTES` bytes),
the same in both directions. The session plays the agent's frames out at exactly one per
20 ms; when the agent has nothing ready it sends silence, so an agent never has to keep time
itself: it produces as fast as it likes and the bounded ``audio_out`` channel holds it back.

Frames arriving from the caller are offered to the agent without waiting: an agent that does
not read its input (``tone``) loses nothing but that input, and never stalls the call.

Two agents are built in: ``echo`` (what you said, back, after an optional delay) and ``tone``
(a steady sine, for tests that measure the received frequency). A real deployment plugs a
speech model in the same place.
"""

from __future__ import annotations

import functools
import math
from array import array
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import trio

from voice.agents import registry
from voice.opus import FRAME_SAMPLES, SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What an agent may know about its call."""

    session_id: str
    agent: str
    params: Mapping[str, str] = field(default_factory=dict)


AgentFunction = Callable[
    [SessionInfo, trio.MemoryReceiveChannel[bytes], trio.MemorySendChannel[bytes]],
    Awaitable[None],
]


class AgentError(ValueError):
    """An agent name or parameter the caller asked for does not exist or is out of range."""


def _float_param(
    params: Mapping[str, str], name: str, default: float, lo: float, hi: float
) -> float:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise AgentError(f"{name}={raw!r} is not a number") from None
    if not lo <= value <= hi:
        raise AgentError(f"{name}={raw} is outside {lo}..{hi}")
    return value


#: Frames in a row that found the outgoing queue already holding one: a standing backlog.
ECHO_BACKLOG_FRAMES = 50
#: A frame whose RMS is under this (about -40 dBFS) is a pause: dropping it is not heard.
QUIET_RMS = 328
#: Frames a standing backlog waits for a quiet frame to drop before it drops a loud one.
ECHO_QUIET_PATIENCE = 100


def is_quiet(frame: bytes) -> bool:
    """Whether a PCM frame is a pause (silence, or the gap between two words), judged from
    every fourth sample: enough for a level, a quarter of the cost."""
    samples = memoryview(frame[: len(frame) & ~1]).cast("h")[::4]
    if not samples:
        return True
    return sum(x * x for x in samples) < QUIET_RMS * QUIET_RMS * len(samples)


def make_echo(params: Mapping[str, str]) -> AgentFunction:
    """``echo``: sends back each frame it receives, ``delay`` seconds later (0 to 5 s).

    It keeps pace with the caller. Frames come in and go out at one per 20 ms, so whatever
    waits in the outgoing queue waits for the rest of the call: every moment the session
    hands over two frames at once (its playout woke late) would add 20 ms to the echo for
    good. So when a whole second of frames (``ECHO_BACKLOG_FRAMES``) has each found a frame
    already waiting, one frame is dropped and the backlog is gone: the next quiet one
    (:func:`is_quiet`), since a cut in a pause is not heard and one in a word is; a loud one
    only if no pause comes within two more seconds (``ECHO_QUIET_PATIENCE``).
    """
    delay = _float_param(params, "delay", 0.0, 0.0, 5.0)
    delay_frames = round(delay * SAMPLE_RATE / FRAME_SAMPLES)

    async def echo(
        info: SessionInfo,
        audio_in: trio.MemoryReceiveChannel[bytes],
        audio_out: trio.MemorySendChannel[bytes],
    ) -> None:
        held: deque[bytes] = deque()
        backlogged = 0
        async with audio_out:
            async for received in audio_in:
                held.append(received)
                if len(held) > delay_frames:
                    frame = held.popleft()
                    waiting = audio_out.statistics().current_buffer_used
                    backlogged = backlogged + 1 if waiting else 0
                    if backlogged >= ECHO_BACKLOG_FRAMES and (
                        backlogged >= ECHO_BACKLOG_FRAMES + ECHO_QUIET_PATIENCE or is_quiet(frame)
                    ):
                        backlogged = 0
                        continue
                    await audio_out.send(frame)

    return echo


class ToneTable:
    """One second of a sine as 50 frames, each computed the first time it is asked for.

    Building the whole second in pure Python costs about 20 ms, which on the request path
    (``POST ?agent=tone``) would stall every other call on the event loop for as long. A
    frame costs a fiftieth of that, and the tone agent asks for one at a time, so the work
    is spread over the call's first second in slices no call can notice. Tables are shared
    through :func:`tone_table`, so each (frequency, amplitude) is computed once per process.
    """

    FRAMES = SAMPLE_RATE // FRAME_SAMPLES

    def __init__(self, frequency: float, amplitude: float) -> None:
        self.frequency = frequency
        self.amplitude = amplitude
        self._frames: list[bytes | None] = [None] * self.FRAMES

    @property
    def computed(self) -> int:
        """How many of the frames have been computed so far."""
        return sum(frame is not None for frame in self._frames)

    def frame(self, index: int) -> bytes:
        """Frame ``index`` (taken modulo one second): 20 ms of the sine."""
        index %= self.FRAMES
        frame = self._frames[index]
        if frame is None:
            peak = self.amplitude * 32767
            step = 2 * math.pi * self.frequency / SAMPLE_RATE
            first = index * FRAME_SAMPLES
            samples = array(
                "h", (round(peak * math.sin(step * n)) for n in range(first, first + FRAME_SAMPLES))
            )
            frame = samples.tobytes()  # native order; every platform we run on is little-endian
            self._frames[index] = frame
        return frame


@functools.lru_cache(maxsize=64)
def tone_table(frequency: float, amplitude: float) -> ToneTable:
    """The shared table of a tone; a bounded cache, so callers naming ever new amplitudes
    cost memory for at most 64 tables (about 6 MiB when all are complete)."""
    return ToneTable(frequency, amplitude)


def tone_frames(frequency: float, amplitude: float) -> list[bytes]:
    """One second of a sine as 50 frames; a whole number of cycles per second loops cleanly
    when the frequency is a whole number of hertz."""
    table = tone_table(frequency, amplitude)
    return [table.frame(n) for n in range(ToneTable.FRAMES)]


def make_tone(params: Mapping[str, str]) -> AgentFunction:
    """``tone``: a steady sine of ``frequency`` Hz (default 440) at ``amplitude`` (0-1).

    Only validates its parameters: the samples are computed by the agent, a frame at a
    time, never on the signaling request path (:class:`ToneTable`)."""
    frequency = round(_float_param(params, "frequency", 440.0, 20.0, 20_000.0))
    amplitude = _float_param(params, "amplitude", 0.3, 0.0, 1.0)

    async def tone(
        info: SessionInfo,
        audio_in: trio.MemoryReceiveChannel[bytes],
        audio_out: trio.MemorySendChannel[bytes],
    ) -> None:
        table = tone_table(frequency, amplitude)
        async with audio_out:
            n = 0
            while True:
                await audio_out.send(table.frame(n))
                n += 1

    return tone


#: Built-in agents by name; each factory validates its parameters and raises AgentError.
AGENTS: dict[str, Callable[[Mapping[str, str]], AgentFunction]] = {
    "echo": make_echo,
    "tone": make_tone,
    "bridge": registry.make_bridge,  # conversing agents: voice/agents/
    "talk": registry.make_talk,
}


def create_agent(name: str, params: Mapping[str, str]) -> AgentFunction:
    factory = AGENTS.get(name)
    if factory is None:
        raise AgentError(f"unknown agent {name!r}; available: {', '.join(sorted(AGENTS))}")
    return factory(params)
