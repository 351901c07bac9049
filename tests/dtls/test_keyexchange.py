"""ECDHE over X25519, P-256 and P-384 (RFC 8422)."""

from __future__ import annotations

import pytest

from voice.dtls.errors import HandshakeError
from voice.dtls.keyexchange import SUPPORTED_GROUPS, KeyShare
from voice.dtls.registry import AlertDescription, NamedGroup


@pytest.mark.parametrize("group", SUPPORTED_GROUPS)
def test_both_sides_agree(group: NamedGroup) -> None:
    a, b = KeyShare(group), KeyShare(group)
    assert a.exchange(b.public_bytes) == b.exchange(a.public_bytes)
    expected = {NamedGroup.x25519: 32, NamedGroup.secp256r1: 65, NamedGroup.secp384r1: 97}
    assert len(a.public_bytes) == expected[group]


@pytest.mark.parametrize(
    ("group", "bad"),
    [
        (NamedGroup.x25519, b"\x00" * 31),
        (NamedGroup.x25519, b"\x00" * 32),  # a small-order point: all-zero shared secret
        (NamedGroup.secp256r1, b"\x04" + b"\x01" * 64),  # not on the curve
        (NamedGroup.secp256r1, b"\x02" + b"\x01" * 32),  # compressed
        (NamedGroup.secp384r1, b"\x04" + b"\x00" * 10),
    ],
)
def test_invalid_points_are_illegal_parameters(group: NamedGroup, bad: bytes) -> None:
    with pytest.raises(HandshakeError) as info:
        KeyShare(group).exchange(bad)
    assert info.value.alert is AlertDescription.illegal_parameter
