"""Admission rate limit: one token bucket per source IP, on a fake clock."""

from __future__ import annotations

import pytest

from voice.relay.admission import AdmissionLimiter


def test_burst_then_refill_at_rate() -> None:
    limiter = AdmissionLimiter(rate=2, burst=3)
    assert [limiter.allow("192.0.2.1", 0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("192.0.2.1", 0.4) is False  # 0.8 of a token
    assert limiter.allow("192.0.2.1", 0.5) is True  # one whole token refilled
    assert limiter.allow("192.0.2.1", 0.5) is False
    assert [limiter.allow("192.0.2.1", 100) for _ in range(4)] == [True, True, True, False]


def test_sources_are_independent() -> None:
    limiter = AdmissionLimiter(rate=1, burst=1)
    assert limiter.allow("192.0.2.1", 0)
    assert not limiter.allow("192.0.2.1", 0)
    assert limiter.allow("192.0.2.2", 0)
    assert limiter.allow("2001:db8::1", 0)


def test_bucket_table_is_bounded_and_only_forgets_leniently() -> None:
    limiter = AdmissionLimiter(rate=1, burst=1, max_sources=2)
    assert limiter.allow("192.0.2.1", 0)
    assert limiter.allow("192.0.2.2", 0)
    assert limiter.allow("192.0.2.3", 0)  # pushes out 192.0.2.1
    assert len(limiter) == 2
    assert limiter.allow("192.0.2.1", 0)  # forgotten, so it starts with a full bucket


def test_forget_idle_drops_full_buckets_only() -> None:
    limiter = AdmissionLimiter(rate=1, burst=2)
    limiter.allow("192.0.2.1", 0)
    limiter.allow("192.0.2.2", 1.5)
    assert limiter.forget_idle(1.9) == 0
    assert limiter.forget_idle(2.0) == 1  # 192.0.2.1 has refilled: same as absent
    assert len(limiter) == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        AdmissionLimiter(rate=0)
    with pytest.raises(ValueError):
        AdmissionLimiter(burst=0.5)


def test_global_bucket_bounds_all_sources_together() -> None:
    limiter = AdmissionLimiter(rate=100, burst=100, global_rate=10, global_burst=5)
    assert [limiter.allow_global(100.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert limiter.allow_global(100.15)  # one and a half tokens back
    assert not limiter.allow_global(100.15)
