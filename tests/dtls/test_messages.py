"""Handshake message bodies: round trips, strictness, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.dtls.errors import DtlsParseError
from voice.dtls.extensions import Extension
from voice.dtls.messages import (
    MESSAGE_CLASSES,
    Certificate,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    ClientKeyExchange,
    Finished,
    HelloRequest,
    HelloVerifyRequest,
    ServerHello,
    ServerHelloDone,
    ServerKeyExchange,
    parse_message,
)

EXAMPLES = [
    HelloRequest(),
    ClientHello(
        0xFEFD, b"r" * 32, b"", b"cookie", (0xC02B, 0xC02C), b"\x00", (Extension(23, b""),)
    ),
    ClientHello(0xFEFD, b"r" * 32, b"s" * 32, b"", (0xC02B,), b"\x00", ()),
    ServerHello(0xFEFD, b"r" * 32, b"", 0xC02B, 0, (Extension(0xFF01, b"\x00"),)),
    HelloVerifyRequest(0xFEFF, b"c" * 32),
    Certificate((b"cert-1", b"cert-2")),
    Certificate(()),
    ServerKeyExchange(29, b"k" * 32, 0x0403, b"sig"),
    CertificateRequest(b"\x40\x01", (0x0403, 0x0804)),
    ServerHelloDone(),
    ClientKeyExchange(b"k" * 65),
    CertificateVerify(0x0403, b"sig"),
    Finished(b"v" * 12),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message: object) -> None:
    encoded = message.encode()  # type: ignore[attr-defined]
    assert parse_message(message.msg_type, encoded) == message  # type: ignore[attr-defined]


@pytest.mark.parametrize("message", EXAMPLES[1:], ids=lambda m: type(m).__name__)
def test_trailing_and_missing_bytes_are_refused(message: object) -> None:
    encoded = message.encode()  # type: ignore[attr-defined]
    msg_type = message.msg_type  # type: ignore[attr-defined]
    if not isinstance(message, Finished | ServerHelloDone | ClientHello | ServerHello):
        with pytest.raises(DtlsParseError):
            parse_message(msg_type, encoded + b"\x00")
    if encoded and not isinstance(message, Finished):
        with pytest.raises(DtlsParseError):
            parse_message(msg_type, encoded[:-1])


def test_client_hello_without_extensions_parses() -> None:
    hello = ClientHello(0xFEFD, b"r" * 32, b"", b"", (0xC02B,), b"\x00", ())
    assert hello.encode()[-1] == 0  # ends with the compression methods: no extension block
    assert ClientHello.parse(hello.encode()).extensions == ()


@pytest.mark.parametrize(
    "body",
    [
        bytes.fromhex("fefd")
        + b"r" * 32
        + b"\x21"
        + b"s" * 33
        + b"\x00"
        + b"\x00\x02\xc0\x2b\x01\x00",
        bytes.fromhex("fefd") + b"r" * 32 + b"\x00\x00" + b"\x00\x00" + b"\x01\x00",  # no suites
        bytes.fromhex("fefd") + b"r" * 32 + b"\x00\x00" + b"\x00\x03\xc0\x2b\x00" + b"\x01\x00",
        bytes.fromhex("fefd") + b"r" * 32 + b"\x00\x00" + b"\x00\x02\xc0\x2b\x00",  # no compression
        # the same extension twice
        bytes.fromhex("fefd")
        + b"r" * 32
        + b"\x00\x00\x00\x02\xc0\x2b\x01\x00"
        + bytes.fromhex("0008 0017 0000 0017 0000"),
    ],
)
def test_bad_client_hellos(body: bytes) -> None:
    with pytest.raises(DtlsParseError):
        ClientHello.parse(body)


def test_key_exchange_must_be_a_named_curve_with_a_point() -> None:
    with pytest.raises(DtlsParseError):
        ServerKeyExchange.parse(bytes.fromhex("01 001d 01 00 0403 0000"))
    with pytest.raises(DtlsParseError):
        ServerKeyExchange.parse(bytes.fromhex("03 001d 00 0403 0000"))
    with pytest.raises(DtlsParseError):
        ClientKeyExchange.parse(b"\x00")


def test_unknown_message_type() -> None:
    with pytest.raises(DtlsParseError):
        parse_message(99, b"")


@given(st.sampled_from(sorted(MESSAGE_CLASSES)), st.binary(max_size=300))
@settings(max_examples=3000)
def test_parsers_raise_only_decode_errors(msg_type: int, body: bytes) -> None:
    try:
        message = parse_message(msg_type, body)
    except DtlsParseError:
        return
    # Whatever parses re-encodes to the same bytes (the parser read every byte exactly once),
    # except that a hello's empty extension block may be dropped; it must still mean the same.
    if isinstance(message, ClientHello | ServerHello):
        assert parse_message(msg_type, message.encode()) == message
    else:
        assert message.encode() == body
