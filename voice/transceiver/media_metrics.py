"""Playout and sending figures of every call, for ``GET /metrics``.

Each session's jitter buffer and pacer count what they do (frames played, concealed,
dropped late, dropped because too much was held, the hold itself, frames the sender
skipped); this module renders them in the Prometheus text format when /metrics is read, so
that counting stays a plain attribute update on the media path. Two views:

* ``voice_jitter_frames_total{outcome=...}`` and ``voice_pacer_skipped_frames_total``: every
  call so far, ended or not;
* ``voice_session_*{call="N"}``: one series per call in progress, labelled with the call's
  serial number (the session id names the resource that DELETE ends, so it is not shown).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from voice.counters import Counters
from voice.metrics import Metric

if TYPE_CHECKING:
    from voice.transceiver.session import Session

#: What happened to the frames of a call's jitter buffer: the ``outcome`` label.
OUTCOMES = ("played", "concealed", "late", "overflow", "trimmed")


def _outcomes(session: Session) -> dict[str, int]:
    s = session.jitter.stats
    return {
        "played": s.played,
        "concealed": s.concealed,
        "late": s.late,
        "overflow": s.overflow,
        "trimmed": s.trimmed,
    }


class MediaMetrics:
    """Renders the media figures of the calls ``sessions()`` returns, plus those ended."""

    def __init__(self, sessions: Callable[[], Iterable[Session]]) -> None:
        self._sessions = sessions
        self._ended: Counters[str] = Counters(OUTCOMES)
        self._ended_skipped = 0

    def session_ended(self, session: Session) -> None:
        """Folds an ending call's figures into the totals."""
        for outcome, count in _outcomes(session).items():
            self._ended[outcome] += count
        self._ended_skipped += session.pacer_skipped

    def render(self) -> str:
        frames = Metric(
            "voice_jitter_frames_total",
            "Frames out of the jitter buffers of all calls, by outcome: played, concealed "
            "(lost, handed to the decoder), late, overflow and trimmed (dropped to shorten "
            "the hold).",
            "counter",
        )
        skipped = Metric(
            "voice_pacer_skipped_frames_total",
            "Frames the send loops skipped because they were held up longer than a frame.",
            "counter",
        )
        per_frames = Metric(
            "voice_session_jitter_frames", "Jitter-buffer frames of a call in progress.", "gauge"
        )
        per_hold = Metric(
            "voice_session_jitter_hold_seconds",
            "How long a frame of a call in progress waits in its jitter buffer now.",
            "gauge",
        )
        per_skipped = Metric(
            "voice_session_pacer_skipped_frames",
            "Frames the send loop of a call in progress skipped.",
            "gauge",
        )
        for outcome, count in self._ended.items():
            frames.inc(count, outcome=outcome)
        skipped.inc(self._ended_skipped)
        for session in list(self._sessions()):
            call = str(session.serial)
            for outcome, count in _outcomes(session).items():
                frames.inc(count, outcome=outcome)
                per_frames.set(count, call=call, outcome=outcome)
            per_hold.set(round(session.jitter.hold, 4), call=call)
            skipped.inc(session.pacer_skipped)
            per_skipped.set(session.pacer_skipped, call=call)
        lines: list[str] = []
        for metric in (frames, skipped, per_frames, per_hold, per_skipped):
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"
