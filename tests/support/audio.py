"""Small pure-Python audio measurements for tests (no numpy)."""

from __future__ import annotations

import math
from array import array


def samples_of(pcm: bytes) -> array[int]:
    """Signed 16-bit little-endian PCM as integers."""
    values = array("h")
    values.frombytes(pcm[: len(pcm) // 2 * 2])
    return values


def rms(pcm: bytes) -> float:
    """Root-mean-square level, 0..1."""
    values = samples_of(pcm)
    if not values:
        return 0.0
    return math.sqrt(sum(v * v for v in values) / len(values)) / 32768


def tone_share(pcm: bytes, frequency: float, rate: int = 48_000) -> float:
    """Fraction of the signal's power at ``frequency`` (Goertzel), 0..1.

    A clean sine at ``frequency`` gives close to 1; silence, noise or another tone near 0.
    """
    values = samples_of(pcm)
    n = len(values)
    if n == 0:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for v in values:
        s0 = v + coeff * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    total = sum(v * v for v in values) * n / 2
    return min(1.0, power / total) if total else 0.0
