"""A whole call, sans-IO: our caller-side stack against our transceiver-side stack.

Both ends are :class:`voice.peer.PeerConnection`: one with the ICE-lite agent and the DTLS
server (the transceiver's), one with the controlling ICE client and the DTLS client (the
load generator's). Datagrams are handed across by hand and time is a number.
"""

from __future__ import annotations

import pytest

from voice.dtls import Certificate
from voice.ice import IceControllingClient, IceLiteAgent
from voice.peer import (
    IceConnected,
    IceSelectedPairChanged,
    PeerAddressValidated,
    PeerClosed,
    PeerConnection,
    PeerDtlsConnected,
    PeerEvent,
    PeerRtpReceived,
    PeerState,
)
from voice.rtp import RtpPacket
from voice.srtp.profiles import SrtpProfile

SERVER = ("192.0.2.1", 3478)
CLIENT = ("198.51.100.7", 50000)
SERVER_CERT = Certificate.generate()
CLIENT_CERT = Certificate.generate()


class Call:
    def __init__(self, *, consent_timeout: float = 30.0, client_fingerprint: str | None = None):
        self.now = 0.0
        fp_server = ("sha-256", SERVER_CERT.fingerprint("sha-256"))
        fp_client = ("sha-256", client_fingerprint or CLIENT_CERT.fingerprint("sha-256"))
        self.server = PeerConnection(
            ice=IceLiteAgent(
                "srvufrag",
                "server-password-0123456789",
                remote_ufrag="cliufrag",
                remote_pwd="client-password-0123456789",
                consent_timeout=consent_timeout,
            ),
            certificate=SERVER_CERT,
            remote_fingerprints=[fp_client],
            is_dtls_server=True,
            local_ssrc=1111,
            cname="server",
            now=self.now,
        )
        self.client = PeerConnection(
            ice=IceControllingClient(
                "cliufrag",
                "client-password-0123456789",
                "srvufrag",
                "server-password-0123456789",
                SERVER,
            ),
            certificate=CLIENT_CERT,
            remote_fingerprints=[fp_server],
            is_dtls_server=False,
            local_ssrc=2222,
            cname="client",
            now=self.now,
        )
        self.events: dict[str, list[PeerEvent]] = {"server": [], "client": []}

    def pump(self, *, drop_to_server: bool = False) -> None:
        """Delivers everything queued, both ways, until both sides are quiet."""
        for _ in range(50):
            moved = False
            for data, addr in self.client.datagrams_to_send():
                assert addr == SERVER
                moved = True
                if not drop_to_server:
                    self.server.receive_datagram(data, CLIENT, self.now)
            for data, addr in self.server.datagrams_to_send():
                assert addr == CLIENT
                moved = True
                self.client.receive_datagram(data, SERVER, self.now)
            for name, peer in (("server", self.server), ("client", self.client)):
                while (event := peer.next_event()) is not None:
                    self.events[name].append(event)
            if not moved:
                return

    def advance(self, seconds: float, **kwargs: bool) -> None:
        """Moves the clock, firing each side's timers in order."""
        end = self.now + seconds
        while True:
            timers = [
                t for t in (self.server.get_timer(), self.client.get_timer()) if t is not None
            ]
            if not timers or min(timers) > end:
                break
            due = min(timers)
            self.now = max(self.now, due)
            self.server.handle_timeout(self.now)
            self.client.handle_timeout(self.now)
            self.pump(**kwargs)
        self.now = end

    def connect(self) -> None:
        self.client.connect(self.now)
        self.pump()


def of(kind: type, events: list[PeerEvent]) -> list[PeerEvent]:
    return [e for e in events if isinstance(e, kind)]


def test_call_connects_and_carries_rtp_both_ways() -> None:
    call = Call()
    call.connect()
    assert call.server.state is PeerState.CONNECTED and call.client.state is PeerState.CONNECTED
    assert of(PeerAddressValidated, call.events["server"]) == [PeerAddressValidated(CLIENT)]
    assert of(IceConnected, call.events["server"]) == [IceConnected(CLIENT)]
    [connected] = of(PeerDtlsConnected, call.events["server"])
    assert connected.profile is SrtpProfile.SRTP_AEAD_AES_128_GCM
    assert call.client.srtp_profile is connected.profile

    for n in range(5):
        sent = RtpPacket(111, 100 + n, 960 * n, 2222, payload=bytes([n]) * 40)
        assert call.client.send_rtp(sent, call.now)
        reply = RtpPacket(111, 7 + n, 960 * n, 1111, payload=b"\xfc" + bytes(20))
        assert call.server.send_rtp(reply, call.now)
    call.pump()
    got = [e.packet for e in of(PeerRtpReceived, call.events["server"])]
    assert [p.sequence_number for p in got] == [100, 101, 102, 103, 104]
    assert got[3].payload == bytes([3]) * 40
    assert len(of(PeerRtpReceived, call.events["client"])) == 5
    assert call.server.rtp.stats.packets_received == 5


def test_rtcp_reports_flow_on_their_schedule() -> None:
    call = Call()
    call.connect()
    for n in range(50):
        call.client.send_rtp(RtpPacket(111, n, 960 * n, 2222, payload=b"x" * 30), call.now)
        call.advance(0.02)
    call.advance(10.0)
    assert call.server.counters.get("rtcp_in", 0) >= 1
    assert call.client.counters.get("rtcp_in", 0) >= 1


def test_hang_up_sends_close_notify_and_the_peer_sees_it() -> None:
    call = Call()
    call.connect()
    call.client.close(call.now, "hung up")
    call.pump()
    assert of(PeerClosed, call.events["client"]) == [PeerClosed("hung up")]
    [closed] = of(PeerClosed, call.events["server"])
    assert closed.reason.startswith("DTLS closed")
    assert call.server.get_timer() is None


def test_consent_expires_when_the_caller_goes_silent() -> None:
    call = Call(consent_timeout=5.0)
    call.connect()
    call.advance(4.0, drop_to_server=True)
    assert call.server.state is PeerState.CONNECTED
    call.advance(1.5, drop_to_server=True)
    assert of(PeerClosed, call.events["server"]) == [PeerClosed("ICE consent expired")]
    assert not call.server.send_rtp(RtpPacket(111, 1, 1, 1111, payload=b"x"), call.now)


def test_wrong_certificate_fails_the_handshake() -> None:
    call = Call(client_fingerprint="00:" * 31 + "00")
    call.connect()
    call.advance(1.0)
    assert call.server.state is PeerState.CLOSED
    assert call.server.srtp is None
    [closed] = of(PeerClosed, call.events["server"])
    assert "DTLS" in closed.reason


def test_datagrams_from_unvalidated_addresses_are_dropped() -> None:
    call = Call()
    intruder = ("203.0.113.66", 4444)
    # A DTLS ClientHello-looking record and an SRTP-looking packet from a stranger.
    call.server.receive_datagram(b"\x16\xfe\xfd" + bytes(30), intruder, 0.0)
    call.connect()
    call.server.receive_datagram(b"\x80\x6f" + bytes(40), intruder, call.now)
    assert call.server.counters["dropped_dtls_unvalidated"] == 1
    assert call.server.counters["dropped_rtp_unvalidated"] == 1
    assert call.server.state is PeerState.CONNECTED


@pytest.mark.parametrize("garbage", [b"", b"\x80", b"\x80\x6f" + bytes(11), b"\xff" * 50])
def test_garbage_media_is_counted_not_raised(garbage: bytes) -> None:
    call = Call()
    call.connect()
    call.server.receive_datagram(garbage, CLIENT, call.now)
    assert call.server.state is PeerState.CONNECTED
    assert sum(v for k, v in call.server.counters.items() if k.startswith("dropped")) == 1


def test_a_rebound_caller_keeps_its_stream_on_the_new_address() -> None:
    """RFC 8445 §12.1 and §12.2: once the client's NAT mapping changes, media follows the new
    selected address, and the same SSRC from a new address is the same stream, not a
    collision."""
    call = Call()
    call.connect()
    moved = ("198.51.100.7", 50999)
    assert call.server.send_rtp(RtpPacket(111, 1, 0, 1111, payload=b"a"), call.now)
    call.pump()
    # From now on the caller's datagrams arrive from the new mapping; a consent check
    # (every 4-6 s, at random: RFC 7675 §5.1) sent once the old address has been silent for
    # the rebinding interval moves the selection. Other timers (RTCP, retransmissions) fire
    # in between, so step through them until the move, bounded in simulated time.
    started = call.now
    while call.server.remote_address != moved and call.now - started < 30:
        timer = call.client.get_timer()
        assert timer is not None
        call.now = timer
        call.client.handle_timeout(call.now)
        call.server.handle_timeout(call.now)
        for data, _addr in call.client.datagrams_to_send():
            call.server.receive_datagram(data, moved, call.now)
        for data, _addr in call.server.datagrams_to_send():
            call.client.receive_datagram(data, SERVER, call.now)  # the NAT maps both back
        for name, peer in (("server", call.server), ("client", call.client)):
            while (event := peer.next_event()) is not None:
                call.events[name].append(event)
    assert of(IceSelectedPairChanged, call.events["server"]) == [IceSelectedPairChanged(moved)]
    assert call.server.remote_address == moved
    for n in range(3):
        assert call.client.send_rtp(RtpPacket(111, 10 + n, 960 * n, 2222, payload=b"x"), call.now)
    for data, _addr in call.client.datagrams_to_send():
        call.server.receive_datagram(data, moved, call.now)
    got = [
        e.packet.sequence_number
        for e in iter(call.server.next_event, None)
        if isinstance(e, PeerRtpReceived)
    ]
    assert got == [10, 11, 12]
    assert call.server.send_rtp(RtpPacket(111, 2, 960, 1111, payload=b"b"), call.now)
    [(_data, to)] = call.server.datagrams_to_send()
    assert to == moved
    assert call.server.state is PeerState.CONNECTED


def test_media_flows_on_a_valid_pair_before_nomination() -> None:
    """Browsers start DTLS and media as soon as a check succeeds; the server answers the
    handshake where it came from and sends media there before any USE-CANDIDATE."""
    from voice.stun import Message, UseCandidate, parse_message

    call = Call()
    call.client.connect(call.now)
    # Strip USE-CANDIDATE from every check the caller sends: nothing gets nominated.
    for _ in range(20):
        for sent, _addr in call.client.datagrams_to_send():
            data = sent
            message = parse_message(data) if data[0] < 4 else None
            if message is not None and message.message_class.name == "REQUEST":
                kept = tuple(a for a in message.attributes if not isinstance(a, UseCandidate))
                stripped = Message(
                    message.message_class, message.method, message.transaction_id, kept[:-2]
                )
                data = stripped.encode(
                    integrity_key=b"server-password-0123456789", fingerprint=True
                )
            call.server.receive_datagram(data, CLIENT, call.now)
        for data, _addr in call.server.datagrams_to_send():
            call.client.receive_datagram(data, SERVER, call.now)
    assert call.server.remote_address is None  # never nominated
    assert call.server.state is PeerState.CONNECTED
    assert call.server.media_address == CLIENT
    assert call.server.send_rtp(RtpPacket(111, 1, 960, 1111, payload=b"hello"), call.now)
    [(data, to)] = call.server.datagrams_to_send()
    assert to == CLIENT
    call.client.receive_datagram(data, SERVER, call.now)
    assert any(isinstance(e, PeerRtpReceived) for e in iter(call.client.next_event, None))


def test_no_srtp_flows_before_the_dtls_handshake_completes() -> None:
    # RFC 5764 §5.1: SRTP processing waits for the DTLS handshake. Before it nothing is sent,
    # and media that arrives is dropped unread; after it the same calls carry media.
    call = Call()
    packet = RtpPacket(111, 1, 0, 2222, payload=b"\xfc" + bytes(20))
    assert not call.client.send_rtp(packet, call.now)
    assert call.client.counters["rtp_not_sent"] == 1
    call.server.receive_datagram(packet.encode(), CLIENT, call.now)
    assert call.server.counters["dropped_srtp_not_ready"] == 1
    assert of(PeerRtpReceived, call.events["server"]) == []
    call.connect()
    assert call.client.send_rtp(packet, call.now)
    call.pump()
    assert len(of(PeerRtpReceived, call.events["server"])) == 1
