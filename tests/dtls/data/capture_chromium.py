"""Captures the DTLS ClientHello that a real Chromium sends in a WebRTC call.

Not a test: run it by hand (``.venv/bin/python tests/dtls/data/capture_chromium.py``) to
refresh ``chromium_client_hello.hex``. Two RTCPeerConnections in one headless Chromium page
call each other through a UDP relay in this script; each is told the other lives at the relay
(the SDP candidates are rewritten), so every packet passes through here, and the first DTLS
records (first byte 22, RFC 7983) are the ClientHello of the answering side, the DTLS client,
in as many datagrams as it takes.
"""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from tests.dtls.hello import save_flight  # noqa: E402

PAGE_SCRIPT = """
async ([portA, portB]) => {
  const only = (sdp, port) => sdp.split('\\r\\n').filter(l => !l.startsWith('a=candidate'))
      .join('\\r\\n').replace(/(a=mid:[^\\r]*\\r\\n)/,
      `$1a=candidate:1 1 udp 2122260223 127.0.0.1 ${port} typ host generation 0\\r\\n`);
  const gathered = pc => new Promise(r => {
    if (pc.iceGatheringState === 'complete') r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
  });
  const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
  pc1.addTransceiver('audio');
  await pc1.setLocalDescription(await pc1.createOffer());
  await gathered(pc1);
  await pc2.setRemoteDescription({type: 'offer', sdp: only(pc1.localDescription.sdp, portA)});
  await pc2.setLocalDescription(await pc2.createAnswer());
  await gathered(pc2);
  await pc1.setRemoteDescription({type: 'answer', sdp: only(pc2.localDescription.sdp, portB)});
  const start = Date.now();
  while (pc1.connectionState !== 'connected' && Date.now() - start < 10000) {
    await new Promise(r => setTimeout(r, 50));
  }
  return [pc1.connectionState, navigator.userAgent];
}
"""


def relay(a: socket.socket, b: socket.socket, hellos: list[bytes], stop: threading.Event) -> None:
    """Packets reaching A come from pc2 and go to pc1 through B, and the other way round."""
    peer_of = {a: None, b: None}  # the real address of whoever sends to this socket
    other = {a: b, b: a}
    answered = threading.Event()
    a.settimeout(0.05)
    b.settimeout(0.05)
    while not stop.is_set():
        for sock in (a, b):
            try:
                data, addr = sock.recvfrom(65536)
            except TimeoutError:
                continue
            peer_of[sock] = addr
            if data[:1] == b"\x16":
                if sock is b:
                    answered.set()  # the DTLS server spoke: the hello is complete
                elif not answered.is_set():
                    hellos.append(data)
            target = peer_of[other[sock]]
            if target is not None:
                other[sock].sendto(data, target)


def main() -> int:
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    hellos: list[bytes] = []
    stop = threading.Event()
    thread = threading.Thread(target=relay, args=(a, b, hellos, stop), daemon=True)
    thread.start()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
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
        page = browser.new_page()
        state, agent = page.evaluate(PAGE_SCRIPT, [a.getsockname()[1], b.getsockname()[1]])
        browser.close()
    stop.set()
    thread.join()
    print(state, agent)
    if not hellos:
        print("no DTLS ClientHello seen", file=sys.stderr)
        return 1
    save_flight("chromium", agent, hellos)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
