"""A browser's captured first flight, and what our server must answer to any of them.

Chromium and Firefox each offer DTLS 1.3 beside 1.2 and fragment a large ClientHello over
two datagrams; the captures are in ``data/<browser>_client_hello.hex`` (one datagram per
line). Whatever the browser offers, our DTLS 1.2 server answers with one flight of the same
shape, so the check of that answer is written once, here, for every browser's test.
"""

from __future__ import annotations

import re
from pathlib import Path

from voice.dtls import Certificate, DtlsConnection, SrtpProfile
from voice.dtls.extensions import UseSrtp, decode_ec_point_formats, find_extension
from voice.dtls.fragments import Reassembler, iter_fragments
from voice.dtls.messages import CertificateRequest, ServerHello, ServerKeyExchange, parse_message
from voice.dtls.record import iter_records
from voice.dtls.registry import (
    CipherSuite,
    ContentType,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    SignatureScheme,
)

DATA = Path(__file__).parent / "data"


def browser_flight(browser: str) -> list[bytes]:
    """The datagrams of ``browser``'s captured first flight, in the order it sent them."""
    lines = (DATA / f"{browser}_client_hello.hex").read_text().splitlines()
    return [bytes.fromhex(line) for line in lines if line and not line.startswith("#")]


def save_flight(browser: str, agent: str, datagrams: list[bytes]) -> None:
    """Writes a capture script's result where :func:`browser_flight` reads it, headed by the
    browser's user agent and major version (``Chrome/156``, ``Firefox/153``)."""
    version = re.search(r"(?:Chrome|Firefox)/(\d+)", agent)
    (DATA / f"{browser}_client_hello.hex").write_text(
        f"# {agent}\n"
        f"# the datagrams of the first flight of {browser.capitalize()} "
        f"{version.group(1) if version else '?'} as DTLS client, one per line, in the order sent\n"
        + "".join(datagram.hex() + "\n" for datagram in datagrams)
    )


def messages(datagrams: list[bytes]) -> dict[int, object]:
    """The handshake messages of epoch-0 datagrams, reassembled and parsed, by type."""
    reassembler = Reassembler()
    for datagram in datagrams:
        for record in iter_records(datagram):
            assert record.content_type == ContentType.handshake and record.epoch == 0
            for fragment in iter_fragments(record.fragment):
                reassembler.add(fragment)
    out: dict[int, object] = {}
    while (message := reassembler.pop()) is not None:
        msg_type, _, body = message
        out[msg_type] = parse_message(msg_type, body)
    return out


def dtls_server() -> DtlsConnection:
    return DtlsConnection(
        is_server=True, certificate=Certificate.generate(), remote_fingerprints=None
    )


def assert_dtls12_answer(answer: list[bytes]) -> None:
    """Our first flight to a browser: DTLS 1.2 whatever 1.3 was offered, the AES-GCM suite
    and SRTP profile, X25519 (a hybrid post-quantum group is unknown to us), a request for
    the browser's certificate, and only extensions a DTLS 1.2 server may send."""
    assert answer and all(len(d) <= 1200 for d in answer)
    reply = messages(answer)
    assert set(reply) == {
        HandshakeType.server_hello,
        HandshakeType.certificate,
        HandshakeType.server_key_exchange,
        HandshakeType.certificate_request,
        HandshakeType.server_hello_done,
    }
    hello = reply[HandshakeType.server_hello]
    assert isinstance(hello, ServerHello)
    assert hello.version == 0xFEFD  # DTLS 1.2
    assert hello.cipher_suite == CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    assert find_extension(hello.extensions, ExtensionType.extended_master_secret) == b""
    assert find_extension(hello.extensions, ExtensionType.renegotiation_info) == b"\x00"
    formats = find_extension(hello.extensions, ExtensionType.ec_point_formats)
    assert formats is not None and decode_ec_point_formats(formats) == (0,)
    use_srtp = find_extension(hello.extensions, ExtensionType.use_srtp)
    assert use_srtp is not None
    assert UseSrtp.decode(use_srtp) == UseSrtp((SrtpProfile.SRTP_AEAD_AES_128_GCM,), b"")
    # Nothing of DTLS 1.3, and no ALPN: only the extensions a DTLS 1.2 server may send.
    assert {e.type for e in hello.extensions} <= {
        ExtensionType.extended_master_secret,
        ExtensionType.renegotiation_info,
        ExtensionType.ec_point_formats,
        ExtensionType.use_srtp,
    }
    key_exchange = reply[HandshakeType.server_key_exchange]
    assert isinstance(key_exchange, ServerKeyExchange)
    assert key_exchange.named_group == NamedGroup.x25519
    assert key_exchange.signature_scheme == SignatureScheme.ecdsa_secp256r1_sha256
    request = reply[HandshakeType.certificate_request]
    assert isinstance(request, CertificateRequest)
    assert SignatureScheme.ecdsa_secp256r1_sha256 in request.signature_schemes
