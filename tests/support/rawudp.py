"""UDP datagrams with a source port no ordinary socket can have (port 0), from a raw socket.

An attacker is not bound by ``bind()``: with a raw socket (or from any host that does not
run Linux's UDP stack) a datagram can claim source port 0, which the kernel then delivers to
our sockets like any other. Tests use this to send exactly what such an attacker sends.
Needs root (``CAP_NET_RAW``); :func:`raw_udp_available` tells a test whether to skip.
"""

from __future__ import annotations

import socket
import struct

from voice.types import Address


def raw_udp_available() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP).close()
    except PermissionError:
        return False
    return True


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF or 0xFFFF


def udp_datagram(source: Address, destination: Address, payload: bytes) -> bytes:
    """The UDP header and payload of a datagram, with a correct checksum for either family."""
    family = socket.AF_INET6 if ":" in destination[0] else socket.AF_INET
    length = 8 + len(payload)
    pseudo = (
        socket.inet_pton(family, source[0])
        + socket.inet_pton(family, destination[0])
        + (
            struct.pack("!BBH", 0, socket.IPPROTO_UDP, length)
            if family == socket.AF_INET
            else struct.pack("!I3xB", length, socket.IPPROTO_UDP)
        )
    )
    header = struct.pack("!HHHH", source[1], destination[1], length, 0)
    checksum = _checksum(pseudo + header + payload)
    return struct.pack("!HHHH", source[1], destination[1], length, checksum) + payload


def send_raw_udp(source: Address, destination: Address, payload: bytes) -> None:
    """Sends ``payload`` to ``destination`` as if from ``source`` (any port, 0 included)."""
    family = socket.AF_INET6 if ":" in destination[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_UDP) as sock:
        sock.bind((source[0], 0))
        # An IPv6 raw socket sends the port field of the address as 0; the kernel fills in
        # the IP header (and its source, the bound address), we give the UDP header.
        sock.sendto(udp_datagram(source, destination, payload), (destination[0], 0))
