"""Tests of the bounded reader and writer every parser is built on."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voice.buffer import Buffer, BufferReadError, Writer


def test_integers_round_trip() -> None:
    w = Writer()
    w.push_uint8(0xAB)
    w.push_uint16(0xBEEF)
    w.push_uint24(0x123456)
    w.push_uint32(0xDEADBEEF)
    w.push_uint48(0x0102030405FF)
    w.push_uint64(2**64 - 1)
    buf = Buffer(w.getvalue())
    assert buf.pull_uint8() == 0xAB
    assert buf.pull_uint16() == 0xBEEF
    assert buf.pull_uint24() == 0x123456
    assert buf.pull_uint32() == 0xDEADBEEF
    assert buf.pull_uint48() == 0x0102030405FF
    assert buf.pull_uint64() == 2**64 - 1
    assert buf.eof()


def test_vector_round_trip() -> None:
    w = Writer()
    with w.vector(2):
        w.push_bytes(b"abc")
        with w.vector(1):
            w.push_uint16(7)
    assert w.getvalue() == b"\x00\x06abc\x02\x00\x07"
    buf = Buffer(w.getvalue())
    inner = buf.sub_buffer(buf.pull_uint16())
    assert inner.pull_bytes(3) == b"abc"
    assert inner.pull_vector(1) == b"\x00\x07"
    assert inner.eof() and buf.eof()


def test_vector_longer_than_data() -> None:
    buf = Buffer(b"\x00\x05abc")
    with pytest.raises(BufferReadError):
        buf.pull_vector(2)


def test_sub_buffer_cannot_read_past_its_end() -> None:
    buf = Buffer(b"\x01\x02\x03\x04")
    inner = buf.sub_buffer(2)
    inner.pull_uint16()
    with pytest.raises(BufferReadError):
        inner.pull_uint8()
    assert buf.pull_uint16() == 0x0304


def test_seek_and_bounds() -> None:
    buf = Buffer(b"\x00\x01\x02", start=1)
    assert buf.pull_uint8() == 1
    buf.seek(3)
    assert buf.eof()
    with pytest.raises(BufferReadError):
        buf.seek(4)
    with pytest.raises(BufferReadError):
        Buffer(b"ab", start=3)


@given(st.binary(max_size=64), st.lists(st.sampled_from([1, 2, 3, 4, 6, 8]), max_size=20))
def test_reads_only_ever_raise_buffer_read_error(data: bytes, sizes: list[int]) -> None:
    buf = Buffer(data)
    try:
        for size in sizes:
            buf.pull_uint(size)
            buf.pull_vector(1)
    except BufferReadError:
        pass
