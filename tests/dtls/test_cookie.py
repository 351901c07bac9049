"""Stateless HelloVerifyRequest cookies (RFC 6347 §4.2.1)."""

from __future__ import annotations

from dataclasses import replace

from voice.dtls.cookie import cookie_is_valid, make_cookie
from voice.dtls.messages import ClientHello

HELLO = ClientHello(0xFEFD, b"r" * 32, b"", b"", (0xC02B,), b"\x00", ())


def test_cookie_binds_the_client_parameters() -> None:
    cookie = make_cookie(b"secret", HELLO)
    assert cookie_is_valid(b"secret", replace(HELLO, cookie=cookie))
    assert not cookie_is_valid(b"other secret", replace(HELLO, cookie=cookie))
    changed = replace(HELLO, random=b"x" * 32, cookie=cookie)
    assert not cookie_is_valid(b"secret", changed)
    assert not cookie_is_valid(b"secret", HELLO)
    # The cookie field itself is not an input: the hello that carries it still verifies.
    assert make_cookie(b"secret", replace(HELLO, cookie=b"anything")) == cookie


def test_cookie_can_bind_the_address() -> None:
    cookie = make_cookie(b"secret", HELLO, b"10.0.0.1:5000")
    assert cookie_is_valid(b"secret", replace(HELLO, cookie=cookie), b"10.0.0.1:5000")
    assert not cookie_is_valid(b"secret", replace(HELLO, cookie=cookie), b"10.0.0.2:5000")
