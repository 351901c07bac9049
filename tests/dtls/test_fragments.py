"""Handshake fragmentation and reassembly (RFC 6347 §4.2.2, §4.2.3)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.dtls.errors import DtlsParseError
from voice.dtls.fragments import (
    MAX_MESSAGES_AHEAD,
    Added,
    HandshakeFragment,
    Reassembler,
    encode_whole_message,
    iter_fragments,
    split_message,
)


def pieces(body: bytes, seq: int, size: int) -> list[HandshakeFragment]:
    return [split_message(11, seq, body, off, size) for off in range(0, len(body), size)]


def test_header_layout() -> None:
    frag = HandshakeFragment(1, 300, 2, 100, b"ab")
    assert frag.encode() == bytes.fromhex("01 00012c 0002 000064 000002") + b"ab"
    assert list(iter_fragments(frag.encode() * 2)) == [frag, frag]


def test_whole_message_is_one_fragment_at_offset_zero() -> None:
    assert (
        encode_whole_message(20, 5, b"v" * 12)
        == HandshakeFragment(20, 12, 5, 0, b"v" * 12).encode()
    )


@pytest.mark.parametrize(
    "data",
    [
        b"\x01\x00\x00",
        HandshakeFragment(1, 2, 0, 1, b"abc").encode(),
        b"\x01" + bytes(8) + b"\x00\x00\x05ab",
    ],
)
def test_bad_fragments(data: bytes) -> None:
    with pytest.raises(DtlsParseError):
        list(iter_fragments(data))


@given(st.binary(max_size=100))
@settings(max_examples=2000)
def test_fragment_parsing_raises_only_decode_errors(data: bytes) -> None:
    try:
        for frag in iter_fragments(data):
            assert frag.end <= frag.length
    except DtlsParseError:
        pass


@given(
    body=st.binary(min_size=1, max_size=700),
    size=st.integers(min_value=1, max_value=300),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_reassembly_in_any_order_with_duplicates(body: bytes, size: int, seed: int) -> None:
    rng = random.Random(seed)
    frags = pieces(body, 0, size)
    frags += rng.sample(frags, k=len(frags) // 2)  # duplicates
    rng.shuffle(frags)
    r = Reassembler()
    for i, frag in enumerate(frags):
        assert r.add(frag) in (Added.ACCEPTED, Added.OLD)
        if i < len(frags) - 1 and r.next_seq == 0:
            pass
    assert r.pop() == (11, 0, body)
    assert r.pop() is None


def test_overlapping_fragments() -> None:
    body = bytes(range(200))
    r = Reassembler()
    r.add(HandshakeFragment(11, 200, 0, 0, body[:120]))
    assert r.pop() is None
    r.add(HandshakeFragment(11, 200, 0, 80, body[80:200]))
    assert r.pop() == (11, 0, body)


def test_messages_are_released_in_order() -> None:
    r = Reassembler()
    assert r.add(HandshakeFragment(14, 0, 1, 0, b"")) is Added.ACCEPTED  # ahead: buffered
    assert r.pop() is None
    assert r.add(HandshakeFragment(2, 3, 0, 0, b"abc")) is Added.ACCEPTED
    assert r.pop() == (2, 0, b"abc")
    assert r.pop() == (14, 1, b"")
    assert r.add(HandshakeFragment(2, 3, 0, 0, b"abc")) is Added.OLD


def test_limits() -> None:
    r = Reassembler()
    assert r.add(HandshakeFragment(1, 5, MAX_MESSAGES_AHEAD, 0, b"x")) is Added.TOO_FAR
    assert r.add(HandshakeFragment(11, 2**20, 0, 0, b"x")) is Added.TOO_LONG
    r.add(HandshakeFragment(11, 10, 0, 0, b"x"))
    assert r.add(HandshakeFragment(12, 10, 0, 1, b"x")) is Added.INCONSISTENT
    assert r.add(HandshakeFragment(11, 11, 0, 1, b"x")) is Added.INCONSISTENT
    r.restart_at(4)
    assert r.next_seq == 4 and r.pop() is None
