"""The turn detector, fed frames with explicit times: no sockets, no clock."""

from __future__ import annotations

import pytest

from tests.conftest import require_program
from voice.agents.events import SpeechStarted, SpeechStopped
from voice.agents.speech import synthesize
from voice.agents.turns import TurnDetector, TurnSettings
from voice.opus import FRAME_BYTES, SILENCE
from voice.sansio import drain_events

VOICED = b"\x01" * FRAME_BYTES  # the fake classifier below calls any non-zero frame speech


def fake(pcm: bytes) -> bool:
    return any(pcm)


def run(detector: TurnDetector, frames: list[bytes], start: float = 0.0) -> list[object]:
    events: list[object] = []
    for i, frame in enumerate(frames):
        detector.feed(frame, start + 0.02 * i)
        events.extend(drain_events(detector))
    return events


def test_start_needs_min_speech_of_voiced_frames_in_a_row() -> None:
    detector = TurnDetector(TurnSettings(min_speech=0.06, hangover=0.2), classifier=fake)
    # Two voiced frames (a click) then silence: no turn. Then three in a row: a turn.
    frames = [SILENCE, VOICED, VOICED, SILENCE, VOICED, VOICED, VOICED, VOICED]
    events = run(detector, frames)
    assert events == [SpeechStarted(at=pytest.approx(0.08), decided_at=pytest.approx(0.12))]
    assert detector.speaking


def test_stop_after_hangover_of_silence_and_short_gaps_are_bridged() -> None:
    detector = TurnDetector(TurnSettings(min_speech=0.04, hangover=0.1), classifier=fake)
    frames = [VOICED] * 3 + [SILENCE] * 4 + [VOICED] + [SILENCE] * 5 + [SILENCE] * 3
    events = run(detector, frames)
    assert len(events) == 2
    stopped = events[1]
    assert isinstance(stopped, SpeechStopped)
    assert stopped.at == pytest.approx(0.14)  # the voiced frame after the 80 ms gap
    assert stopped.decided_at == pytest.approx(0.24)  # five silent frames later
    assert stopped.started_at == pytest.approx(0.0)
    assert not detector.speaking


def test_a_frame_of_the_wrong_size_is_counted_as_silence() -> None:
    detector = TurnDetector(TurnSettings(min_speech=0.04), classifier=fake)
    assert run(detector, [VOICED, b"\x01" * 10, VOICED]) == []
    assert detector.malformed_frames == 1


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="aggressiveness"):
        TurnSettings(aggressiveness=4)
    with pytest.raises(ValueError):
        TurnSettings(hangover=0)


def test_webrtcvad_finds_one_turn_in_synthesized_speech() -> None:
    require_program("espeak-ng")
    speech = synthesize("hello, can you hear me")
    frames = [SILENCE] * 10
    frames += [
        speech[i : i + FRAME_BYTES]
        for i in range(0, len(speech) // FRAME_BYTES * FRAME_BYTES, FRAME_BYTES)
    ]
    frames += [SILENCE] * 40
    detector = TurnDetector()
    events = run(detector, frames)
    assert [type(e) for e in events] == [SpeechStarted, SpeechStopped]
    started, stopped = events
    assert isinstance(started, SpeechStarted) and isinstance(stopped, SpeechStopped)
    assert 0.2 <= started.at < 0.5  # speech begins after the 0.2 s of leading silence
    assert stopped.decided_at - stopped.at == pytest.approx(0.5, abs=0.03)
    assert detector.frames == len(frames)


def test_webrtcvad_hears_no_speech_in_silence() -> None:
    detector = TurnDetector()
    assert run(detector, [SILENCE] * 100) == []
    assert detector.voiced_frames == 0
