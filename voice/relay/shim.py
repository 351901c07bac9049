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
from dataclasses import dataclass

from voice.relay.errors import RelayParseError, RelayUsageError
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

    Raises :class:`RelayParseError` for anything VOICE-SHIM §5 tells a receiver to drop: a
    version other than 1, an unknown family, a datagram shorter than its header, port 0,
    or an empty payload.
    """
    size = len(data)
    if size < HEADER_IPV4 or data[0] != VERSION:
        raise RelayParseError("not a version 1 shim header")
    family = data[1]
    if family == FAMILY_IPV4:
        end = HEADER_IPV4
        host = _inet_ntop(_AF_INET, data[4:8])
    elif family == FAMILY_IPV6:
        end = HEADER_IPV6
        if size < end:
            raise RelayParseError("datagram shorter than its IPv6 shim header")
        host = _inet_ntop(_AF_INET6, data[4:20])
    else:
        raise RelayParseError(f"unknown address family {family}")
    (port,) = _PORT.unpack_from(data, 2)
    if port == 0:
        raise RelayParseError("client port 0")
    if size == end:
        raise RelayParseError("empty payload")
    return (host, port), data[end:]


# -- version 2: cross-cluster forwarding (VOICE-SHIM §10) ------------------------------------

#: VOICE-SHIM §10: the version that carries a call across clusters.
VERSION_FORWARD = 2
#: VOICE-SHIM §10: toward the transceiver that owns the call, and toward the client.
INBOUND = 1
OUTBOUND = 2
FAMILY_NONE = 0

_FORWARD = struct.Struct("!BBHBBHHH")  # version, family, port, direction, via family/port, ids
FORWARD_FIXED = _FORWARD.size  # 12
_ADDRESS_SIZE = {FAMILY_IPV4: 4, FAMILY_IPV6: 16}


def _pack_address(host: str) -> tuple[int, bytes]:
    """``(family, packed)`` with the spelling rules of VOICE-SHIM §3 (mapped IPv4 is IPv4)."""
    if ":" not in host:
        return FAMILY_IPV4, _inet_pton(_AF_INET, host)
    packed = _inet_pton(_AF_INET6, host.partition("%")[0])
    if packed[:12] == _V4_MAPPED_PREFIX:
        return FAMILY_IPV4, packed[12:]
    return FAMILY_IPV6, packed


def forward_header(
    client: Address, direction: int, cluster: int, transceiver: int, via: Address | None
) -> bytes:
    """The version 2 header (VOICE-SHIM §10): the client, which way the payload travels,
    the session's cluster and transceiver (from its routing token), and the ingress relay's
    backbone address (``via``) on the owning cluster's private leg, None on the backbone.

    The ids let the owning relay route an ingress relay's datagrams without a token (only
    the first is a check) and without state; ``via`` lets it route the transceiver's replies
    back to the ingress without state. Both sides of a call echo it, so losing any relay's
    table loses nothing.
    """
    host, port = client
    if not 0 < port <= 0xFFFF:
        raise RelayUsageError(f"port {port} cannot be a client's source port")
    if direction not in (INBOUND, OUTBOUND):
        raise RelayUsageError(f"direction {direction} is neither inbound (1) nor outbound (2)")
    family, packed = _pack_address(host)
    via_family, via_packed, via_port = FAMILY_NONE, b"", 0
    if via is not None:
        via_port = via[1]
        if not 0 < via_port <= 0xFFFF:
            raise RelayUsageError(f"port {via_port} cannot be a relay's port")
        via_family, via_packed = _pack_address(via[0])
    fixed = _FORWARD.pack(
        VERSION_FORWARD, family, port, direction, via_family, via_port, cluster, transceiver
    )
    return fixed + packed + via_packed


@dataclass(frozen=True, slots=True)
class Forward:
    """A decoded version 2 shim datagram (VOICE-SHIM §10)."""

    client: Address
    direction: int
    cluster: int
    transceiver: int
    via: Address | None
    payload: bytes

    def reply_header(self) -> bytes:
        """The header of a reply: same client, ids and via, travelling the other way."""
        return forward_header(self.client, OUTBOUND, self.cluster, self.transceiver, self.via)


def _unpack_address(family: int, data: bytes) -> str:
    return _inet_ntop(_AF_INET if family == FAMILY_IPV4 else _AF_INET6, data)


def decode_forward(data: bytes) -> Forward:
    """Splits a version 2 shim datagram; :class:`RelayParseError` for anything VOICE-SHIM §10 (and
    §5) tells a receiver to drop."""
    size = len(data)
    if size < FORWARD_FIXED or data[0] != VERSION_FORWARD:
        raise RelayParseError("not a version 2 shim header")
    _, family, port, direction, via_family, via_port, cluster, transceiver = _FORWARD.unpack_from(
        data
    )
    client_size = _ADDRESS_SIZE.get(family)
    if client_size is None:
        raise RelayParseError(f"unknown address family {family}")
    if via_family == FAMILY_NONE:
        via_size = 0
        if via_port != 0:
            raise RelayParseError("a via port without a via address")
    else:
        found = _ADDRESS_SIZE.get(via_family)
        if found is None:
            raise RelayParseError(f"unknown via family {via_family}")
        via_size = found
        if via_port == 0:
            raise RelayParseError("via port 0")
    if direction not in (INBOUND, OUTBOUND):
        raise RelayParseError(f"unknown direction {direction}")
    if port == 0:
        raise RelayParseError("client port 0")
    end = FORWARD_FIXED + client_size + via_size
    if size < end:
        raise RelayParseError("datagram shorter than its version 2 header")
    if size == end:
        raise RelayParseError("empty payload")
    client = (_unpack_address(family, data[FORWARD_FIXED : FORWARD_FIXED + client_size]), port)
    via = None
    if via_size:
        via_start = FORWARD_FIXED + client_size
        via = (_unpack_address(via_family, data[via_start:end]), via_port)
    return Forward(client, direction, cluster, transceiver, via, data[end:])
