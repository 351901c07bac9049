"""The per-call playout and sending figures, as /metrics renders them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.support.server import samples
from voice.metrics import new_registry, render
from voice.rtp.jitterbuffer import JitterBuffer
from voice.transceiver.media_metrics import MediaMetrics


@dataclass
class FakeSession:
    serial: int
    pacer_skipped: int = 0
    jitter: JitterBuffer = field(default_factory=JitterBuffer)


def lines(text: str) -> dict[str, float]:
    """Sample name with its labels (sorted) -> value, as the library's parser reads them."""
    return {
        name
        + (
            "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""
        ): value
        for name, labels, value in samples(text)
    }


def test_calls_in_progress_and_ended_calls_are_both_counted() -> None:
    live, gone = FakeSession(7, pacer_skipped=2), FakeSession(3, pacer_skipped=5)
    for n in range(3):  # three frames played by the live call (after the first, the margin)
        live.jitter.push(n, n * 960, b"x", n * 0.02)
        live.jitter.handle_timeout(n * 0.02 + (n > 0) * live.jitter.min_delay)
        assert live.jitter.next_event() is not None
    gone.jitter.stats.played, gone.jitter.stats.trimmed = 40, 4
    sessions: list[Any] = [live, gone]
    media = MediaMetrics(lambda: sessions)
    media.session_ended(gone)  # ...and one call that ended
    sessions.remove(gone)
    registry = new_registry()
    registry.register(media)
    text = render(registry)
    got = lines(text)
    assert got['voice_jitter_frames_total{outcome="played"}'] == 43
    assert got['voice_jitter_frames_total{outcome="trimmed"}'] == 4
    assert got['voice_jitter_frames_total{outcome="concealed"}'] == 0
    assert got["voice_pacer_skipped_frames_total"] == 7
    assert got['voice_session_jitter_frames{call="7",outcome="played"}'] == 3
    assert got['voice_session_jitter_hold_seconds{call="7"}'] == 0.02  # the margin
    assert got['voice_session_pacer_skipped_frames{call="7"}'] == 2
    assert not any('call="3"' in name for name in got)
    assert text.count("# TYPE voice_jitter_frames_total counter") == 1


def test_an_empty_transceiver_collects_totals_and_no_call() -> None:
    registry = new_registry()
    registry.register(MediaMetrics(lambda: []))
    got = lines(render(registry))
    assert got['voice_jitter_frames_total{outcome="late"}'] == 0
    assert not any("call=" in name for name in got)
