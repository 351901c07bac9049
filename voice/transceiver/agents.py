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

import math
from array import array
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import trio

from voice.opus import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE


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


def make_echo(params: Mapping[str, str]) -> AgentFunction:
    """``echo``: sends back each frame it receives, ``delay`` seconds later (0 to 5 s).

    It keeps pace with the caller. Frames come in and go out at one per 20 ms, so whatever
    waits in the outgoing queue waits for the rest of the call: every moment the session
    hands over two frames at once (its playout woke late) would add 20 ms to the echo for
    good. So when a whole second of frames (``ECHO_BACKLOG_FRAMES``) has each found a frame
    already waiting, one frame is dropped and the backlog is gone.
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
                    if backlogged >= ECHO_BACKLOG_FRAMES:
                        backlogged = 0
                        continue
                    await audio_out.send(frame)

    return echo


def tone_frames(frequency: float, amplitude: float) -> list[bytes]:
    """One second of a sine as 50 frames; a whole number of cycles per second loops cleanly
    when the frequency is a whole number of hertz."""
    peak = amplitude * 32767
    step = 2 * math.pi * frequency / SAMPLE_RATE
    samples = array("h", (round(peak * math.sin(step * n)) for n in range(SAMPLE_RATE)))
    raw = samples.tobytes()  # native order; every platform we run on is little-endian
    return [raw[i : i + FRAME_BYTES] for i in range(0, len(raw), FRAME_BYTES)]


def make_tone(params: Mapping[str, str]) -> AgentFunction:
    """``tone``: a steady sine of ``frequency`` Hz (default 440) at ``amplitude`` (0-1)."""
    frequency = round(_float_param(params, "frequency", 440.0, 20.0, 20_000.0))
    amplitude = _float_param(params, "amplitude", 0.3, 0.0, 1.0)
    frames = tone_frames(frequency, amplitude)

    async def tone(
        info: SessionInfo,
        audio_in: trio.MemoryReceiveChannel[bytes],
        audio_out: trio.MemorySendChannel[bytes],
    ) -> None:
        async with audio_out:
            n = 0
            while True:
                await audio_out.send(frames[n % len(frames)])
                n += 1

    return tone


#: Built-in agents by name; each factory validates its parameters and raises AgentError.
AGENTS: dict[str, Callable[[Mapping[str, str]], AgentFunction]] = {
    "echo": make_echo,
    "tone": make_tone,
}


def create_agent(name: str, params: Mapping[str, str]) -> AgentFunction:
    factory = AGENTS.get(name)
    if factory is None:
        raise AgentError(f"unknown agent {name!r}; available: {', '.join(sorted(AGENTS))}")
    return factory(params)
