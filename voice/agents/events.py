"""What a conversing agent is told, as plain frozen dataclasses.

Every time is on the session's clock (``trio.current_time()`` in a running call, plain
numbers in tests). A detector event carries two times: when the thing happened in the
caller's audio (``at``) and when the detector became sure of it (``decided_at``); the
difference is the detector's own delay, which the benchmarks report.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started speaking at ``at`` (the first voiced frame of the run)."""

    at: float
    decided_at: float


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """The caller's turn ended: the last voiced frame was at ``at``, and ``decided_at`` is
    one hangover later, when the silence had lasted long enough to be an end of turn."""

    at: float
    decided_at: float
    started_at: float


@dataclass(frozen=True, slots=True)
class OutputCleared:
    """The agent's queued audio was dropped: ``reason`` is ``"barge-in"`` (the caller
    started speaking over it) or ``"agent"`` (the agent asked)."""

    at: float
    reason: str
    frames: int


@dataclass(frozen=True, slots=True)
class OutputFinished:
    """The last queued frame of the agent's audio left the server; nothing more is queued."""

    at: float
    frames: int


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over; the agent has a short grace to tidy up (close its backend)."""

    at: float


AgentEvent = SpeechStarted | SpeechStopped | OutputCleared | OutputFinished | CallEnded
