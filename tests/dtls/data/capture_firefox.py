"""Captures the DTLS ClientHello that a real Firefox (NSS) sends in a WebRTC call.

Not a test: run it by hand, as root, in a network namespace with only loopback, to
refresh ``firefox_client_hello.hex``:

    unshare --net sh -c \
        'ip link set lo up && exec .venv/bin/python tests/dtls/data/capture_firefox.py'

It starts ``voice serve``, places an echo call from Firefox (tests/support/firefox.py) and
watches the loopback interface with a packet socket: the DTLS records (first byte 22,
RFC 7983) that reach the server's media port before the server sends its own first DTLS
datagram are Firefox's ClientHello, in as many datagrams as it takes.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from tests.dtls.hello import save_flight  # noqa: E402
from tests.support.firefox import firefox_with_speaker  # noqa: E402
from tests.support.server import voice_serve  # noqa: E402

ETH_P_ALL = 0x0003
PACKET_HOST = 0  # as received (loopback shows each packet once more as outgoing)


def udp_payloads(
    raw: socket.socket, stop: threading.Event, out: list[tuple[int, int, bytes]]
) -> None:
    """(source port, destination port, payload) of every IPv4 UDP packet on lo."""
    raw.settimeout(0.1)
    while not stop.is_set():
        try:
            frame, address = raw.recvfrom(65536)
        except TimeoutError:
            continue
        if address[2] != PACKET_HOST or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        header = (ip[0] & 0x0F) * 4
        if ip[9] != 17:
            continue
        sport, dport = struct.unpack("!HH", ip[header : header + 4])
        out.append((sport, dport, bytes(ip[header + 8 :])))


def main() -> int:
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    raw.bind(("lo", 0))
    packets: list[tuple[int, int, bytes]] = []
    stop = threading.Event()
    sniffer = threading.Thread(target=udp_payloads, args=(raw, stop, packets), daemon=True)
    sniffer.start()
    with voice_serve() as server, firefox_with_speaker() as browser:
        port = int(server.wait_for_log(r"media on udp [\d.]+:(\d+)").group(1))
        page = browser.new_page()
        page.goto(f"{server.url}?raw=1&agent=echo")
        page.evaluate("voice.start()")
        page.wait_for_function("voice.dtls === 'connected' || voice.error", timeout=20_000)
        agent = page.evaluate("navigator.userAgent")
        page.evaluate("voice.hangup()")
    stop.set()
    sniffer.join()
    hello: list[bytes] = []
    for sport, dport, payload in packets:
        if payload[:1] != b"\x16":
            continue
        if sport == port:
            break  # the server answered: the hello was complete
        if dport == port:
            hello.append(payload)
    if not hello:
        print("no DTLS ClientHello seen", file=sys.stderr)
        return 1
    save_flight("firefox", agent, hello)
    print(agent, [len(d) for d in hello])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
