"""Hello extensions: the block, and each extension we understand."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.buffer import Buffer, Writer
from voice.dtls.errors import DtlsParseError
from voice.dtls.extensions import (
    Extension,
    UseSrtp,
    decode_ec_point_formats,
    decode_extended_master_secret,
    decode_renegotiation_info,
    decode_signature_algorithms,
    decode_supported_groups,
    encode_ec_point_formats,
    encode_extension_block,
    encode_renegotiation_info,
    encode_signature_algorithms,
    encode_supported_groups,
    find_extension,
    parse_extension_block,
)
from voice.dtls.registry import ExtensionType


def test_block_round_trip_keeps_unknown_extensions() -> None:
    exts = (
        Extension(0x1234, b"opaque"),
        Extension(ExtensionType.use_srtp, b"\x00\x02\x00\x07\x00"),
    )
    w = Writer()
    encode_extension_block(w, exts)
    assert parse_extension_block(Buffer(w.getvalue())) == exts
    assert find_extension(exts, ExtensionType.use_srtp) == b"\x00\x02\x00\x07\x00"
    assert find_extension(exts, ExtensionType.renegotiation_info) is None


def test_repeated_extension_is_refused() -> None:
    with pytest.raises(DtlsParseError):
        parse_extension_block(Buffer(bytes.fromhex("0008 0017 0000 0017 0000")))


def test_known_extensions_round_trip() -> None:
    assert decode_supported_groups(encode_supported_groups([29, 23])) == (29, 23)
    assert decode_signature_algorithms(encode_signature_algorithms([0x0403])) == (0x0403,)
    assert decode_ec_point_formats(encode_ec_point_formats([0])) == (0,)
    assert decode_renegotiation_info(encode_renegotiation_info()) == b""
    assert UseSrtp.decode(UseSrtp((7, 1), b"mki").encode()) == UseSrtp((7, 1), b"mki")
    # RFC 5764 §4.1.1: a profile list, then an MKI with a one-byte length.
    assert UseSrtp((1, 8, 7)).encode() == bytes.fromhex("0006 0001 0008 0007 00")
    decode_extended_master_secret(b"")


@pytest.mark.parametrize(
    ("decode", "data"),
    [
        (decode_supported_groups, b"\x00\x03\x00\x1d\x00"),  # odd length
        (decode_supported_groups, b"\x00\x00"),  # empty list
        (decode_supported_groups, b"\x00\x02\x00\x1d\x00"),  # trailing byte
        (decode_ec_point_formats, b"\x00"),  # empty
        (decode_ec_point_formats, b"\x02\x00"),  # truncated
        (decode_renegotiation_info, b"\x02a"),
        (decode_renegotiation_info, b"\x00x"),
        (decode_extended_master_secret, b"\x00"),
        (UseSrtp.decode, b"\x00\x02\x00\x07"),  # no MKI length
        (UseSrtp.decode, b"\x00\x00\x00"),  # no profiles
        (UseSrtp.decode, b"\x00\x02\x00\x07\x00\x00"),  # trailing byte
    ],
)
def test_malformed_extensions(decode: object, data: bytes) -> None:
    with pytest.raises(DtlsParseError):
        decode(data)  # type: ignore[operator]


@given(st.binary(max_size=40))
@settings(max_examples=2000)
def test_decoders_raise_only_decode_errors(data: bytes) -> None:
    for decode in (
        decode_supported_groups,
        decode_signature_algorithms,
        decode_ec_point_formats,
        decode_renegotiation_info,
        decode_extended_master_secret,
        UseSrtp.decode,
        lambda d: parse_extension_block(Buffer(d)),
    ):
        with contextlib.suppress(DtlsParseError):
            decode(data)
