"""Tests of ICE ufrag and password generation (RFC 8839 §5.4)."""

import pytest

from voice.ice import generate_password, generate_ufrag
from voice.ice.credentials import ICE_CHARS, is_ice_string


def test_ufrag_shape() -> None:
    ufrag = generate_ufrag()
    assert len(ufrag) >= 4 and len(ufrag) * 6 >= 24  # 24 bits of randomness at least
    assert is_ice_string(ufrag, 4)
    assert len(generate_ufrag(4)) == 4
    assert len(generate_ufrag(256)) == 256


def test_password_shape() -> None:
    pwd = generate_password()
    assert len(pwd) >= 22 and len(pwd) * 6 >= 128  # 128 bits of randomness at least
    assert is_ice_string(pwd, 22)


def test_values_are_random() -> None:
    assert len({generate_ufrag() for _ in range(200)}) == 200
    assert len({generate_password() for _ in range(200)}) == 200
    # Every ice-char turns up: the alphabet is the full 64 characters.
    assert set("".join(generate_password(256) for _ in range(20))) == set(ICE_CHARS)


@pytest.mark.parametrize(("length", "fn"), [(3, generate_ufrag), (21, generate_password)])
def test_too_short_is_refused(length: int, fn: object) -> None:
    with pytest.raises(ValueError):
        fn(length)  # type: ignore[operator]


def test_is_ice_string() -> None:
    assert is_ice_string("abc+/123", 4)
    assert not is_ice_string("abc", 4)
    assert not is_ice_string("abc-def", 4)
    assert not is_ice_string("a" * 257, 4)
