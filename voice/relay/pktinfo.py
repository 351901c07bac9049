"""Answering from the address the peer wrote to, on a socket bound to a wildcard address.

A UDP socket bound to ``0.0.0.0`` (or ``::``) receives on every address of the host, but a
plain ``sendto`` leaves the choice of source address to the kernel's routing, which on a
host with several addresses (a VIP, anycast, a second interface, a browser's loopback and
LAN candidates) is often not the one the peer sent to. ICE pairs are 5-tuples: an answer
from another address belongs to no pair the peer knows and is ignored (issue 11 §5b,
VOICE-RELAY §11). So a wildcard socket asks the kernel for each datagram's destination
(``IP_PKTINFO`` / ``IPV6_RECVPKTINFO``) and names it as the source of the reply
(``IP_PKTINFO`` / ``IPV6_PKTINFO`` on ``sendmsg``). A socket bound to one address needs
none of this, and does not pay for it.

Linux's structures (``ip(7)``, ``ipv6(7)``): ``in_pktinfo`` is the interface index, the
local address to send from, and the header's destination address; ``in6_pktinfo`` is the
address and the interface index.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from voice.types import Address

#: Linux's value; Python's socket module does not export it.
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_IN_PKTINFO = struct.Struct("=I4s4s")
_IN6_PKTINFO = struct.Struct("=16sI")
_ANCILLARY = socket.CMSG_SPACE(_IN6_PKTINFO.size) + socket.CMSG_SPACE(_IN_PKTINFO.size)


def is_wildcard(sock: socket.socket) -> bool:
    """True if ``sock`` is bound to ``0.0.0.0`` or ``::``: replies need an explicit source."""
    host = sock.getsockname()[0]
    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_unspecified
    except ValueError:
        return False


def enable(sock: socket.socket) -> None:
    """Asks the kernel to report each received datagram's destination address."""
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        # A dual-stack socket reports IPv4 datagrams' destinations at the IPv4 level.
        v6only = sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
        if not v6only:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)


def receive(sock: socket.socket, size: int) -> tuple[bytes, Address, str | None]:
    """One datagram: ``(data, (host, port), local address it was sent to, or None)``.

    Raises what ``recvfrom`` raises (``BlockingIOError`` when there is none).
    """
    data, ancillary, _, source = sock.recvmsg(size, _ANCILLARY)
    local: str | None = None
    for level, kind, value in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= _IN_PKTINFO.size:
            local = socket.inet_ntop(socket.AF_INET, _IN_PKTINFO.unpack_from(value)[2])
        elif (
            level == socket.IPPROTO_IPV6
            and kind == socket.IPV6_PKTINFO
            and len(value) >= _IN6_PKTINFO.size
        ):
            local = socket.inet_ntop(socket.AF_INET6, _IN6_PKTINFO.unpack_from(value)[0])
    return data, (source[0], source[1]), local


def send(sock: socket.socket, data: bytes, peer: Address, local: str | None) -> None:
    """Sends ``data`` to ``peer`` from ``local`` (the kernel's choice when None)."""
    if local is None:
        sock.sendto(data, peer)
        return
    if ":" in local:
        info = _IN6_PKTINFO.pack(socket.inet_pton(socket.AF_INET6, local), 0)
        ancillary = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info)]
    else:
        info = _IN_PKTINFO.pack(0, socket.inet_pton(socket.AF_INET, local), bytes(4))
        ancillary = [(socket.IPPROTO_IP, IP_PKTINFO, info)]
    sock.sendmsg([data], ancillary, 0, peer)
