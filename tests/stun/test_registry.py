"""Tests that the registry enums carry the IANA numbers (RFC 8489 §18, RFC 8445 §16.1)."""

from voice.stun import AttributeType, ErrorCode, MessageClass, Method


def test_registry_values() -> None:
    assert Method.BINDING == 0x001
    assert [int(c) for c in MessageClass] == [0, 1, 2, 3]
    assert AttributeType.MAPPED_ADDRESS == 0x0001
    assert AttributeType.USERNAME == 0x0006
    assert AttributeType.MESSAGE_INTEGRITY == 0x0008
    assert AttributeType.ERROR_CODE == 0x0009
    assert AttributeType.UNKNOWN_ATTRIBUTES == 0x000A
    assert AttributeType.MESSAGE_INTEGRITY_SHA256 == 0x001C
    assert AttributeType.XOR_MAPPED_ADDRESS == 0x0020
    assert AttributeType.SOFTWARE == 0x8022
    assert AttributeType.FINGERPRINT == 0x8028
    # RFC 8445 §16.1
    assert AttributeType.PRIORITY == 0x0024
    assert AttributeType.USE_CANDIDATE == 0x0025
    assert AttributeType.ICE_CONTROLLED == 0x8029
    assert AttributeType.ICE_CONTROLLING == 0x802A
    assert ErrorCode.ROLE_CONFLICT == 487


def test_error_codes_have_reasons() -> None:
    assert all(code.reason for code in ErrorCode)
    assert ErrorCode.UNAUTHENTICATED.reason == "Unauthenticated"


def test_reason_phrases_are_short_utf8() -> None:
    # RFC 8489 §14.8: a reason phrase is UTF-8 of fewer than 128 characters.
    for code in ErrorCode:
        assert len(code.reason) < 128
        code.reason.encode("utf-8")
