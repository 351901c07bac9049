"""Tests of the RTCP report interval (RFC 3550 §6.2, §6.3.1, appendix A.7)."""

import pytest

from voice.rtp.interval import (
    COMPENSATION,
    RTCP_MIN_TIME,
    deterministic_interval,
    reduced_minimum,
    rtcp_interval,
)


def interval(**overrides: object) -> float:
    args: dict[str, object] = {
        "members": 2,
        "senders": 1,
        "rtcp_bandwidth": 400.0,
        "we_sent": True,
        "avg_rtcp_size": 100.0,
        "initial": False,
    }
    args.update(overrides)
    return deterministic_interval(**args)  # type: ignore[arg-type]


def test_two_party_call_uses_the_minimum() -> None:
    # 100 bytes per report, 2 members, 400 B/s: 0.5 s, below the 5 s minimum.
    assert interval() == RTCP_MIN_TIME
    assert interval(initial=True) == RTCP_MIN_TIME / 2


def test_large_session_scales_with_members() -> None:
    # 1000 members, 1 sender, we only receive: receivers share 3/4 of the bandwidth.
    assert interval(members=1000, senders=1, we_sent=False) == pytest.approx(
        100 * 999 / (400 * 0.75)
    )


def test_few_senders_share_a_quarter() -> None:
    # 1 sender among 1000 members: that sender alone uses 1/4 of the RTCP bandwidth.
    assert interval(members=1000, senders=1, we_sent=True, avg_rtcp_size=1000.0) == (
        pytest.approx(max(RTCP_MIN_TIME, 1000 * 1 / (400 * 0.25)))
    )
    # When senders are more than a quarter of members the split does not apply.
    assert interval(members=4, senders=2, avg_rtcp_size=2000.0) == pytest.approx(2000 * 4 / 400)


def test_randomisation_and_compensation() -> None:
    base = interval(avg_rtcp_size=4000.0)
    args: dict[str, object] = {
        "members": 2,
        "senders": 1,
        "rtcp_bandwidth": 400.0,
        "we_sent": True,
        "avg_rtcp_size": 4000.0,
        "initial": False,
    }
    for factor in (0.5, 1.0, 1.5):
        assert rtcp_interval(random_factor=factor, **args) == pytest.approx(  # type: ignore[arg-type]
            base * factor / COMPENSATION
        )
    with pytest.raises(ValueError, match="random_factor"):
        rtcp_interval(random_factor=1.6, **args)  # type: ignore[arg-type]


def test_reduced_minimum() -> None:
    assert reduced_minimum(1_000_000) == pytest.approx(0.36)
    assert reduced_minimum(64_000) == RTCP_MIN_TIME  # 5.6 s would exceed the usual minimum
    assert interval(minimum=0.36) == pytest.approx(0.5)
