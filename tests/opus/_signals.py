"""Test signals for the Opus tests: 20 ms PCM frames (48 kHz mono s16le) and measures."""

from __future__ import annotations

import functools
import math
from array import array

from voice.opus import FRAME_SAMPLES, SAMPLE_RATE


def tone(index: int, frequency: float = 440.0, amplitude: int = 8000) -> bytes:
    """Frame ``index`` of a continuous sine."""
    start = index * FRAME_SAMPLES
    return array(
        "h",
        (
            int(amplitude * math.sin(2 * math.pi * frequency * (start + i) / SAMPLE_RATE))
            for i in range(FRAME_SAMPLES)
        ),
    ).tobytes()


def speech_like(index: int) -> bytes:
    """A voiced, pitch-gliding, amplitude-modulated harmonic signal: enough like speech for
    libopus to pick SILK or Hybrid and to spend bits on FEC."""
    out = array("h")
    for i in range(FRAME_SAMPLES):
        t = (index * FRAME_SAMPLES + i) / SAMPLE_RATE
        pitch = 120 + 30 * math.sin(2 * math.pi * 0.5 * t)
        envelope = 0.6 + 0.4 * math.sin(2 * math.pi * 3 * t)
        voiced = sum(math.sin(2 * math.pi * k * pitch * t) / k for k in range(1, 10))
        out.append(int(3000 * envelope * voiced))
    return out.tobytes()


#: Frames per syllable of :func:`syllables` (180 ms).
SYLLABLE_FRAMES = 9
_PITCHES = (115, 170, 135, 205, 150, 125, 190)  # Hz, one per syllable, in turn
_VOWELS = ((700, 1200), (300, 2300), (500, 900), (400, 2000), (650, 1700))  # (F1, F2) in Hz


@functools.cache
def syllables(index: int) -> bytes:
    """Frame ``index`` of a string of synthetic voiced syllables, 180 ms each, each with its
    own pitch (rising 8 % over the syllable) and vowel (two formants weighting the
    harmonics), a 10 ms attack and a 30 ms release.

    Unlike :func:`speech_like`, the next syllable cannot be guessed from the last one, as in
    speech: concealment, which extrapolates the past, fails on a lost frame, while in-band
    FEC, which carries it, does not. libopus codes it in SILK and Hybrid modes, with LBRR.
    """
    out = array("h")
    length = SYLLABLE_FRAMES * FRAME_SAMPLES
    for i in range(FRAME_SAMPLES):
        syllable, position = divmod(index * FRAME_SAMPLES + i, length)
        pitch = _PITCHES[syllable % len(_PITCHES)]
        f1, f2 = _VOWELS[syllable % len(_VOWELS)]
        t = position / SAMPLE_RATE
        # The phase of a pitch rising linearly from `pitch` to 1.08 * `pitch`.
        phase = 2 * math.pi * pitch * (t + 0.04 * t * t * SAMPLE_RATE / length)
        envelope = min(1.0, position / 480) * min(1.0, (length - position) / 1440)
        voiced = sum(
            _formants(k * pitch, f1, f2) * math.sin(k * phase) for k in range(1, 4000 // pitch)
        )
        out.append(round(2500 * envelope * voiced))
    return out.tobytes()


@functools.cache
def _formants(frequency: float, f1: int, f2: int) -> float:
    """The weight of a harmonic at ``frequency`` under a vowel's two formant peaks."""
    return (
        math.exp(-(((frequency - f1) / 250) ** 2))
        + 0.6 * math.exp(-(((frequency - f2) / 300) ** 2))
        + 0.05
    )


def energy(pcm: bytes) -> float:
    samples = array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def correlation(a: bytes, b: bytes) -> float:
    x, y = array("h", a), array("h", b)
    dot = sum(p * q for p, q in zip(x, y, strict=True))
    return dot / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))


def snr(decoded: bytes, reference: bytes) -> float:
    """Signal-to-noise ratio in dB of ``decoded`` against ``reference`` (same length)."""
    x, y = array("h", decoded), array("h", reference)
    noise = sum((p - q) ** 2 for p, q in zip(x, y, strict=True))
    return 10 * math.log10(sum(q * q for q in y) / max(noise, 1))
