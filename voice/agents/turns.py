"""Turn detection: voice activity, frame by frame, turned into speech started/stopped.

The frame classifier is WebRTC's voice activity detector (the ``webrtcvad-wheels``
package: a few microseconds of C per 20 ms frame, see ``bench/agents.py``), kept as a
library rather than written here. What this module adds is the part a conversation needs
on top of a per-frame yes/no:

* **minimum speech**: a start is declared only after ``min_speech`` seconds of voiced
  frames in a row, so a click or a breath does not interrupt the agent;
* **hangover**: a turn ends only after ``hangover`` seconds without a voiced frame (this
  is also the minimum silence between two turns), so the pause between two words does not
  hand the turn over.

It is plain code, with no Trio and no clock: each frame comes with its playout time, so the
tests feed frames with explicit times, and the detector decides in the call that gets the
deciding frame (no timer of its own: frames arrive every 20 ms whatever the caller does,
concealed ones included). Its decisions come out as every sans-IO object's do
(:mod:`voice.sansio`), through :meth:`TurnDetector.next_event`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from voice.agents.events import SpeechStarted, SpeechStopped
from voice.opus import FRAME_BYTES, FRAME_DURATION, SAMPLE_RATE

Classifier = Callable[[bytes], bool]


@dataclass(frozen=True, slots=True)
class TurnSettings:
    """How eager the detector is; the defaults suit a phone-like conversation."""

    #: webrtcvad's mode, 0 (keeps most audio as speech) to 3 (the most eager to call it noise).
    aggressiveness: int = 2
    #: seconds of voiced frames in a row before a start is declared.
    min_speech: float = 0.06
    #: seconds without a voiced frame before the turn is over (the minimum silence).
    hangover: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.aggressiveness <= 3:
            raise ValueError("aggressiveness is 0 to 3")
        if not 0 < self.min_speech <= 2 or not 0 < self.hangover <= 5:
            raise ValueError("min_speech is in (0, 2] s, hangover in (0, 5] s")


def webrtc_classifier(aggressiveness: int) -> Classifier:
    """WebRTC's detector on one 20 ms frame of 48 kHz audio (a rate it takes as it is)."""
    import webrtcvad

    vad = webrtcvad.Vad(aggressiveness)

    def classify(pcm: bytes) -> bool:
        return bool(vad.is_speech(pcm, SAMPLE_RATE))

    return classify


class TurnDetector:
    """Feeds on a caller's decoded frames; says when a turn starts and when it ends."""

    def __init__(
        self, settings: TurnSettings | None = None, classifier: Classifier | None = None
    ) -> None:
        self.settings = settings or TurnSettings()
        self._classify = classifier or webrtc_classifier(self.settings.aggressiveness)
        # Whole frames, with a little slack so 0.06 s means three 20 ms frames.
        self._start_frames = max(1, round(self.settings.min_speech / FRAME_DURATION))
        self._stop_frames = max(1, round(self.settings.hangover / FRAME_DURATION))
        self.speaking = False
        self._run = 0  # voiced frames in a row (before a start) or unvoiced (during speech)
        self._run_start = 0.0
        self._started_at = 0.0
        self._last_voiced = 0.0
        self.frames = 0
        self.voiced_frames = 0
        self.malformed_frames = 0
        self._events: deque[SpeechStarted | SpeechStopped] = deque()

    def feed(self, pcm: bytes, now: float) -> None:
        """Classifies the frame played out at ``now``; what it decides goes to
        :meth:`next_event`."""
        event = self._decide(pcm, now)
        if event is not None:
            self._events.append(event)

    def next_event(self) -> SpeechStarted | SpeechStopped | None:
        """The oldest decision not yet taken, or None."""
        return self._events.popleft() if self._events else None

    def _decide(self, pcm: bytes, now: float) -> SpeechStarted | SpeechStopped | None:
        self.frames += 1
        if len(pcm) != FRAME_BYTES:
            self.malformed_frames += 1  # not ours to judge: counts as silence
            voiced = False
        else:
            voiced = self._classify(pcm)
        if voiced:
            self.voiced_frames += 1
        if not self.speaking:
            if not voiced:
                self._run = 0
                return None
            if self._run == 0:
                self._run_start = now
            self._run += 1
            if self._run < self._start_frames:
                return None
            self.speaking = True
            self._run = 0
            self._started_at = self._run_start
            self._last_voiced = now
            return SpeechStarted(at=self._run_start, decided_at=now)
        if voiced:
            self._run = 0
            self._last_voiced = now
            return None
        self._run += 1
        if self._run < self._stop_frames:
            return None
        self.speaking = False
        self._run = 0
        return SpeechStopped(at=self._last_voiced, decided_at=now, started_at=self._started_at)
