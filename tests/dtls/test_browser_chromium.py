"""Full DTLS handshakes with a real Chromium, in both roles.

A headless Chromium page offers an audio call; the test answers as an ICE-lite endpoint on a
loopback UDP socket (a minimal STUN responder lives here, just enough for ICE to succeed),
then runs our DtlsConnection on the same socket. Chromium's DTLS stack is BoringSSL, an
implementation independent of OpenSSL, so this checks our server *and* our client against a
second real peer. Chromium reports the peer connection "connected" only once DTLS finished
and our certificate matched the fingerprint in our answer; we check its certificate against
the fingerprint in its offer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator

import pytest

from tests.conftest import require_program
from voice.dtls import (
    Certificate,
    DtlsClosed,
    DtlsConnection,
    DtlsHandshakeComplete,
    SrtpProfile,
)
from voice.dtls.events import DtlsEvent
from voice.stun.demux import PacketKind, classify

pytestmark = pytest.mark.browser

PAGE = """
async (answerFor) => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver('audio', {direction: 'recvonly'});
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(r => {
    if (pc.iceGatheringState === 'complete') r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
  });
  window.pc = pc;
  return pc.localDescription.sdp;
}
"""

CONNECT = """
async (answer) => {
  await window.pc.setRemoteDescription({type: 'answer', sdp: answer});
  const start = Date.now();
  while (!['connected', 'failed'].includes(window.pc.connectionState)
         && Date.now() - start < 15000) {
    await new Promise(r => setTimeout(r, 20));
  }
  return window.pc.connectionState;
}
"""

MAGIC = 0x2112A442


def stun_success(request: bytes, source: tuple[str, int], password: bytes) -> bytes | None:
    """A Binding success response to an ICE check (RFC 8489 §6.3.1.1, as RFC 8445 §7.3 asks),
    with XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT; None for anything else."""
    if len(request) < 20 or struct.unpack_from("!H", request)[0] != 0x0001:
        return None
    txid = request[8:20]
    ip = struct.unpack("!I", socket.inet_aton(source[0]))[0]
    xor_addr = struct.pack("!HHBBHI", 0x0020, 8, 0, 1, source[1] ^ (MAGIC >> 16), ip ^ MAGIC)
    body = xor_addr
    header = struct.pack("!HHI", 0x0101, len(body) + 24, MAGIC) + txid
    integrity = hmac.new(password, header + body, hashlib.sha1).digest()
    body += struct.pack("!HH", 0x0008, 20) + integrity
    header = struct.pack("!HHI", 0x0101, len(body) + 8, MAGIC) + txid
    crc = zlib.crc32(header + body) ^ 0x5354554E
    return header + body + struct.pack("!HHI", 0x8028, 4, crc)


def has_use_candidate(request: bytes) -> bool:
    pos = 20
    while pos + 4 <= len(request):
        attr, length = struct.unpack_from("!HH", request, pos)
        if attr == 0x0025:
            return True
        pos += 4 + ((length + 3) & ~3)
    return False


class IceLiteDtlsPeer(threading.Thread):
    """Answers ICE checks and runs one DtlsConnection on a loopback socket."""

    def __init__(self, sock: socket.socket, password: bytes, conn: DtlsConnection) -> None:
        super().__init__(daemon=True)
        self.sock, self.password, self.conn = sock, password, conn
        self.events: list[DtlsEvent] = []
        self.stop = threading.Event()
        self.peer: tuple[str, int] | None = None
        self.ice_checks = 0
        self.completed = threading.Event()

    def run(self) -> None:
        self.sock.settimeout(0.02)
        while not self.stop.is_set():
            now = time.monotonic()
            self.conn.handle_timeout(now)
            try:
                data, addr = self.sock.recvfrom(65536)
            except TimeoutError:
                data = b""
            kind = classify(data) if data else None
            if kind is PacketKind.STUN:
                response = stun_success(data, addr, self.password)
                if response is not None:
                    self.ice_checks += 1
                    self.sock.sendto(response, addr)
                    if has_use_candidate(data) and self.peer is None:
                        self.peer = addr
                        if not self.conn.is_server:
                            self.conn.connect(time.monotonic())
            elif kind is PacketKind.DTLS:
                self.peer = self.peer or addr
                self.conn.receive_datagram(data, time.monotonic())
            for datagram in self.conn.datagrams_to_send():
                assert self.peer is not None
                self.sock.sendto(datagram, self.peer)
            while (event := self.conn.next_event()) is not None:
                self.events.append(event)
                if isinstance(event, DtlsHandshakeComplete | DtlsClosed):
                    self.completed.set()


def answer_sdp(
    offer: str, ufrag: str, password: str, cert: Certificate, port: int, setup: str
) -> str:
    mid = re.search(r"^a=mid:(\S+)", offer, re.M)
    assert mid is not None
    lines = [
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        f"a=group:BUNDLE {mid.group(1)}",
        "a=ice-lite",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 127.0.0.1",
        "a=rtcp-mux",
        f"a=mid:{mid.group(1)}",
        "a=sendonly",
        "a=rtpmap:111 opus/48000/2",
        f"a=ice-ufrag:{ufrag}",
        f"a=ice-pwd:{password}",
        f"a=fingerprint:sha-256 {cert.fingerprint()}",
        f"a=setup:{setup}",
        f"a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host",
        "a=end-of-candidates",
    ]
    return "\r\n".join(lines) + "\r\n"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = require_program("chromium", "/usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--allow-loopback-in-peer-connection",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


@pytest.mark.parametrize("our_role", ["server", "client"])
def test_handshake_with_chromium(browser: object, our_role: str) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    peer: IceLiteDtlsPeer | None = None
    try:
        offer: str = page.evaluate(PAGE, None)
        match = re.search(r"^a=fingerprint:(\S+) (\S+)", offer, re.M)
        assert match is not None
        chromium_fingerprint = (match.group(1), match.group(2))
        cert = Certificate.generate()
        conn = DtlsConnection(
            is_server=our_role == "server",
            certificate=cert,
            remote_fingerprints=[chromium_fingerprint],
        )
        ufrag, password = secrets.token_hex(4), secrets.token_hex(16)
        peer = IceLiteDtlsPeer(sock, password.encode(), conn)
        peer.start()
        # Chromium's setup in the offer is actpass: "passive" makes us the DTLS server.
        setup = "passive" if our_role == "server" else "active"
        answer = answer_sdp(offer, ufrag, password, cert, sock.getsockname()[1], setup)
        state = page.evaluate(CONNECT, answer)
        assert peer.completed.wait(timeout=10), (state, dict(conn.counters))
        assert state == "connected", (state, peer.events, dict(conn.counters))
        done = [e for e in peer.events if isinstance(e, DtlsHandshakeComplete)]
        assert done and done[0].peer_fingerprint == chromium_fingerprint[1].upper()
        assert not any(isinstance(e, DtlsClosed) for e in peer.events)
        assert done[0].srtp_profile is not None
        if our_role == "server":  # our preference decides; Chromium offers the AEAD profiles
            assert done[0].srtp_profile == SrtpProfile.SRTP_AEAD_AES_128_GCM
        assert len(conn.srtp_keying_material()) > 0
        assert peer.ice_checks > 0
    finally:
        if peer is not None:
            peer.stop.set()
            peer.join(timeout=5)
        sock.close()
        page.close()
