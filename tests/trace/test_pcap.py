"""The pcap writer: headers a dissector accepts, checksums that verify."""

from __future__ import annotations

import io
import struct

from voice.trace import PcapWriter, ip_udp_packet
from voice.trace.pcap import LINKTYPE_RAW


def ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def test_ipv4_packet_has_real_addresses_and_checksums_that_verify() -> None:
    packet = ip_udp_packet(("10.1.2.3", 50000), ("192.0.2.9", 3478), b"hello", ident=7)
    assert packet[0] == 0x45 and packet[9] == 17
    assert packet[12:16] == bytes([10, 1, 2, 3]) and packet[16:20] == bytes([192, 0, 2, 9])
    assert ones_complement_sum(packet[:20]) == 0xFFFF  # a valid header sums to all ones
    udp = packet[20:]
    assert struct.unpack("!HHH", udp[:6]) == (50000, 3478, 13)
    pseudo = packet[12:20] + struct.pack("!BBH", 0, 17, len(udp))
    assert ones_complement_sum(pseudo + udp) == 0xFFFF
    assert udp[8:] == b"hello"


def test_ipv6_packet_carries_a_mandatory_udp_checksum() -> None:
    packet = ip_udp_packet(("2001:db8::1", 1), ("2001:db8::2", 2), b"odd")
    assert packet[0] >> 4 == 6 and packet[6] == 17
    udp = packet[40:]
    pseudo = packet[8:40] + struct.pack("!IxxxB", len(udp), 17)
    assert ones_complement_sum(pseudo + udp) == 0xFFFF
    assert udp[6:8] != b"\0\0"


def test_mixed_families_are_written_as_mapped_ipv6() -> None:
    packet = ip_udp_packet(("127.0.0.1", 1), ("::1", 2), b"")
    assert packet[0] >> 4 == 6
    assert packet[8:24] == bytes(10) + b"\xff\xff" + bytes([127, 0, 0, 1])


def test_file_header_and_records() -> None:
    out = io.BytesIO()
    writer = PcapWriter(out)
    writer.write(1700000000.25, ("10.0.0.1", 1), ("10.0.0.2", 2), b"x")
    data = out.getvalue()
    magic, major, minor, _, _, snaplen, linktype = struct.unpack("!IHHiIII", data[:24])
    assert (magic, major, minor, snaplen, linktype) == (0xA1B2C3D4, 2, 4, 65535, LINKTYPE_RAW)
    seconds, micros, caplen, length = struct.unpack("!IIII", data[24:40])
    assert (seconds, micros) == (1700000000, 250000)
    assert caplen == length == len(data) - 40 == 20 + 8 + 1
