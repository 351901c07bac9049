"""Tests of the STUN message codec: header, TLV framing, integrity, fingerprint, errors."""

import contextlib
import hmac
import socket
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.stun import rfc5769 as v
from voice.stun import (
    Attribute,
    ErrorCodeAttribute,
    Fingerprint,
    IceControlled,
    IceControlling,
    MappedAddress,
    Message,
    MessageClass,
    MessageIntegrity,
    MessageIntegritySha256,
    Method,
    Priority,
    Software,
    StunParseError,
    StunUsageError,
    UnknownAttribute,
    UnknownAttributes,
    UseCandidate,
    Username,
    XorMappedAddress,
    message_type,
    new_transaction_id,
    parse_message,
    peek_username,
    split_message_type,
)

TID = bytes(range(12))


def _raw(
    msg_type: int, body: bytes, *, cookie: int = 0x2112A442, length: int | None = None
) -> bytes:
    size = len(body) if length is None else length
    return struct.pack("!HHI", msg_type, size, cookie) + TID + body


# --- header (RFC 8489 §5) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "klass", "wire"),
    [
        (Method.BINDING, MessageClass.REQUEST, 0x0001),
        (Method.BINDING, MessageClass.INDICATION, 0x0011),
        (Method.BINDING, MessageClass.SUCCESS_RESPONSE, 0x0101),
        (Method.BINDING, MessageClass.ERROR_RESPONSE, 0x0111),
        (0x003, MessageClass.REQUEST, 0x0003),  # TURN Allocate
        (0xFFF, MessageClass.ERROR_RESPONSE, 0x3FFF),
        (0x080, MessageClass.REQUEST, 0x0200),  # M7 sits above C1
        (0x010, MessageClass.SUCCESS_RESPONSE, 0x0120),  # M4 sits above C0
    ],
)
def test_message_type_interleaves_class_and_method(
    method: int, klass: MessageClass, wire: int
) -> None:
    assert message_type(method, klass) == wire
    assert split_message_type(wire) == (method, klass)


def test_header_layout() -> None:
    data = Message(MessageClass.REQUEST, Method.BINDING, TID).encode()
    assert data == bytes.fromhex("0001 0000 2112a442") + TID
    message = parse_message(data)
    assert message == Message(MessageClass.REQUEST, Method.BINDING, TID)
    assert message.attributes == ()


def test_unknown_method_is_kept_as_a_number() -> None:
    message = parse_message(_raw(0x0003, b""))
    assert message.method == 3
    assert not isinstance(message.method, Method)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (_raw(0x0001, b"")[:19], "truncated header"),
        (_raw(0xC001, b""), "leading bits set"),
        (_raw(0x0001, b"", cookie=0x2112A443), "wrong cookie"),
        (_raw(0x0001, b"\x00" * 4, length=8), "length beyond the datagram"),
        (_raw(0x0001, b"\x00" * 8, length=4), "datagram beyond the length"),
        (_raw(0x0001, b"\x00" * 3, length=3), "length not a multiple of 4"),
    ],
)
def test_malformed_headers(data: bytes, why: str) -> None:
    with pytest.raises(StunParseError):
        parse_message(data)


# --- attribute framing (RFC 8489 §14) ---------------------------------------------------------


def test_padding_is_written_and_skipped() -> None:
    data = Message(MessageClass.REQUEST, Method.BINDING, TID, (Username("abcde"),)).encode()
    assert data[20:] == struct.pack("!HH", 0x0006, 5) + b"abcde\x00\x00\x00"
    # Any padding content is accepted on receipt.
    other = data[:-3] + b"xyz"
    assert parse_message(other).get(Username) == Username("abcde")


def test_unknown_comprehension_required_is_reported() -> None:
    message = Message(
        MessageClass.REQUEST,
        Method.BINDING,
        TID,
        (UnknownAttribute(0x0003, b""), UnknownAttribute(0x8123, b"x"), Username("a:b")),
    )
    parsed = parse_message(message.encode())
    assert parsed.unknown_comprehension_required() == (0x0003,)


def test_duplicate_attributes_keep_the_first() -> None:
    message = Message(
        MessageClass.REQUEST, Method.BINDING, TID, (Username("first"), Username("second"))
    )
    assert parse_message(message.encode()).get(Username) == Username("first")


def test_encode_refuses_bad_arguments() -> None:
    with pytest.raises(StunUsageError):
        Message(MessageClass.REQUEST, Method.BINDING, b"short").encode()
    with pytest.raises(StunUsageError):
        Message(MessageClass.REQUEST, 0x1000, TID).encode()
    parsed = parse_message(v.REQUEST)
    with pytest.raises(StunUsageError):  # it already has MESSAGE-INTEGRITY
        parsed.encode(integrity_key=b"k")
    with pytest.raises(StunUsageError):
        Message(MessageClass.REQUEST, Method.BINDING, TID).encode(
            integrity_sha256_key=b"k", sha256_size=18
        )


# --- MESSAGE-INTEGRITY (RFC 8489 §14.5, §14.6) -----------------------------------------------


def _request(*attrs: Attribute) -> Message:
    return Message(MessageClass.REQUEST, Method.BINDING, TID, (Username("a:b"), *attrs))


def test_message_integrity_covers_the_adjusted_header() -> None:
    data = _request().encode(integrity_key=b"secret")
    # Recompute independently: the HMAC covers everything before the attribute, with the
    # length field counting up to the end of MESSAGE-INTEGRITY.
    at = len(data) - 24
    expected = hmac.new(b"secret", data[:at], "sha1").digest()
    assert data[at + 4 :] == expected
    assert parse_message(data).check_integrity(b"secret")
    assert not parse_message(data).check_integrity(b"secreT")


def test_integrity_survives_a_trailing_fingerprint() -> None:
    data = _request().encode(integrity_key=b"secret", fingerprint=True)
    message = parse_message(data)
    assert message.has_fingerprint
    assert message.check_integrity(b"secret")


def test_tampering_breaks_integrity() -> None:
    data = bytearray(_request(Priority(7)).encode(integrity_key=b"secret"))
    data[-25] ^= 1  # the last byte of the PRIORITY value
    assert not parse_message(bytes(data)).check_integrity(b"secret")


def test_missing_integrity_never_verifies() -> None:
    assert not parse_message(_request().encode()).check_integrity(b"")
    assert not parse_message(_request().encode()).check_integrity_sha256(b"")


def test_attributes_after_integrity_are_ignored() -> None:
    data = _request().encode(integrity_key=b"secret")
    # Append an unauthenticated PRIORITY after MESSAGE-INTEGRITY and fix the length.
    extra = struct.pack("!HHI", 0x0024, 4, 99)
    forged = data[:2] + struct.pack("!H", len(data) - 20 + 8) + data[4:] + extra
    message = parse_message(forged)
    assert message.get(Priority) is None
    assert message.check_integrity(b"secret")


def test_attributes_after_integrity_sha256_alone_are_ignored() -> None:
    # RFC 8489 §9: with MESSAGE-INTEGRITY-SHA256 and no MESSAGE-INTEGRITY, only FINGERPRINT
    # may follow it; anything else there is ignored.
    data = _request().encode(integrity_sha256_key=b"secret")
    extra = struct.pack("!HHI", 0x0024, 4, 99)
    forged = data[:2] + struct.pack("!H", len(data) - 20 + 8) + data[4:] + extra
    message = parse_message(forged)
    assert message.get(Priority) is None
    assert message.check_integrity_sha256(b"secret")


@pytest.mark.parametrize("size", [16, 20, 24, 28, 32])
def test_message_integrity_sha256(size: int) -> None:
    data = _request().encode(integrity_sha256_key=b"secret", sha256_size=size, fingerprint=True)
    message = parse_message(data)
    mac = message.get(MessageIntegritySha256)
    assert mac is not None and len(mac.mac) == size
    at = len(data) - 8 - 4 - size
    covered = data[:2] + struct.pack("!H", at - 20 + 4 + size) + data[4:at]
    assert mac.mac == hmac.new(b"secret", covered, "sha256").digest()[:size]
    assert message.check_integrity_sha256(b"secret")
    assert not message.check_integrity_sha256(b"other")
    assert not message.check_integrity(b"secret")


def test_both_integrities_in_the_order_of_the_rfc() -> None:
    data = _request().encode(integrity_key=b"k", integrity_sha256_key=b"k", fingerprint=True)
    message = parse_message(data)
    kinds = [type(a) for a in message.attributes]
    assert kinds == [Username, MessageIntegrity, MessageIntegritySha256, Fingerprint]
    assert message.check_integrity(b"k")
    assert message.check_integrity_sha256(b"k")


# --- FINGERPRINT (RFC 8489 §14.7) ------------------------------------------------------------


def test_fingerprint_value() -> None:
    data = _request().encode(fingerprint=True)
    crc = zlib.crc32(data[:-8]) ^ 0x5354554E
    assert data[-8:] == struct.pack("!HHI", 0x8028, 4, crc)


def test_wrong_fingerprint_is_a_parse_error() -> None:
    data = bytearray(_request().encode(fingerprint=True))
    data[-1] ^= 0xFF
    with pytest.raises(StunParseError, match="FINGERPRINT"):
        parse_message(bytes(data))


def test_fingerprint_must_be_last() -> None:
    data = _request().encode(fingerprint=True)
    extra = struct.pack("!HHI", 0x8022, 4, 0)
    moved = data[:2] + struct.pack("!H", len(data) - 20 + 8) + data[4:] + extra
    with pytest.raises(StunParseError, match="last"):
        parse_message(moved)


# --- fuzzing: bad input raises StunParseError and nothing else -----------------------------


def _socket_form(address: object) -> str:
    """The text the socket module gives for an address, which is what drivers pass in."""
    text = str(address)
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    return socket.inet_ntop(family, socket.inet_pton(family, text))


attribute_strategy = st.one_of(
    st.builds(
        XorMappedAddress,
        st.ip_addresses().map(_socket_form),
        st.integers(0, 65535),
    ),
    st.builds(MappedAddress, st.ip_addresses(v=4).map(str), st.integers(0, 65535)),
    st.builds(Username, st.text(max_size=40)),
    st.builds(Software, st.text(max_size=40)),
    st.builds(Priority, st.integers(0, 2**32 - 1)),
    st.just(UseCandidate()),
    st.builds(IceControlled, st.integers(0, 2**64 - 1)),
    st.builds(IceControlling, st.integers(0, 2**64 - 1)),
    st.builds(ErrorCodeAttribute, st.integers(300, 699), st.text(max_size=20)),
    st.builds(UnknownAttributes, st.lists(st.integers(0, 0xFFFF), max_size=4).map(tuple)),
    st.builds(
        UnknownAttribute,
        st.integers(0, 0xFFFF).filter(lambda t: t not in _KNOWN_TYPES),
        st.binary(max_size=12),
    ),
)
_KNOWN_TYPES = {
    0x0001,
    0x0006,
    0x0008,
    0x0009,
    0x000A,
    0x0014,
    0x0015,
    0x001C,
    0x0020,
    0x0024,
    0x0025,
    0x8022,
    0x8028,
    0x8029,
    0x802A,
}

message_strategy = st.builds(
    Message,
    st.sampled_from(MessageClass),
    st.sampled_from([Method.BINDING, 0x003, 0xFFF]),
    st.binary(min_size=12, max_size=12),
    st.lists(attribute_strategy, max_size=6).map(tuple),
)


@settings(max_examples=800)
@given(message_strategy, st.booleans(), st.booleans())
def test_round_trip(message: Message, integrity: bool, fingerprint: bool) -> None:
    data = message.encode(integrity_key=b"pw" if integrity else None, fingerprint=fingerprint)
    parsed = parse_message(data)
    n = len(message.attributes)
    assert parsed.attributes[:n] == message.attributes
    assert parsed.message_class == message.message_class
    assert parsed.method == message.method
    assert parsed.transaction_id == message.transaction_id
    assert parsed.check_integrity(b"pw") == integrity
    assert parsed.has_fingerprint == fingerprint


def _parse_or_error(data: bytes) -> None:
    with contextlib.suppress(StunParseError):
        parse_message(data)


@settings(max_examples=2000)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_parse_errors(data: bytes) -> None:
    _parse_or_error(data)
    # Also with a plausible header in front, so the attribute walker gets exercised.
    body = data[: len(data) & ~3]
    _parse_or_error(struct.pack("!HHI", 0x0001, len(body), 0x2112A442) + TID + body)


@settings(max_examples=2000)
@given(
    message_strategy,
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(-8, 8),
)
def test_mutated_messages_raise_only_parse_errors(
    message: Message, edits: list[tuple[int, int]], resize: int
) -> None:
    data = bytearray(message.encode(integrity_key=b"pw", fingerprint=True))
    for at, byte in edits:
        data[at % len(data)] = byte
    if resize > 0:
        data += bytes(resize)
    elif resize < 0:
        del data[resize:]
    _parse_or_error(bytes(data))
    for vector in (v.REQUEST, v.RESPONSE_IPV4, v.RESPONSE_IPV6, v.LONG_TERM_REQUEST):
        mutated = bytearray(vector)
        for at, byte in edits:
            mutated[at % len(mutated)] = byte
        _parse_or_error(bytes(mutated))


# --- the relay's peek agrees with the codec ---------------------------------------------------


@settings(max_examples=500)
@given(st.text(min_size=1, max_size=60), st.lists(attribute_strategy, max_size=3))
def test_peek_finds_the_username_the_codec_wrote(username: str, others: list[Attribute]) -> None:
    attrs = (*others, Username(username))
    request = Message(MessageClass.REQUEST, Method.BINDING, TID, tuple(attrs))
    data = request.encode(integrity_key=b"pw", fingerprint=True)
    first = next(a for a in attrs if isinstance(a, Username))
    assert peek_username(data) == first.value.encode()
    assert peek_username(request.encode(integrity_key=b"pw")) is None  # no fingerprint


def test_new_transaction_ids_are_random_96_bits() -> None:
    ids = {new_transaction_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(t) == 12 for t in ids)
