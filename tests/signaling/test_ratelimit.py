"""Token buckets and client keys, with explicit times."""

from __future__ import annotations

import math

import pytest

from voice.signaling.ratelimit import ClientBuckets, TokenBucket, client_key


def test_bucket_spends_its_burst_then_refills_at_its_rate() -> None:
    bucket = TokenBucket.full(rate=2.0, burst=3.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)  # one token comes back in 1/rate
    assert bucket.take(0.25) == pytest.approx(0.25)
    assert bucket.take(0.5) == 0.0
    # Idle time refills only up to the burst.
    assert [bucket.take(100.0) for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) > 0


def test_a_bucket_made_before_any_time_starts_full() -> None:
    bucket = TokenBucket.full(rate=1.0, burst=2.0, now=-math.inf)
    assert bucket.take(5.0) == 0.0
    assert bucket.take(5.0) == 0.0
    assert bucket.take(5.0) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an address", "not an address"),
        (None, "unknown"),
    ],
)
def test_client_key_groups_an_ipv6_host_by_its_64(address: str | None, key: str) -> None:
    assert client_key(address) == key


def test_client_buckets_are_separate_and_bounded() -> None:
    buckets = ClientBuckets(rate=0.001, burst=1.0, max_clients=2)
    assert buckets.take("a", 0.0) == 0.0
    assert buckets.take("a", 0.0) > 0
    assert buckets.take("b", 0.0) == 0.0
    assert buckets.take("c", 0.0) == 0.0  # evicts "a", the least recently used
    assert len(buckets) == 2
    assert buckets.take("a", 0.0) == 0.0  # forgotten: full again
