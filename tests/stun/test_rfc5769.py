"""Conformance: the published RFC 5769 test vectors, parsed and rebuilt byte for byte."""

from tests.stun import rfc5769 as v
from voice.stun import (
    IceControlled,
    Message,
    MessageClass,
    Method,
    Nonce,
    Priority,
    Realm,
    Software,
    Username,
    XorMappedAddress,
    long_term_key,
    parse_message,
    peek_username,
    saslprep,
    short_term_key,
)

KEY = short_term_key(v.PASSWORD)


def test_sample_request_parses_and_verifies() -> None:
    message = parse_message(v.REQUEST)
    assert message.message_class is MessageClass.REQUEST
    assert message.method is Method.BINDING
    assert message.transaction_id == v.TRANSACTION_ID
    assert message.get(Software) == Software(v.SOFTWARE_CLIENT)
    assert message.get(Priority) == Priority(v.PRIORITY)
    assert message.get(IceControlled) == IceControlled(v.TIE_BREAKER)
    assert message.get(Username) == Username(v.USERNAME)
    assert message.has_fingerprint
    assert message.check_integrity(KEY)
    assert not message.check_integrity(b"VOkJxbRl1RmTxUk/WvJxBu")


def test_sample_request_is_rebuilt_byte_exact() -> None:
    request = Message(
        MessageClass.REQUEST,
        Method.BINDING,
        v.TRANSACTION_ID,
        (
            Software(v.SOFTWARE_CLIENT),
            Priority(v.PRIORITY),
            IceControlled(v.TIE_BREAKER),
            Username(v.USERNAME),
        ),
    )
    assert request.encode(integrity_key=KEY, fingerprint=True, padding=b" ") == v.REQUEST
    # Re-encoding what was parsed keeps the received MESSAGE-INTEGRITY and FINGERPRINT.
    assert parse_message(v.REQUEST).encode(padding=b" ") == v.REQUEST


def test_sample_request_username_through_the_relay_peek() -> None:
    assert peek_username(v.REQUEST) == v.USERNAME.encode()


def test_ipv4_response() -> None:
    message = parse_message(v.RESPONSE_IPV4)
    assert message.message_class is MessageClass.SUCCESS_RESPONSE
    assert message.get(XorMappedAddress) == XorMappedAddress(v.MAPPED_IPV4, v.MAPPED_PORT)
    assert message.check_integrity(KEY)
    rebuilt = Message(
        MessageClass.SUCCESS_RESPONSE,
        Method.BINDING,
        v.TRANSACTION_ID,
        (Software(v.SOFTWARE_SERVER), XorMappedAddress(v.MAPPED_IPV4, v.MAPPED_PORT)),
    )
    assert rebuilt.encode(integrity_key=KEY, fingerprint=True, padding=b" ") == v.RESPONSE_IPV4


def test_ipv6_response() -> None:
    message = parse_message(v.RESPONSE_IPV6)
    assert message.get(XorMappedAddress) == XorMappedAddress(v.MAPPED_IPV6, v.MAPPED_PORT)
    assert message.check_integrity(KEY)
    rebuilt = Message(
        MessageClass.SUCCESS_RESPONSE,
        Method.BINDING,
        v.TRANSACTION_ID,
        (Software(v.SOFTWARE_SERVER), XorMappedAddress(v.MAPPED_IPV6, v.MAPPED_PORT)),
    )
    assert rebuilt.encode(integrity_key=KEY, fingerprint=True, padding=b" ") == v.RESPONSE_IPV6


def test_long_term_request() -> None:
    assert saslprep(v.LONG_TERM_PASSWORD) == "TheMatrIX"
    key = long_term_key(v.LONG_TERM_USERNAME, v.LONG_TERM_REALM, v.LONG_TERM_PASSWORD)
    message = parse_message(v.LONG_TERM_REQUEST)
    assert message.get(Username) == Username(v.LONG_TERM_USERNAME)
    assert message.get(Nonce) == Nonce(v.LONG_TERM_NONCE)
    assert message.get(Realm) == Realm(v.LONG_TERM_REALM)
    assert not message.has_fingerprint
    assert message.check_integrity(key)
    assert not message.check_integrity(
        long_term_key(v.LONG_TERM_USERNAME, v.LONG_TERM_REALM, "TheMatrix")
    )
    rebuilt = Message(
        MessageClass.REQUEST,
        Method.BINDING,
        v.LONG_TERM_TRANSACTION_ID,
        (
            Username(v.LONG_TERM_USERNAME),
            Nonce(v.LONG_TERM_NONCE),
            Realm(v.LONG_TERM_REALM),
        ),
    )
    assert rebuilt.encode(integrity_key=key) == v.LONG_TERM_REQUEST
