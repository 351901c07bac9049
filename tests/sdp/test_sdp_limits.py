"""Offer shape bounds, checked on the raw text before parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice.sdp import OfferLimits, SdpParseError, check_offer_limits, parse

DATA = Path(__file__).parents[1] / "data"
LIMITS = OfferLimits()


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.sdp")))
def test_every_real_offer_is_inside_the_default_limits(name: str) -> None:
    check_offer_limits((DATA / name).read_text(), LIMITS)


def offer() -> str:
    return (DATA / "chromium-156-audio-video-data-offer.sdp").read_text()


@pytest.mark.parametrize(
    ("limits", "says"),
    [
        (OfferLimits(max_lines=50), "lines; at most 50"),
        (OfferLimits(max_line_length=100), "characters; at most 100"),
        (OfferLimits(max_media=2), "3 media sections; at most 2"),
        (OfferLimits(max_formats=20), "media section 2 lists 23 formats; at most 20"),
        (OfferLimits(max_attributes=10), "has"),
    ],
)
def test_each_bound_refuses_with_a_reason(limits: OfferLimits, says: str) -> None:
    with pytest.raises(SdpParseError, match=says):
        check_offer_limits(offer(), limits)


def test_attributes_are_counted_per_section_and_in_the_session_part() -> None:
    text = offer()
    sections = text.split("m=")
    session_attributes = sections[0].count("\na=")
    with pytest.raises(SdpParseError, match="the session part"):
        check_offer_limits(text, OfferLimits(max_attributes=session_attributes - 1))
    busiest = max(s.count("\na=") for s in sections[1:])
    check_offer_limits(text, OfferLimits(max_attributes=max(busiest, session_attributes)))
    with pytest.raises(SdpParseError, match="media section"):
        check_offer_limits(text, OfferLimits(max_attributes=busiest - 1))


def test_line_endings_do_not_change_the_count() -> None:
    text = offer()
    assert parse(text)
    lf = text.replace("\r\n", "\n")
    for limits in (OfferLimits(max_media=2), OfferLimits(max_formats=20)):
        with pytest.raises(SdpParseError):
            check_offer_limits(lf, limits)
