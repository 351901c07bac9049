"""Our server against the first flight of a real Chromium 156 (captured by
``data/capture_chromium.py`` from a call between two RTCPeerConnections).

Chromium offers DTLS 1.3 alongside 1.2, a post-quantum hybrid key share, TLS 1.3 suites and
extensions DTLS 1.2 does not know, and it fragments its 1.4 KB ClientHello over two
datagrams. A DTLS 1.2 server must reassemble the hello, ignore what it does not know, and
answer with the DTLS 1.2 choices WebRTC needs.
"""

from __future__ import annotations

import pytest

from voice.dtls.messages import ClientHello
from voice.dtls.registry import ExtensionType, HandshakeType

from .hello import assert_dtls12_answer, browser_flight, dtls_server, messages


def test_the_capture_is_a_fragmented_dtls13_capable_hello() -> None:
    flight = browser_flight("chromium")
    assert len(flight) == 2 and all(len(d) <= 1200 for d in flight)
    hello = messages(flight)[HandshakeType.client_hello]
    assert isinstance(hello, ClientHello)
    offered = {e.type for e in hello.extensions}
    assert 43 in offered and 51 in offered  # supported_versions and key_share (DTLS 1.3)
    assert ExtensionType.use_srtp in offered and ExtensionType.extended_master_secret in offered


@pytest.mark.parametrize("order", ["as sent", "reversed"])
def test_our_server_answers_chromium(order: str) -> None:
    flight = browser_flight("chromium")
    if order == "reversed":
        flight.reverse()
    server = dtls_server()
    for datagram in flight:
        server.receive_datagram(datagram, 0.0)
    assert server.next_event() is None
    assert_dtls12_answer(server.datagrams_to_send())
    assert sum(server.counters.values()) == 0
