"""Tests of password preparation and the short- and long-term keys."""

import hashlib

import pytest

from voice.stun import StunUsageError, long_term_key, opaque_string, saslprep, short_term_key


@pytest.mark.parametrize(
    ("given", "prepared"),
    [
        # The examples of RFC 4013 §3.
        ("I\u00adX", "IX"),  # soft hyphen mapped to nothing
        ("user", "user"),
        ("USER", "USER"),  # no case folding
        ("\u00aa", "a"),  # NFKC
        ("\u2168", "IX"),  # NFKC
        ("a\u00a0b", "a b"),  # non-ASCII space to space
    ],
)
def test_saslprep(given: str, prepared: str) -> None:
    assert saslprep(given) == prepared


@pytest.mark.parametrize("bad", ["\u0007", "\u0627\u0031", "a\ufffdb\ud800"])
def test_saslprep_refuses(bad: str) -> None:
    with pytest.raises(StunUsageError):
        saslprep(bad)


def test_short_term_key_is_the_password() -> None:
    assert short_term_key("VOkJxbRl1RmTxUk/WvJxBt") == b"VOkJxbRl1RmTxUk/WvJxBt"
    assert short_term_key("e\u0301") == "\u00e9".encode()  # NFC
    assert opaque_string("a\u2003b") == "a b"
    with pytest.raises(StunUsageError):
        short_term_key("")


def test_long_term_key_is_md5_of_the_triple() -> None:
    expected = hashlib.md5(b"user:realm:pass").digest()
    assert long_term_key("user", "realm", "pass") == expected
    assert long_term_key("user", "realm", "pa\u00adss") == expected
    assert long_term_key("user", "realm", "pass", prepare=opaque_string) == expected
