"""Tests of the STUN attributes: value layouts, malformed values, encoding errors."""

import struct

import pytest

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
    parse_message,
)

TID = bytes(range(12))


def _raw(body: bytes) -> bytes:
    return struct.pack("!HHI", 0x0001, len(body), 0x2112A442) + TID + body


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (struct.pack("!HH", 0x0006, 8) + b"abcd", "value overruns the message"),
        (struct.pack("!HH", 0x0006, 5) + b"abcde", "padding overruns the message"),
        (struct.pack("!HH", 0x0024, 2) + b"\x00\x01\x00\x00", "PRIORITY of 2 bytes"),
        (struct.pack("!HH", 0x0025, 4) + b"\x00" * 4, "USE-CANDIDATE with a value"),
        (struct.pack("!HH", 0x8029, 4) + b"\x00" * 4, "ICE-CONTROLLED of 4 bytes"),
        (struct.pack("!HH", 0x802A, 4) + b"\x00" * 4, "ICE-CONTROLLING of 4 bytes"),
        (struct.pack("!HH", 0x0008, 16) + b"\x00" * 16, "MESSAGE-INTEGRITY of 16 bytes"),
        (struct.pack("!HH", 0x001C, 12) + b"\x00" * 12, "MESSAGE-INTEGRITY-SHA256 too short"),
        (struct.pack("!HH", 0x001C, 18) + b"\x00" * 20, "MESSAGE-INTEGRITY-SHA256 not 4n"),
        (struct.pack("!HH", 0x0020, 8) + b"\x00\x03\x00\x00" + b"\x00" * 4, "family 3"),
        (struct.pack("!HH", 0x0020, 8) + b"\x00\x02\x00\x00" + b"\x00" * 4, "v6 of 4 bytes"),
        (struct.pack("!HH", 0x0001, 2) + b"\x00\x01\x00\x00", "address of 2 bytes"),
        (struct.pack("!HH", 0x0009, 4) + b"\x00\x00\x02\x00", "error class 2"),
        (struct.pack("!HH", 0x0009, 4) + b"\x00\x00\x04\x64", "error number 100"),
        (struct.pack("!HH", 0x0009, 2) + b"\x00\x00\x00\x00", "ERROR-CODE of 2 bytes"),
        (struct.pack("!HH", 0x000A, 3) + b"\x00\x01\x00\x00", "odd UNKNOWN-ATTRIBUTES"),
        (struct.pack("!HH", 0x0006, 2) + b"\xff\xfe\x00\x00", "USERNAME not UTF-8"),
        (struct.pack("!HH", 0x0006, 764) + b"a" * 764, "USERNAME of 764 bytes"),
    ],
)
def test_malformed_attributes(body: bytes, why: str) -> None:
    with pytest.raises(StunParseError):
        parse_message(_raw(body))


ALL_ATTRIBUTES: tuple[Attribute, ...] = (
    MappedAddress("192.0.2.1", 3478),
    XorMappedAddress("2001:db8::1", 65535),
    XorMappedAddress("0.0.0.0", 0),
    Username("caf\u00e9:ufrag"),
    Software("voice"),
    ErrorCodeAttribute(487, "Role Conflict"),
    UnknownAttributes((0x0003, 0x7FFF)),
    Priority(0xFFFFFFFF),
    UseCandidate(),
    IceControlled(2**64 - 1),
    IceControlling(0),
    UnknownAttribute(0x7777, b"\x01\x02\x03"),
    UnknownAttribute(0xC001, b""),
)


def test_every_attribute_round_trips() -> None:
    message = Message(MessageClass.ERROR_RESPONSE, Method.BINDING, TID, ALL_ATTRIBUTES)
    data = message.encode(integrity_key=b"k", fingerprint=True)
    parsed = parse_message(data)
    assert parsed.attributes[:-2] == ALL_ATTRIBUTES
    assert isinstance(parsed.attributes[-2], MessageIntegrity)
    assert isinstance(parsed.attributes[-1], Fingerprint)


def test_error_code_layout() -> None:
    value = ErrorCodeAttribute(420, "Unknown").encode_value(TID)
    assert value == b"\x00\x00\x04\x14Unknown"


def test_xor_mapped_address_is_xored() -> None:
    # RFC 5769 §2.2: 192.0.2.1:32853 is sent as port 0xa147 and address e112a643.
    value = XorMappedAddress("192.0.2.1", 32853).encode_value(TID)
    assert value == bytes.fromhex("0001a147e112a643")
    assert MappedAddress("192.0.2.1", 32853).encode_value(TID) == bytes.fromhex("00018055c0000201")


@pytest.mark.parametrize(
    "bad",
    [
        XorMappedAddress("example.org", 1),
        XorMappedAddress("192.0.2.1", 70000),
        ErrorCodeAttribute(200),
        UnknownAttribute(0x7777, b"x" * 70000),
        Username("u" * 509),
    ],
)
def test_unencodable_attributes_are_local_errors(bad: Attribute) -> None:
    with pytest.raises(StunUsageError):
        Message(MessageClass.REQUEST, Method.BINDING, TID, (bad,)).encode()


def test_username_up_to_763_bytes_is_read_but_at_most_508_are_sent() -> None:
    # RFC 8489 §14.3: a sender stays under 509 bytes, a receiver takes RFC 5389's 763.
    for size in (508, 509, 763):
        body = struct.pack("!HH", 0x0006, size) + b"u" * size + b"\x00" * (-size % 4)
        assert parse_message(_raw(body)).get(Username) == Username("u" * size)
    assert Username("u" * 508).encode_value(TID) == b"u" * 508


def test_mapped_address_reserved_byte_is_zero_and_ignored() -> None:
    # RFC 8489 §14.1: the first byte is sent as 0 and ignored on receipt.
    assert MappedAddress("192.0.2.1", 1).encode_value(TID)[0] == 0
    value = b"\xff\x01\x00\x01\xc0\x00\x02\x01"
    body = struct.pack("!HH", 0x0001, len(value)) + value
    assert parse_message(_raw(body)).get(MappedAddress) == MappedAddress("192.0.2.1", 1)


def test_error_code_reserved_bits_are_ignored() -> None:
    # RFC 8489 §14.8: the 21 reserved bits are sent as 0 and ignored by receivers.
    value = b"\xff\xff\xfc\x14Unknown\x00"
    body = struct.pack("!HH", 0x0009, 11) + value
    assert parse_message(_raw(body)).get(ErrorCodeAttribute) == ErrorCodeAttribute(420, "Unknown")
