"""Playout and sending figures of every call, for ``GET /metrics``.

Each session's jitter buffer and pacer count what they do (frames played, concealed,
dropped late, dropped because too much was held, the hold itself, frames the sender
skipped); this module is a ``prometheus_client`` collector that reads them when /metrics is
scraped, so that counting stays a plain attribute update on the media path. Two views:

* ``voice_jitter_frames_total{outcome=...}`` and ``voice_pacer_skipped_frames_total``: every
  call so far, ended or not;
* ``voice_session_*{call="N"}``: one series per call in progress, labelled with the call's
  serial number (the session id names the resource that DELETE ends, so it is not shown).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from voice.counters import Counters

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


class MediaMetrics(Collector):
    """Collects the media figures of the calls ``sessions()`` returns, plus those ended."""

    def __init__(self, sessions: Callable[[], Iterable[Session]]) -> None:
        self._sessions = sessions
        self._ended: Counters[str] = Counters(OUTCOMES)
        self._ended_skipped = 0

    def session_ended(self, session: Session) -> None:
        """Folds an ending call's figures into the totals."""
        for outcome, count in _outcomes(session).items():
            self._ended[outcome] += count
        self._ended_skipped += session.pacer_skipped

    def collect(self) -> Iterator[Metric]:
        """The families, read from the sessions now (called by the registry on a scrape)."""
        frames = CounterMetricFamily(
            "voice_jitter_frames",
            "Frames out of the jitter buffers of all calls, by outcome: played, concealed "
            "(lost, handed to the decoder), late, overflow and trimmed (dropped to shorten "
            "the hold).",
            labels=["outcome"],
        )
        skipped = CounterMetricFamily(
            "voice_pacer_skipped_frames",
            "Frames the send loops skipped because they were held up longer than a frame.",
        )
        per_frames = GaugeMetricFamily(
            "voice_session_jitter_frames",
            "Jitter-buffer frames of a call in progress.",
            labels=["call", "outcome"],
        )
        per_hold = GaugeMetricFamily(
            "voice_session_jitter_hold_seconds",
            "How long a frame of a call in progress waits in its jitter buffer now.",
            labels=["call"],
        )
        per_skipped = GaugeMetricFamily(
            "voice_session_pacer_skipped_frames",
            "Frames the send loop of a call in progress skipped.",
            labels=["call"],
        )
        totals = {outcome: int(count) for outcome, count in self._ended.items()}
        total_skipped = self._ended_skipped
        for session in list(self._sessions()):
            call = str(session.serial)
            for outcome, count in _outcomes(session).items():
                totals[outcome] += count
                per_frames.add_metric([call, outcome], count)
            per_hold.add_metric([call], round(session.jitter.hold, 4))
            total_skipped += session.pacer_skipped
            per_skipped.add_metric([call], session.pacer_skipped)
        for outcome, count in totals.items():
            frames.add_metric([outcome], count)
        skipped.add_metric([], total_skipped)
        yield from (frames, skipped, per_frames, per_hold, per_skipped)

    def describe(self) -> Iterator[Metric]:
        """Nothing: the registry then asks :meth:`collect` only when it is scraped."""
        return iter(())
