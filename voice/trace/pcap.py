"""A pcap writer for datagrams we saw, with synthetic IP and UDP headers.

The stack sees UDP payloads and addresses, not frames; Wireshark wants packets. Each datagram
is wrapped in an IPv4 (or IPv6) and UDP header carrying the real addresses and ports, with
correct checksums so no dissector complains, and written with the raw-IP link type. The
classic pcap format is enough: one interface, microsecond timestamps.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import BinaryIO

from voice.types import Address

#: LINKTYPE_RAW: each packet starts with an IPv4 or IPv6 header.
LINKTYPE_RAW = 101
_MAGIC = 0xA1B2C3D4
_SNAPLEN = 65535


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(host.split("%", 1)[0])


def ip_udp_packet(src: Address, dst: Address, payload: bytes, ident: int = 0) -> bytes:
    """One IP packet holding a UDP datagram from ``src`` to ``dst`` (checksums filled in)."""
    s, d = _ip(src[0]), _ip(dst[0])
    if s.version != d.version:  # a v4 peer seen on a v6 socket: write both as v6
        s = ipaddress.IPv6Address(f"::ffff:{s}") if s.version == 4 else s
        d = ipaddress.IPv6Address(f"::ffff:{d}") if d.version == 4 else d
    length = 8 + len(payload)
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, 17, length)
    else:
        pseudo = s.packed + d.packed + struct.pack("!IxxxB", length, 17)
    udp = struct.pack("!HHHH", src[1], dst[1], length, 0) + payload
    checksum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", checksum) + udp[8:]
    if s.version == 4:
        header = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + length, ident & 0xFFFF, 0x4000, 64, 17, 0,
            s.packed, d.packed,
        )  # fmt: skip
        header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        return header + udp
    header = struct.pack("!IHBB16s16s", 0x60000000, length, 17, 64, s.packed, d.packed)
    return header + udp


class PcapWriter:
    """Writes datagrams to a pcap file; ``timestamp`` is wall-clock seconds."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._ident = 0
        out.write(struct.pack("!IHHiIII", _MAGIC, 2, 4, 0, 0, _SNAPLEN, LINKTYPE_RAW))

    def write(self, timestamp: float, src: Address, dst: Address, payload: bytes) -> None:
        self._ident += 1
        packet = ip_udp_packet(src, dst, payload, self._ident)
        seconds = int(timestamp)
        micros = min(int((timestamp - seconds) * 1_000_000), 999_999)
        self._out.write(struct.pack("!IIII", seconds, micros, len(packet), len(packet)))
        self._out.write(packet)
        self._out.flush()  # a capture is read while it grows (and survives a kill)

    def flush(self) -> None:
        self._out.flush()
