"""ICE candidates: priorities (RFC 8445 §5.1.2) and the SDP "candidate" attribute (RFC 8839 §5.1).

An ICE-lite server has exactly one kind of candidate, a host candidate on its public
address, so :func:`host_candidate` is all the answer needs. :class:`Candidate` also parses
the attribute, so tests (and anyone reading a browser's offer) can check the grammar both
ways. It is the only candidate grammar in ``voice``: :mod:`voice.sdp` reads the offer's and
answer's ``a=candidate`` lines with it too, turning :class:`IceParseError` into its own
``SdpParseError`` with the line number (:func:`voice.sdp.attributes.parse_candidate`).

The attribute value, the text after ``a=candidate:`` in SDP, reads::

    foundation component-id transport priority connection-address port typ cand-type
        [raddr rel-addr] [rport rel-port] *(extension-name extension-value)

for example ``1 1 udp 2130706431 203.0.113.7 3478 typ host``.
"""

from __future__ import annotations

import ipaddress
import string
from dataclasses import dataclass

from voice.ice.credentials import is_ice_string
from voice.ice.errors import IceParseError, IceUsageError

#: RFC 8445 §5.1.2.2: recommended type preferences (126 for host, 0 for relayed).
TYPE_PREFERENCE = {"host": 126, "prflx": 110, "srflx": 100, "relay": 0}

# RFC 8839 §5.1 takes ``token`` from SIP (RFC 3261): letters, digits and - . ! % * _ + ` ' ~.
# The transport, the candidate type and extension names are tokens.
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")
# A connection address is an IP literal (IPv6 adds ':') or a host name (mDNS candidates).
_ADDRESS_CHARS = _TOKEN_CHARS | {":"}
# An extension value is *VCHAR: visible ASCII, no space.
_VCHARS = frozenset(chr(c) for c in range(0x21, 0x7F))
_PREFIXES = ("a=candidate:", "candidate:")


def candidate_priority(type_preference: int, local_preference: int, component: int) -> int:
    """The priority of a candidate (RFC 8445 §5.1.2.1).

    ``2**24 * type_preference + 2**8 * local_preference + (256 - component)``: the type
    dominates, then the local preference (which interface or address family), then the
    component, with RTP (1) above RTCP (2).
    """
    if not 0 <= type_preference <= 126:
        raise IceUsageError("type preference is 0 to 126")
    if not 0 <= local_preference <= 65535:
        raise IceUsageError("local preference is 0 to 65535")
    if not 1 <= component <= 256:
        raise IceUsageError("component id is 1 to 256")
    return (type_preference << 24) + (local_preference << 8) + (256 - component)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One ``a=candidate`` attribute value (RFC 8839 §5.1).

    ``address`` is the connection address: an IP literal or, for a browser's
    mDNS-obfuscated candidates, a host name (:attr:`ip` tells them apart). ``extensions``
    keeps the name/value pairs after the standard fields (Chrome's ``generation 0
    network-id 1``...) in order, so a parsed candidate encodes back unchanged.
    """

    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    extensions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, value: str) -> Candidate:
        """Parses the attribute value; a leading ``candidate:`` (JSEP's form) or
        ``a=candidate:`` (a whole SDP line) is accepted too.

        Raises :class:`IceParseError`, and only that, on anything outside the grammar.
        """
        text = next((value[len(p) :] for p in _PREFIXES if value.startswith(p)), value)
        fields = text.split(" ")
        if len(fields) < 8 or fields[6] != "typ" or not all(fields):
            raise IceParseError(
                "a candidate is <foundation> <component> <transport> <priority> <address> "
                "<port> typ <type>, separated by single spaces"
            )
        foundation, component, transport, priority, address, port, _, kind = fields[:8]
        if not is_ice_string(foundation, 1, 32):
            raise IceParseError(f"foundation {foundation!r} is not 1 to 32 ice-chars")
        component_id = _number(component, 3, "component-id")
        if not 1 <= component_id <= 256:
            raise IceParseError("component-id is 1 to 256")
        if not _TOKEN_CHARS.issuperset(transport):
            raise IceParseError(f"transport {transport!r} is not a token")
        # RFC 8445 §5.1.2: a priority is a positive 31-bit number.
        priority_value = _number(priority, 10, "priority")
        if not 1 <= priority_value <= 2**31 - 1:
            raise IceParseError("priority is 1 to 2**31-1")
        _check_address(address)
        port_number = _port(port)
        if not _TOKEN_CHARS.issuperset(kind):
            raise IceParseError(f"candidate type {kind!r} is not a token")
        # raddr and rport, when present, come first and in this order; anything after them
        # is an extension, even one that happens to be named "raddr".
        rest = fields[8:]
        related_address: str | None = None
        related_port: int | None = None
        if len(rest) >= 2 and rest[0] == "raddr":
            related_address, rest = _check_address(rest[1]), rest[2:]
        if len(rest) >= 2 and rest[0] == "rport":
            related_port, rest = _port(rest[1]), rest[2:]
        if len(rest) % 2:
            raise IceParseError("extensions come in <name> <value> pairs")
        extensions = []
        for name, ext_value in zip(rest[::2], rest[1::2], strict=True):
            # RFC 8839 §5.1: extensions a receiver does not know are ignored; we keep them.
            if not _TOKEN_CHARS.issuperset(name) or not _VCHARS.issuperset(ext_value):
                raise IceParseError(f"extension {name!r} {ext_value!r}: a token and visible ASCII")
            extensions.append((name, ext_value))
        return cls(
            foundation,
            component_id,
            transport,
            priority_value,
            address,
            port_number,
            kind,
            related_address,
            related_port,
            tuple(extensions),
        )

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The address as an IP address, or None for a host name (mDNS) candidate."""
        try:
            return ipaddress.ip_address(self.address)
        except ValueError:
            return None

    def encode(self) -> str:
        """The attribute value, ready to follow ``a=candidate:``."""
        parts = [
            self.foundation,
            str(self.component),
            self.transport,
            str(self.priority),
            self.address,
            str(self.port),
            "typ",
            self.type,
        ]
        if self.related_address is not None:
            parts += ["raddr", self.related_address]
        if self.related_port is not None:
            parts += ["rport", str(self.related_port)]
        for name, value in self.extensions:
            parts += [name, value]
        return " ".join(parts)

    def __str__(self) -> str:
        """The same as :meth:`encode`: SDP attribute values format themselves with ``str()``."""
        return self.encode()


def _check_address(text: str) -> str:
    if not _ADDRESS_CHARS.issuperset(text):
        raise IceParseError(f"connection-address {text!r}")
    return text


def _number(text: str, digits: int, what: str) -> int:
    # isdigit() alone would let Unicode digits through, and int() spaces and underscores.
    if not (text.isascii() and text.isdigit()) or len(text) > digits:
        raise IceParseError(f"{what} {text!r} is not 1 to {digits} digits")
    return int(text)


def _port(text: str) -> int:
    number = _number(text, 5, "port")
    if number > 65535:
        raise IceParseError("port above 65535")
    return number


def host_candidate(
    host: str,
    port: int,
    *,
    component: int = 1,
    foundation: str = "1",
    local_preference: int = 65535,
) -> str:
    """The ``a=candidate`` value for a UDP host candidate on ``host:port``.

    This is the only candidate an ICE-lite agent offers (RFC 8445 §2.5): its public address.
    The priority follows RFC 8445 §5.1.2.1 with the host type preference of 126, so with
    the defaults it is 2130706431. ``host`` must be an IP literal.
    """
    address = ipaddress.ip_address(host)  # ValueError for a name: we advertise addresses
    if not 1 <= port <= 65535:
        raise IceUsageError("port is 1 to 65535")
    if not is_ice_string(foundation, 1, 32):
        raise IceUsageError("foundation is 1 to 32 ice-chars")
    priority = candidate_priority(TYPE_PREFERENCE["host"], local_preference, component)
    return Candidate(foundation, component, "udp", priority, str(address), port, "host").encode()
