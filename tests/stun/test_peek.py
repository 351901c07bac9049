"""Tests of the relay's cheap USERNAME peek."""

import struct
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from voice.stun.peek import peek_username

# RFC 5769 §2.1: the sample Binding request with short-term credentials (USERNAME "evtj:h6vY").
RFC5769_REQUEST = bytes.fromhex(
    "00010058 2112a442 b7e7a701 bc34d686 fa87dfae"  # header
    "80220010 5354554e 20746573 7420636c 69656e74"  # SOFTWARE "STUN test client"
    "00240004 6e0001ff"  # PRIORITY
    "80290008 932ff9b1 51263b36"  # ICE-CONTROLLED
    "00060009 6576746a 3a683676 59202020"  # USERNAME "evtj:h6vY", padded with spaces
    "00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2"  # MESSAGE-INTEGRITY
    "80280004 e57a3bcf".replace(" ", "")  # FINGERPRINT
)


def test_rfc5769_request_username() -> None:
    assert peek_username(RFC5769_REQUEST) == b"evtj:h6vY"


def test_wrong_fingerprint_is_refused() -> None:
    tampered = RFC5769_REQUEST[:-1] + bytes([RFC5769_REQUEST[-1] ^ 1])
    assert peek_username(tampered) is None


def test_tampered_body_is_refused_by_the_fingerprint() -> None:
    at = RFC5769_REQUEST.index(b"evtj")
    tampered = RFC5769_REQUEST[:at] + b"x" + RFC5769_REQUEST[at + 1 :]
    assert peek_username(tampered) is None


def _request(attrs: bytes, *, msg_type: int = 1, fingerprint: bool = True) -> bytes:
    length = len(attrs) + (8 if fingerprint else 0)
    msg = struct.pack("!HHI12s", msg_type, length, 0x2112A442, b"\x01" * 12) + attrs
    if fingerprint:
        msg += struct.pack("!HHI", 0x8028, 4, zlib.crc32(msg) ^ 0x5354554E)
    return msg


def test_missing_fingerprint_is_refused() -> None:
    attrs = struct.pack("!HH", 6, 4) + b"ab:c"
    assert peek_username(_request(attrs)) == b"ab:c"
    assert peek_username(_request(attrs, fingerprint=False)) is None


def test_only_binding_requests_are_routed() -> None:
    attrs = struct.pack("!HH", 6, 4) + b"ab:c"
    assert peek_username(_request(attrs, msg_type=0x0101)) is None  # a success response
    assert peek_username(_request(attrs, msg_type=0x0011)) is None  # an indication


def test_request_without_username() -> None:
    assert peek_username(_request(b"")) is None


def test_wrong_length_or_cookie() -> None:
    good = RFC5769_REQUEST
    assert peek_username(good[:-4]) is None
    assert peek_username(good + b"\x00\x00\x00\x00") is None
    assert peek_username(good[:4] + b"\x00\x00\x00\x00" + good[8:]) is None
    assert peek_username(b"") is None


@settings(max_examples=3000)
@given(st.binary(max_size=120), st.integers(0, 127), st.integers(0, 255))
def test_never_raises(garbage: bytes, at: int, byte: int) -> None:
    assert peek_username(garbage) is None or isinstance(peek_username(garbage), bytes)
    mutated = bytearray(RFC5769_REQUEST)
    mutated[at % len(mutated)] = byte
    result = peek_username(bytes(mutated))
    assert result is None or isinstance(result, bytes)
