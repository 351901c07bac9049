"""Tests of voice.sdp.description: SDP syntax (RFC 8866 §5), lines kept, serialize."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.errors import LocalProtocolError
from voice.sdp import SdpError, SdpParseError, parse
from voice.sdp.description import Connection, Line, MediaLine, Origin

DATA = Path(__file__).parents[1] / "data"
OFFERS = sorted(p.name for p in DATA.glob("*.sdp"))


def load(name: str) -> str:
    return (DATA / name).read_bytes().decode()


CHROMIUM = load("chromium-156-audio-offer.sdp")

# The smallest description the parser accepts, and one with a media description.
MINIMAL = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
WITH_AUDIO = MINIMAL + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtcp-mux\r\n"


@pytest.mark.parametrize("name", OFFERS)
def test_real_offers_round_trip_line_for_line(name: str) -> None:
    text = load(name)
    description = parse(text)
    assert description.serialize().split("\r\n") == text.split("\r\n")
    assert parse(description.serialize()) == description
    assert str(description) == description.serialize()


def test_lf_line_ends_are_accepted() -> None:
    lf = CHROMIUM.replace("\r\n", "\n")
    assert parse(lf) == parse(CHROMIUM)
    # Serializing always writes CRLF (RFC 8866 §5), whatever the input used.
    assert parse(lf).serialize() == CHROMIUM


def test_trailing_empty_lines_are_ignored() -> None:
    assert parse(MINIMAL + "\r\n\n\r\n") == parse(MINIMAL)
    assert parse(MINIMAL.rstrip("\r\n")) == parse(MINIMAL)


def test_typed_views_of_the_chromium_offer() -> None:
    offer = parse(CHROMIUM)
    assert offer.origin == Origin("-", 3541565968262640195, 2, "IN", "IP4", "127.0.0.1")
    assert offer.session_name == "-"
    assert offer.connection is None
    assert [a.name for a in offer.attributes()] == ["group", "extmap-allow-mixed", "msid-semantic"]
    (audio,) = offer.media
    assert audio.media_line == MediaLine(
        "audio", 40384, None, "UDP/TLS/RTP/SAVPF", ("111", "63", "9", "0", "8", "13", "110", "126")
    )
    assert (audio.media, audio.port, audio.proto) == ("audio", 40384, "UDP/TLS/RTP/SAVPF")
    assert audio.connection == Connection("IN", "IP4", "127.0.0.1")
    assert audio.attribute("ice-ufrag") == "Gv5t"
    assert audio.attribute("rtcp-mux") == ""  # a flag attribute is present with no value
    assert audio.attribute("no-such-thing") is None
    assert audio.has_attribute("rtcp-rsize")
    assert len(audio.attributes("candidate")) == 8
    assert audio.attributes("rtcp")[0].value == "9 IN IP4 0.0.0.0"
    assert audio.first("c") == Line("c", "IN IP4 127.0.0.1")


def test_line_numbers_follow_the_text() -> None:
    offer = parse(CHROMIUM)
    numbers = [line.number for line in offer.all_lines()]
    assert numbers == list(range(1, len(CHROMIUM.split("\r\n"))))


def test_unknown_attributes_and_optional_lines_are_kept_in_order() -> None:
    text = (
        "v=0\r\no=alice 2890844526 2890842807 IN IP4 192.0.2.1\r\ns=Call\r\n"
        "i=a test call\r\nu=https://example.com/call\r\ne=alice@example.com\r\n"
        "p=+1 555 0100\r\nc=IN IP4 192.0.2.1\r\nb=AS:64\r\nt=2873397496 2873404696\r\n"
        "r=7d 1h 0 25h\r\nt=0 0\r\nz=2882844526 -1h\r\nk=prompt\r\n"
        "a=x-vendor-thing:42\r\na=flag-we-do-not-know\r\n"
        "m=audio 49170/2 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\n"
        "b=TIAS:64000\r\nk=prompt\r\na=x-unknown:1 2 3\r\n"
    )
    description = parse(text)
    assert description.serialize() == text
    assert description.media[0].media_line.port_count == 2
    assert description.attribute("x-vendor-thing") == "42"
    assert description.media[0].attribute("x-unknown") == "1 2 3"


def test_a_second_media_description_starts_at_each_m_line() -> None:
    text = WITH_AUDIO + "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n"
    description = parse(text)
    assert [m.media for m in description.media] == ["audio", "video"]
    assert description.media[1].attribute("mid") == "1"
    assert description.media[0].attribute("mid") is None


def test_parse_error_is_typed() -> None:
    with pytest.raises(SdpParseError) as info:
        parse(MINIMAL + "m=audio abc UDP/TLS/RTP/SAVPF 111\r\n")
    assert isinstance(info.value, SdpError)
    assert isinstance(info.value, ValueError)
    assert info.value.line == 5
    assert str(info.value) == "line 5: m= port 'abc' is not a number"


def test_parse_wants_text() -> None:
    with pytest.raises(LocalProtocolError):  # our bug, never a 400 for the peer
        parse(CHROMIUM.encode())  # type: ignore[arg-type]


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


BAD = [
    ("", None, "empty"),
    ("\r\n\r\n", None, "empty"),
    ("o=- 1 1 IN IP4 0.0.0.0\r\nv=0\r\n", 1, "expected v="),
    (_replace(MINIMAL, "v=0", "v=1"), 1, "only v=0"),
    ("v=0\r\ns=-\r\nt=0 0\r\n", 2, "expected o="),
    ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nt=0 0\r\n", 3, "expected s="),
    ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n", None, "no s= line"),
    ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n", None, "no t= line"),
    ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\n", 4, "no t= line"),
    (_replace(MINIMAL, "o=- 1 1 IN IP4 0.0.0.0", "o=- 1 1 IN IP4"), 2, "six fields"),
    (_replace(MINIMAL, "o=- 1 1", "o=- x 1"), 2, "session id 'x' is not a number"),
    (_replace(MINIMAL, "o=- 1 1", "o=- 1 ٣"), 2, "is not a number"),  # not ASCII digits
    (_replace(MINIMAL, "o=- 1 1", "o=-  1 1"), 2, "single spaces"),
    (_replace(MINIMAL, "s=-", "s="), 3, "empty value"),
    (_replace(MINIMAL, "t=0 0", "t=0"), 4, "t= needs"),
    (_replace(MINIMAL, "t=0 0", "t=now 0"), 4, "start time 'now'"),
    (_replace(WITH_AUDIO, "audio 9", "audio abc"), 5, "port 'abc' is not a number"),
    (_replace(WITH_AUDIO, "audio 9", "audio 70000"), 5, "larger than 65535"),
    (_replace(WITH_AUDIO, "audio 9", "audio -1"), 5, "not a number"),
    (_replace(WITH_AUDIO, "audio 9", "audio 9/0"), 5, "at least 1"),
    (_replace(WITH_AUDIO, " 111\r\n", "\r\n"), 5, "at least one format"),
    (_replace(WITH_AUDIO, " 111\r\n", "  111\r\n"), 5, "single spaces"),
    (_replace(WITH_AUDIO, "UDP/TLS/RTP/SAVPF", "UDP//SAVPF"), 5, "proto"),
    (_replace(WITH_AUDIO, "m=audio", "m=au(dio"), 5, "media type"),
    (_replace(WITH_AUDIO, "c=IN IP4 0.0.0.0", "c=IN IP4"), 6, "c= needs three fields"),
    (_replace(WITH_AUDIO, "a=rtcp-mux", "a=rtcp mux"), 7, "not a token"),
    (_replace(WITH_AUDIO, "a=rtcp-mux", "a=:x"), 7, "not a token"),
    (_replace(WITH_AUDIO, "a=rtcp-mux", "a= rtcp-mux"), 7, "not a token"),
    (_replace(WITH_AUDIO, "a=rtcp-mux", "a =rtcp-mux"), 7, "<letter>=<value>"),
    (_replace(WITH_AUDIO, "a=rtcp-mux", "A=rtcp-mux"), 7, "<letter>=<value>"),
    (_replace(WITH_AUDIO, "a=rtcp-mux", "a=rtcp\x00mux"), 7, "NUL"),
    (_replace(WITH_AUDIO, "a=rtcp-mux", "a=rtcp\rmux"), 7, "CR"),
    (_replace(WITH_AUDIO, "a=rtcp-mux", "x=rtcp-mux"), 7, "unknown line type x="),
    (_replace(WITH_AUDIO, "a=rtcp-mux", "t=0 0"), 7, "not allowed at a media description"),
    (_replace(WITH_AUDIO, "a=rtcp-mux", "b=AS:x"), 7, "bandwidth 'x'"),
    (_replace(WITH_AUDIO, "a=rtcp-mux", "b=AS"), 7, "b= needs"),
    (_replace(WITH_AUDIO, "a=rtcp-mux", "c=IN IP4 0.0.0.0\r\ni=late"), 8, "i= comes after c="),
    (_replace(MINIMAL, "t=0 0", "t=0 0\r\nc=IN IP4 0.0.0.0"), 5, "c= comes after t="),
    (_replace(MINIMAL, "s=-", "s=-\r\ns=again"), 4, "a second s= line"),
    (_replace(MINIMAL, "t=0 0", "r=7d 1h 0\r\nt=0 0"), 4, "r= must follow a t= line"),
    (_replace(MINIMAL, "t=0 0", "\r\nt=0 0"), 4, "empty line"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), BAD)
def test_structural_errors_name_the_line_and_the_problem(
    text: str, line: int | None, fragment: str
) -> None:
    with pytest.raises(SdpParseError) as info:
        parse(text)
    assert info.value.line == line
    assert fragment in str(info.value)


# -- fuzzing: whatever the text, parse returns or raises SdpParseError, nothing else --------

SDP_CHARS = st.sampled_from(list("vosiuepcbtrzkmaxVA=: /.-_0123456789\r\n\t\x00٣é"))


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=300) | st.text(SDP_CHARS, max_size=300))
def test_random_text_raises_only_sdp_parse_error(text: str) -> None:
    try:
        description = parse(text)
    except SdpParseError:
        return
    assert parse(description.serialize()) == description


@st.composite
def mutated_offer(draw: st.DrawFn) -> str:
    """A real offer with a few of its lines deleted, duplicated, swapped or scribbled on."""
    lines = load(draw(st.sampled_from(OFFERS))).split("\r\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "scribble", "cut"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(draw(st.integers(0, len(lines))), lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "scribble":
            at = draw(st.integers(0, len(lines[i])))
            junk = draw(st.text(SDP_CHARS, max_size=6))
            lines[i] = lines[i][:at] + junk + lines[i][at + draw(st.integers(0, 3)) :]
        else:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        if not lines:
            lines = [""]
    return "\r\n".join(lines)


@settings(max_examples=1500, deadline=None)
@given(mutated_offer())
def test_mutated_real_offers_raise_only_sdp_parse_error(text: str) -> None:
    try:
        description = parse(text)
    except SdpParseError as exc:
        assert exc.line is None or exc.line >= 1
        return
    assert parse(description.serialize()) == description
