"""The relay <-> transceiver shim: a small header that carries the client's address.

Behind the relay, one internal UDP socket on each side serves every session, so the
transceiver cannot learn the client's address from the packet's source: it would see the
relay. The relay therefore prefixes every datagram it forwards with the client's address,
and the transceiver prefixes every datagram it sends back with the client to deliver it to
(VOICE-SHIM §1). The transceiver needs the real address for XOR-MAPPED-ADDRESS and to tell
sessions behind one relay apart; the relay needs it because it keeps nothing it cannot lose.

Version 1 (VOICE-SHIM §3)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Version = 1  |  Family (4|6) |          Client port          |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |        Client address (4 bytes for family 4, 16 for 6)        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           Payload: the client's datagram, unchanged ...       |

The header is 8 bytes for an IPv4 client and 20 for IPv6: both sides decode it with one
:mod:`struct` call and no allocation beyond the address string. There is no checksum (UDP
has one) and no authentication: the shim runs on a private network and each side accepts it
only from the other's configured addresses (VOICE-SHIM §7).
"""

from __future__ import annotations

import socket
import struct

from voice.errors import ParseError
from voice.relay.errors import RelayError, RelayUsageError
from voice.types import Address

#: VOICE-SHIM §3: the version this module writes and the only one it reads.
VERSION = 1
FAMILY_IPV4 = 4
FAMILY_IPV6 = 6
HEADER_IPV4 = 8
HEADER_IPV6 = 20

_V4 = struct.Struct("!BBH4s")
_V6 = struct.Struct("!BBH16s")
_PORT = struct.Struct("!H")
_V4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"  # ::ffff:0:0/96
_inet_ntop = socket.inet_ntop
_inet_pton = socket.inet_pton
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


class ShimError(RelayError, ParseError):
    """A shim header the receiver cannot use; the receiver drops the datagram and counts it."""


def shim_header(client: Address) -> bytes:
    """The header naming ``client``; the relay caches it per client, so forwarding is a concat.

    VOICE-SHIM §3: an IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is written as the
    IPv4 address it stands for, so the transceiver sees one spelling per client. A zone
    (``%eth0``) is dropped: it means nothing on the other host.
    """
    host, port = client
    if not 0 < port <= 0xFFFF:
        raise RelayUsageError(f"port {port} cannot be a client's source port")
    if ":" not in host:
        return _V4.pack(VERSION, FAMILY_IPV4, port, _inet_pton(_AF_INET, host))
    packed = _inet_pton(_AF_INET6, host.partition("%")[0])
    if packed[:12] == _V4_MAPPED_PREFIX:
        return _V4.pack(VERSION, FAMILY_IPV4, port, packed[12:])
    return _V6.pack(VERSION, FAMILY_IPV6, port, packed)


def encode_shim(client: Address, payload: bytes) -> bytes:
    """``payload`` with the shim header naming ``client`` in front (VOICE-SHIM §3)."""
    return shim_header(client) + payload


def decode_shim(data: bytes) -> tuple[Address, bytes]:
    """Splits a shim datagram into the client's address and the payload.

    Raises :class:`ShimError` for anything VOICE-SHIM §5 tells a receiver to drop: a
    version other than 1, an unknown family, a datagram shorter than its header, port 0,
    or an empty payload.
    """
    size = len(data)
    if size < HEADER_IPV4 or data[0] != VERSION:
        raise ShimError("not a version 1 shim header")
    family = data[1]
    if family == FAMILY_IPV4:
        end = HEADER_IPV4
        host = _inet_ntop(_AF_INET, data[4:8])
    elif family == FAMILY_IPV6:
        end = HEADER_IPV6
        if size < end:
            raise ShimError("datagram shorter than its IPv6 shim header")
        host = _inet_ntop(_AF_INET6, data[4:20])
    else:
        raise ShimError(f"unknown address family {family}")
    (port,) = _PORT.unpack_from(data, 2)
    if port == 0:
        raise ShimError("client port 0")
    if size == end:
        raise ShimError("empty payload")
    return (host, port), data[end:]
