"""Routing tokens (VOICE-TOKEN): vectors, tampering, rotation, expiry, hostile input."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.errors import ConfigError
from voice.relay.token import (
    ISSUED_EPOCH,
    RoutingTarget,
    TokenKey,
    TokenMinter,
    TokenRejection,
    TokenVerifier,
    parse_keys,
)

KEY_1 = TokenKey(1, bytes(range(32)))
KEY_0 = TokenKey(0, b"voice test key 0, not secret!!!!")
NOW = 1_735_689_600.0  # 2025-01-01T00:00:00Z

#: (key, cluster, transceiver, now, random, token): the vectors of VOICE-TOKEN §12.
VECTORS = [
    (KEY_1, 7, 42, 1_735_689_600.0, "0011223344556677", "BQAHACoICsAAESIzRFVmd3DS3sne5Rih"),
    (KEY_0, 0, 1, 1_704_067_200.0, "0000000000000000", "BAAAAAEAAAAAAAAAAAAAAPtnbnakECkS"),
    (KEY_1, 65535, 65535, 1_735_689_659.9, "ffffffffffffffff", "Bf////8ICsD//////////4n56x/chv0j"),
]


def minter(key: TokenKey = KEY_1, cluster: int = 7, transceiver: int = 42) -> TokenMinter:
    return TokenMinter(key, cluster, transceiver)


@pytest.mark.parametrize(("key", "cluster", "transceiver", "now", "random", "expected"), VECTORS)
def test_vectors(
    key: TokenKey, cluster: int, transceiver: int, now: float, random: str, expected: str
) -> None:
    fixed = bytes.fromhex(random)
    token = TokenMinter(key, cluster, transceiver, random=lambda n: fixed).mint(now)
    assert token == expected
    assert TokenVerifier([KEY_0, KEY_1]).verify(token, now) == RoutingTarget(cluster, transceiver)


def test_vectors_follow_the_layout_and_mac_input() -> None:
    # Recomputes the first vector from the prose of VOICE-TOKEN §3 and §4, field by field.
    raw = binascii.a2b_base64(VECTORS[0][5])
    assert raw[0] == 1 << 2 | 1  # version 1, key id 1
    assert int.from_bytes(raw[1:3], "big") == 7
    assert int.from_bytes(raw[3:5], "big") == 42
    assert int.from_bytes(raw[5:8], "big") == (1_735_689_600 - ISSUED_EPOCH) // 60
    assert raw[8:16].hex() == "0011223344556677"
    mac = hmac.new(KEY_1.secret, b"voice-token" + raw[:16], hashlib.sha256).digest()[:8]
    assert raw[16:] == mac


def test_spec_lists_the_same_vectors() -> None:
    spec = (Path(__file__).parents[2] / "spec" / "voice-token.md").read_text(encoding="utf-8")
    for *_, expected in VECTORS:
        assert expected in spec


def test_tokens_are_ice_ufrags() -> None:
    # RFC 8839 §5.4: ufrag characters are ALPHA, DIGIT, "+" and "/", 4 to 256 of them, and
    # at least 24 bits of randomness.
    tokens = [minter().mint(NOW) for _ in range(200)]
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9+/]{4,256}", token)
        assert len(token) == 32
    assert len(set(tokens)) == len(tokens)
    random_parts = {binascii.a2b_base64(t)[8:16] for t in tokens}
    assert len(random_parts) == len(tokens)


def test_first_character_names_the_version() -> None:
    token = minter().mint(NOW)
    assert token[0] == "B"
    for other in "ACDz09+/":
        assert TokenVerifier([KEY_1]).check(other + token[1:], NOW) is (
            TokenRejection.UNKNOWN_VERSION
        )


def test_every_single_character_change_is_rejected() -> None:
    token = minter().mint(NOW)
    verifier = TokenVerifier([KEY_0, KEY_1])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for position in range(len(token)):
        for char in alphabet:
            if char != token[position]:
                tampered = token[:position] + char + token[position + 1 :]
                assert verifier.verify(tampered, NOW) is None, (position, char)


def test_tampered_mac_is_bad_mac() -> None:
    token = minter().mint(NOW)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert TokenVerifier([KEY_1]).check(tampered, NOW) is TokenRejection.BAD_MAC


def test_mac_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr("hmac.compare_digest", spy)
    assert TokenVerifier([KEY_1]).verify(minter().mint(NOW), NOW) is not None
    assert len(calls) == 1 and len(calls[0][0]) == 8


def test_rotation_accepts_current_and_previous_key() -> None:
    old, new = TokenKey(0, b"o" * 16), TokenKey(1, b"n" * 16)
    old_token = minter(old).mint(NOW)
    new_token = minter(new).mint(NOW)
    during = TokenVerifier([new, old])
    assert during.verify(old_token, NOW) == RoutingTarget(7, 42)
    assert during.verify(new_token, NOW) == RoutingTarget(7, 42)
    after = TokenVerifier([new])
    assert after.check(old_token, NOW) is TokenRejection.UNKNOWN_KEY
    # Key ids count modulo 4: once id 0 is reused for a new secret, old id-0 tokens fail.
    reused = TokenVerifier([new, TokenKey(0, b"r" * 16)])
    assert reused.check(old_token, NOW) is TokenRejection.BAD_MAC


def test_verifier_refuses_two_secrets_under_one_id() -> None:
    with pytest.raises(ValueError, match="key id"):
        TokenVerifier([TokenKey(0, b"a" * 16), TokenKey(0, b"b" * 16)])
    with pytest.raises(ValueError):
        TokenVerifier([])


def test_expiry() -> None:
    token = minter().mint(NOW)  # NOW is on a minute boundary
    verifier = TokenVerifier([KEY_1], max_age=3600, max_skew=300)
    assert verifier.check(token, NOW + 3600) == RoutingTarget(7, 42)
    assert verifier.check(token, NOW + 3600.5) is TokenRejection.EXPIRED
    assert verifier.check(token, NOW - 300) == RoutingTarget(7, 42)
    assert verifier.check(token, NOW - 300.5) is TokenRejection.FROM_THE_FUTURE
    forever = TokenVerifier([KEY_1], max_age=None)
    assert forever.verify(token, NOW + 10 * 365 * 86400) == RoutingTarget(7, 42)


def test_issued_minute_is_rounded_down() -> None:
    late = TokenMinter(KEY_1, 7, 42).mint(NOW + 59.9)
    verifier = TokenVerifier([KEY_1], max_age=600)
    assert verifier.verify(late, NOW + 600) is not None
    assert verifier.check(late, NOW + 600.1) is TokenRejection.EXPIRED


def test_str_and_bytes_are_the_same_token() -> None:
    token = minter().mint(NOW)
    verifier = TokenVerifier([KEY_1])
    assert verifier.verify(token, NOW) == verifier.verify(token.encode(), NOW)
    assert verifier.check("é" * 32, NOW) is TokenRejection.MALFORMED


def test_padding_inside_the_token_is_malformed() -> None:
    token = minter().mint(NOW)
    assert TokenVerifier([KEY_1]).check(token[:30] + "==", NOW) is TokenRejection.MALFORMED
    assert TokenVerifier([KEY_1]).check(token[:31] + "-", NOW) is TokenRejection.MALFORMED


@settings(max_examples=2000)
@given(st.one_of(st.binary(max_size=64), st.text(max_size=64)))
def test_garbage_never_raises(data: bytes | str) -> None:
    assert TokenVerifier([KEY_1]).verify(data, NOW) is None


@settings(max_examples=1000)
@given(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", min_size=31))
def test_well_formed_forgeries_are_rejected(body: str) -> None:
    forged = ("B" + body)[:32]
    assert TokenVerifier([KEY_0, KEY_1]).verify(forged, NOW) is None


def test_minter_checks_its_arguments() -> None:
    with pytest.raises(ValueError):
        TokenMinter(KEY_1, 70000, 1)
    with pytest.raises(ValueError):
        TokenMinter(KEY_1, 1, 1, random=lambda n: b"short").mint(NOW)
    with pytest.raises(ValueError):
        minter().mint(ISSUED_EPOCH - 60)
    with pytest.raises(ValueError):
        TokenKey(4, b"k" * 16)
    with pytest.raises(ValueError):
        TokenKey(0, b"short")


def test_key_repr_hides_the_secret() -> None:
    assert "0001020304" not in repr(KEY_1)
    assert repr(KEY_1) == "TokenKey(key_id=1, secret=<32 bytes>)"


def test_parse_keys() -> None:
    keys = parse_keys("1:" + "ab" * 16 + ", 0:" + "cd" * 16 + "  # the previous key\n")
    assert [k.key_id for k in keys] == [1, 0]
    assert keys[0].secret == b"\xab" * 16
    with pytest.raises(ConfigError, match="key 1"):
        parse_keys("1:xyz")
    with pytest.raises(ConfigError):
        parse_keys("   ")
    with pytest.raises(ConfigError):
        parse_keys("1:abc")  # odd number of hex digits
    # Keys are the operator's input: a key the token format cannot take is a ConfigError
    # naming its position, and no message repeats a secret.
    with pytest.raises(ConfigError, match="fleet key 2: key id"):
        parse_keys("1:" + "ab" * 16 + ",7:" + "cd" * 16)
    with pytest.raises(ConfigError, match=r"fleet key 1: .*16 secret bytes") as short:
        parse_keys("1:" + "cd" * 8)
    assert "cd" not in str(short.value)
