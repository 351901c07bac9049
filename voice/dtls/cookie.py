"""Stateless HelloVerifyRequest cookies (RFC 6347 §4.2.1).

A DTLS server that answers a ClientHello with a large flight can be made to flood a spoofed
address. The cookie exchange prevents it: the server answers a first ClientHello with a small
HelloVerifyRequest holding a cookie, and only continues when a ClientHello comes back with
that cookie, proving the client receives at its address. The cookie is an HMAC of the
ClientHello's parameters under a server secret, so the server stores nothing in between.

Why it is off by default in WebRTC: before any DTLS packet, ICE connectivity checks have
already shown that the peer receives at its address (a STUN Binding request carrying
MESSAGE-INTEGRITY keyed by the password exchanged in SDP was answered). A spoofed source
cannot get that far, so a cookie would only add a round trip to every call setup.
"""

from __future__ import annotations

import hmac

from voice.dtls.messages import ClientHello

COOKIE_LENGTH = 32


def _client_parameters(hello: ClientHello) -> bytes:
    # Everything the client must repeat unchanged in its second ClientHello, except the
    # cookie itself (RFC 6347 §4.2.1).
    return ClientHello(
        hello.version,
        hello.random,
        hello.session_id,
        b"",
        hello.cipher_suites,
        hello.compression_methods,
        hello.extensions,
    ).encode()


def make_cookie(secret: bytes, hello: ClientHello, peer: bytes = b"") -> bytes:
    """The cookie for this ClientHello. ``peer`` may bind it to the client's address too."""
    return hmac.digest(secret, peer + b"\0" + _client_parameters(hello), "sha256")


def cookie_is_valid(secret: bytes, hello: ClientHello, peer: bytes = b"") -> bool:
    return hmac.compare_digest(hello.cookie, make_cookie(secret, hello, peer))
