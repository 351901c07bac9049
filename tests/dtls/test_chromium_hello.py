"""Our server against the first flight of a real Chromium 156 (captured by
``data/capture_chromium.py`` from a call between two RTCPeerConnections).

Chromium offers DTLS 1.3 alongside 1.2, a post-quantum hybrid key share, TLS 1.3 suites and
extensions DTLS 1.2 does not know, and it fragments its 1.4 KB ClientHello over two
datagrams. A DTLS 1.2 server must reassemble the hello, ignore what it does not know, and
answer with the DTLS 1.2 choices WebRTC needs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from voice.dtls import Certificate, DtlsConnection, SrtpProfile
from voice.dtls.extensions import UseSrtp, decode_ec_point_formats, find_extension
from voice.dtls.fragments import Reassembler, iter_fragments
from voice.dtls.messages import (
    CertificateRequest,
    ClientHello,
    ServerHello,
    ServerKeyExchange,
    parse_message,
)
from voice.dtls.record import iter_records
from voice.dtls.registry import (
    CipherSuite,
    ContentType,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    SignatureScheme,
)

DATA = Path(__file__).parent / "data" / "chromium_client_hello.hex"


def chromium_flight() -> list[bytes]:
    lines = DATA.read_text().splitlines()
    return [bytes.fromhex(line) for line in lines if line and not line.startswith("#")]


def messages(datagrams: list[bytes]) -> dict[int, object]:
    reassembler = Reassembler()
    for datagram in datagrams:
        for record in iter_records(datagram):
            assert record.content_type == ContentType.handshake and record.epoch == 0
            for frag in iter_fragments(record.fragment):
                reassembler.add(frag)
    out: dict[int, object] = {}
    while (message := reassembler.pop()) is not None:
        msg_type, _, body = message
        out[msg_type] = parse_message(msg_type, body)
    return out


def test_the_capture_is_a_fragmented_dtls13_capable_hello() -> None:
    flight = chromium_flight()
    assert len(flight) == 2 and all(len(d) <= 1200 for d in flight)
    hello = messages(flight)[HandshakeType.client_hello]
    assert isinstance(hello, ClientHello)
    offered = {e.type for e in hello.extensions}
    assert 43 in offered and 51 in offered  # supported_versions and key_share (DTLS 1.3)
    assert ExtensionType.use_srtp in offered and ExtensionType.extended_master_secret in offered


@pytest.mark.parametrize("order", ["as sent", "reversed"])
def test_our_server_answers_chromium(order: str) -> None:
    flight = chromium_flight()
    if order == "reversed":
        flight.reverse()
    server = DtlsConnection(
        is_server=True, certificate=Certificate.generate(), remote_fingerprints=None
    )
    for datagram in flight:
        server.receive_datagram(datagram, 0.0)
    assert server.next_event() is None
    answer = server.datagrams_to_send()
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
    assert hello.version == 0xFEFD
    assert hello.cipher_suite == CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    assert find_extension(hello.extensions, ExtensionType.extended_master_secret) == b""
    assert find_extension(hello.extensions, ExtensionType.renegotiation_info) == b"\x00"
    formats = find_extension(hello.extensions, ExtensionType.ec_point_formats)
    assert formats is not None and decode_ec_point_formats(formats) == (0,)
    use_srtp = find_extension(hello.extensions, ExtensionType.use_srtp)
    assert use_srtp is not None
    assert UseSrtp.decode(use_srtp) == UseSrtp((SrtpProfile.SRTP_AEAD_AES_128_GCM,), b"")
    # Nothing of DTLS 1.3 is echoed: only the extensions a DTLS 1.2 server may send.
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
    assert sum(server.counters.values()) == 0
