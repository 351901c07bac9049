"""Our server against the first flight of a real Firefox 153 (NSS), captured by
``data/capture_firefox.py`` from a call to ``voice serve``.

NSS offers DTLS 1.3 next to 1.2 (``supported_versions``), a post-quantum hybrid key share
(X25519MLKEM768, group 0x11EC, 1.2 KB on its own), TLS 1.3 suites, ALPN ``webrtc``,
delegated credentials and a record size limit. Its ClientHello is one handshake message
of 1461 bytes cut into two fragments, each in its own datagram; the first datagram is
1408 bytes, larger than Chromium's (which stay within 1200). A DTLS 1.2 server must
reassemble the two, ignore what it does not know, and answer with the DTLS 1.2 choices
WebRTC needs; a retransmitted or reordered fragment must change nothing.
"""

from __future__ import annotations

import pytest

from voice.dtls import SrtpProfile
from voice.dtls.extensions import UseSrtp, find_extension
from voice.dtls.fragments import iter_fragments
from voice.dtls.messages import ClientHello
from voice.dtls.record import iter_records
from voice.dtls.registry import ExtensionType, HandshakeType

from .hello import assert_dtls12_answer, browser_flight, dtls_server, messages

SUPPORTED_VERSIONS = 43
KEY_SHARE = 51
ALPN = 16
X25519_MLKEM768 = 0x11EC
DTLS_1_3 = 0xFEFC


def test_the_capture_is_one_hello_in_two_datagrams_offering_dtls13_and_mlkem() -> None:
    flight = browser_flight("firefox")
    assert len(flight) == 2 and len(flight[0]) > 1200
    fragments = [
        (f.msg_type, f.message_seq, f.fragment_offset, f.length)
        for datagram in flight
        for record in iter_records(datagram)
        for f in iter_fragments(record.fragment)
    ]
    assert [f[:2] for f in fragments] == [(HandshakeType.client_hello, 0)] * 2
    assert fragments[0][2] == 0 and fragments[1][2] > 0
    hello = messages(flight)[HandshakeType.client_hello]
    assert isinstance(hello, ClientHello)
    versions = find_extension(hello.extensions, SUPPORTED_VERSIONS)
    assert versions is not None and DTLS_1_3.to_bytes(2, "big") in versions
    key_share = find_extension(hello.extensions, KEY_SHARE)
    assert key_share is not None and X25519_MLKEM768.to_bytes(2, "big") in key_share[2:6]
    assert find_extension(hello.extensions, ALPN) is not None
    use_srtp = find_extension(hello.extensions, ExtensionType.use_srtp)
    assert use_srtp is not None
    assert UseSrtp.decode(use_srtp).profiles[0] == SrtpProfile.SRTP_AEAD_AES_128_GCM


@pytest.mark.parametrize(
    "order", [(0, 1), (1, 0), (0, 0, 1), (1, 1, 0)], ids=lambda o: "".join(map(str, o))
)
def test_our_server_answers_firefox_once_the_hello_is_whole(order: tuple[int, ...]) -> None:
    """As sent, reordered, or with a fragment repeated before the other arrives."""
    flight = browser_flight("firefox")
    dtls = dtls_server()
    answers: list[list[bytes]] = []
    for index in order:
        dtls.receive_datagram(flight[index], 0.0)
        answers.append(dtls.datagrams_to_send())
    assert dtls.next_event() is None
    assert [bool(a) for a in answers] == [False] * (len(order) - 1) + [True]
    assert_dtls12_answer(answers[-1])
    assert sum(dtls.counters.values()) == 0


def test_a_retransmitted_hello_is_answered_with_the_same_flight_once() -> None:
    """NSS resends both fragments when our flight is lost (RFC 6347 §4.2.4): the first
    one that arrives brings our flight again, the second nothing more."""
    flight = browser_flight("firefox")
    dtls = dtls_server()
    for datagram in flight:
        dtls.receive_datagram(datagram, 0.0)
    first = dtls.datagrams_to_send()
    dtls.receive_datagram(flight[0], 1.0)
    again = dtls.datagrams_to_send()
    dtls.receive_datagram(flight[1], 1.001)
    assert dtls.datagrams_to_send() == []
    assert_dtls12_answer(again)
    hello, hello_again = (messages(f)[HandshakeType.server_hello] for f in (first, again))
    assert hello == hello_again  # the same flight, not a second handshake
    assert dtls.counters["retransmit_on_duplicate"] == 1
    assert dtls.next_event() is None


def test_half_a_hello_gets_no_answer() -> None:
    for half in browser_flight("firefox"):
        dtls = dtls_server()
        dtls.receive_datagram(half, 0.0)
        assert dtls.datagrams_to_send() == []
        assert dtls.next_event() is None
