"""Bounds on the size of an offer, checked before it is parsed.

Signaling and media share one event loop, so the CPU time one request may take is media
time taken from every live call. Parsing and analysing an offer is linear in its lines,
but a line-by-line parse in Python is slow enough (a thousand ``m=`` lines cost tens of
milliseconds) that an attacker could starve the calls with a few requests per second.

:func:`check_offer_limits` looks at the raw text with a handful of ``str`` methods that run
in C (``count``, ``splitlines``, ``max``) and refuses an offer whose shape no real caller
sends, before the parser sees it: too many lines, a line too long, too many media sections,
too many formats on one ``m=`` line, too many attributes in one section. Real offers are
far inside the defaults: Chromium's audio+video+data offer has 3 media sections, 23 formats
on its video line, fewer than 120 lines and no line over 220 characters.
"""

from __future__ import annotations

from dataclasses import dataclass

from voice.sdp.errors import SdpParseError


@dataclass(frozen=True, slots=True)
class OfferLimits:
    """The largest offer :func:`check_offer_limits` lets through to the parser."""

    max_lines: int = 1000
    max_line_length: int = 1024
    max_media: int = 16
    #: Payload types (or other formats) on one ``m=`` line.
    max_formats: int = 64
    #: ``a=`` lines in the session part or in any one media section.
    max_attributes: int = 200


def check_offer_limits(text: str, limits: OfferLimits) -> None:
    """Raises :class:`SdpParseError` naming the first bound the offer exceeds.

    Costs a few passes over the text in C plus one short Python step per media section,
    whatever the offer holds; the parser is never reached for an offer that fails.
    """
    lines = text.splitlines()
    if len(lines) > limits.max_lines:
        raise SdpParseError(f"the offer has {len(lines)} lines; at most {limits.max_lines}")
    longest = max(map(len, lines), default=0)
    if longest > limits.max_line_length:
        raise SdpParseError(
            f"the offer has a line of {longest} characters; at most {limits.max_line_length}"
        )
    # Sections start at "m=" lines; the first chunk is the session part. Splitting on the
    # newline before "m=" keeps this a C-level operation however many sections there are.
    body = "\n" + text.replace("\r\n", "\n")
    sections = body.split("\nm=")
    media = len(sections) - 1
    if media > limits.max_media:
        raise SdpParseError(f"the offer has {media} media sections; at most {limits.max_media}")
    for index, section in enumerate(sections):
        attributes = section.count("\na=")
        if attributes > limits.max_attributes:
            where = "the session part" if index == 0 else f"media section {index}"
            raise SdpParseError(
                f"{where} has {attributes} attributes; at most {limits.max_attributes}"
            )
        if index:
            # "<media> <port> <proto> <fmt> ...": formats are the fields after the third.
            formats = len(section.split("\n", 1)[0].split()) - 3
            if formats > limits.max_formats:
                raise SdpParseError(
                    f"media section {index} lists {formats} formats; at most {limits.max_formats}"
                )
