"""Test signals for the Opus tests: 20 ms PCM frames (48 kHz mono s16le) and measures."""

from __future__ import annotations

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


def energy(pcm: bytes) -> float:
    samples = array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def correlation(a: bytes, b: bytes) -> float:
    x, y = array("h", a), array("h", b)
    dot = sum(p * q for p, q in zip(x, y, strict=True))
    return dot / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))
