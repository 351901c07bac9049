"""Tests of RFC 8285 header extension elements, one-byte and two-byte forms."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.rtp.errors import RtpParseError
from voice.rtp.extensions import (
    ONE_BYTE_PROFILE,
    TWO_BYTE_PROFILE,
    build_elements,
    fits_one_byte,
    is_rfc8285,
    parse_elements,
)


def test_one_byte_form_with_padding_between_elements() -> None:
    # The shape of the RFC 8285 §4.2 example: a 1-byte and a 2-byte element, two padding
    # bytes, a 4-byte element; 12 bytes in all.
    body = bytes([0x10, 0xAA, 0x21, 0xBB, 0xCC, 0x00, 0x00, 0x33, 1, 2, 3, 4])
    assert parse_elements(ONE_BYTE_PROFILE, body) == {
        1: b"\xaa",
        2: b"\xbb\xcc",
        3: b"\x01\x02\x03\x04",
    }


def test_two_byte_form_allows_empty_values() -> None:
    # The shape of the RFC 8285 §4.3 example: a 0-byte element, a 1-byte element, one
    # padding byte, a 4-byte element.
    body = bytes([0x01, 0x00, 0x02, 0x01, 0xAA, 0x00, 0x03, 0x04, 1, 2, 3, 4])
    assert parse_elements(TWO_BYTE_PROFILE, body) == {
        1: b"",
        2: b"\xaa",
        3: b"\x01\x02\x03\x04",
    }


def test_two_byte_application_bits_are_accepted() -> None:
    assert is_rfc8285(0x1000)
    assert is_rfc8285(0x100F)
    assert is_rfc8285(ONE_BYTE_PROFILE)
    assert not is_rfc8285(0x1010)
    assert not is_rfc8285(0xABAC)
    assert parse_elements(0x1007, bytes([5, 1, 9, 0])) == {5: b"\x09"}


@pytest.mark.parametrize("stop", [0xF0, 0xF3, 0x05])
def test_reserved_identifier_ends_the_one_byte_list(stop: int) -> None:
    # Identifier 15 (any length) and identifier 0 with a non-zero length end processing;
    # what came before is kept and the bytes after are not looked at.
    body = bytes([0x10, 0xAA, stop, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
    assert parse_elements(ONE_BYTE_PROFILE, body) == {1: b"\xaa"}


@pytest.mark.parametrize(
    ("profile", "body"),
    [
        (ONE_BYTE_PROFILE, bytes([0x13, 1, 2, 3])),  # 4 bytes announced, 3 there
        (TWO_BYTE_PROFILE, bytes([0, 0, 0, 7])),  # identifier without its length byte
        (TWO_BYTE_PROFILE, bytes([7, 4, 1, 2])),  # 4 bytes announced, 2 there
    ],
)
def test_element_past_the_block_is_a_parse_error(profile: int, body: bytes) -> None:
    with pytest.raises(RtpParseError):
        parse_elements(profile, body)


def test_build_prefers_the_one_byte_form() -> None:
    # Written in the mapping's order, then zeros to the word boundary.
    assert build_elements({2: b"ab", 1: b"\x30"}) == (
        ONE_BYTE_PROFILE,
        bytes([0x21, 0x61, 0x62, 0x10, 0x30, 0, 0, 0]),
    )


@pytest.mark.parametrize(
    "elements",
    [{15: b"x"}, {200: b"x"}, {1: b""}, {1: bytes(17)}],
    ids=["id15", "id200", "empty", "17-bytes"],
)
def test_build_falls_back_to_two_bytes(elements: dict[int, bytes]) -> None:
    assert not fits_one_byte(elements)
    profile, body = build_elements(elements)
    assert profile == TWO_BYTE_PROFILE
    assert len(body) % 4 == 0
    assert parse_elements(profile, body) == elements


def test_build_refuses_what_the_form_cannot_carry() -> None:
    with pytest.raises(ValueError, match="one-byte"):
        build_elements({1: b""}, ONE_BYTE_PROFILE)
    with pytest.raises(ValueError, match="two-byte"):
        build_elements({1: bytes(256)}, TWO_BYTE_PROFILE)
    with pytest.raises(ValueError, match="two-byte"):
        build_elements({0: b"x"}, TWO_BYTE_PROFILE)
    with pytest.raises(ValueError, match="not an RFC 8285"):
        build_elements({1: b"x"}, 0xABCD)
    with pytest.raises(ValueError, match="not an RFC 8285"):
        parse_elements(0xABCD, b"")


elements = st.dictionaries(st.integers(1, 255), st.binary(max_size=40), max_size=8)


@settings(max_examples=500, deadline=None)
@given(elements=elements, appbits=st.integers(0, 15))
def test_round_trip(elements: dict[int, bytes], appbits: int) -> None:
    profile, body = build_elements(elements)
    assert parse_elements(profile, body) == elements
    profile, body = build_elements(elements, TWO_BYTE_PROFILE | appbits)
    assert profile == TWO_BYTE_PROFILE | appbits
    assert parse_elements(profile, body) == elements


@settings(max_examples=2000, deadline=None)
@given(profile=st.sampled_from([ONE_BYTE_PROFILE, 0x1000, 0x1005]), body=st.binary(max_size=64))
def test_garbage_only_raises_parse_error(profile: int, body: bytes) -> None:
    try:
        result = parse_elements(profile, body)
    except RtpParseError:
        return
    assert all(1 <= ident <= 255 for ident in result)
