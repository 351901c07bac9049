"""ICE candidates: priorities (RFC 8445 §5.1.2) and the SDP "candidate" attribute (RFC 8839 §5.1).

An ICE-lite server has exactly one kind of candidate, a host candidate on its public
address, so :func:`host_candidate` is all the answer needs. :class:`Candidate` also parses
the attribute, so tests (and anyone reading a browser's offer) can check the grammar both
ways.

The attribute value, the text after ``a=candidate:`` in SDP, reads::

    foundation component-id transport priority connection-address port typ cand-type
        [raddr rel-addr] [rport rel-port] *(extension-name extension-value)

for example ``1 1 udp 2130706431 203.0.113.7 3478 typ host``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from voice.ice.credentials import ICE_CHARS

#: RFC 8445 §5.1.2.2: recommended type preferences (126 for host, 0 for relayed).
TYPE_PREFERENCE = {"host": 126, "prflx": 110, "srflx": 100, "relay": 0}

_TOKEN = re.compile(r"^[A-Za-z0-9!%'*+\-.^_`{|}~]+$")  # RFC 3261 token characters
_DIGITS = re.compile(r"^[0-9]+$")


class CandidateParseError(ValueError):
    """A candidate attribute does not follow the RFC 8839 §5.1 grammar."""


def candidate_priority(type_preference: int, local_preference: int, component: int) -> int:
    """The priority of a candidate (RFC 8445 §5.1.2.1).

    ``2**24 * type_preference + 2**8 * local_preference + (256 - component)``: the type
    dominates, then the local preference (which interface or address family), then the
    component, with RTP (1) above RTCP (2).
    """
    if not 0 <= type_preference <= 126:
        raise ValueError("type preference is 0 to 126")
    if not 0 <= local_preference <= 65535:
        raise ValueError("local preference is 0 to 65535")
    if not 1 <= component <= 256:
        raise ValueError("component id is 1 to 256")
    return (type_preference << 24) + (local_preference << 8) + (256 - component)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One ``a=candidate`` attribute value (RFC 8839 §5.1)."""

    foundation: str
    component: int
    transport: str
    priority: int
    host: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    extensions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, value: str) -> Candidate:
        """Parses the attribute value; a leading ``a=`` or ``candidate:`` is accepted too.

        Raises :class:`CandidateParseError` on anything outside the grammar.
        """
        text = value.strip()
        text = text.removeprefix("a=")
        text = text.removeprefix("candidate:")
        fields = text.split(" ")
        if len(fields) < 8 or fields[6] != "typ":
            raise CandidateParseError("a candidate needs 8 fields ending with 'typ <type>'")
        foundation, component, transport, priority, host, port, _, kind = fields[:8]
        # RFC 8839 §5.1: the foundation is 1 to 32 ice-chars.
        if not 1 <= len(foundation) <= 32 or any(ch not in ICE_CHARS for ch in foundation):
            raise CandidateParseError(f"foundation {foundation!r} is not 1*32ice-char")
        comp = _number(component, 3, "component-id")
        if not 1 <= comp <= 256:
            raise CandidateParseError("component-id is 1 to 256")
        if not _TOKEN.match(transport):
            raise CandidateParseError(f"transport {transport!r} is not a token")
        prio = _number(priority, 10, "priority")
        if not 1 <= prio <= 2**31 - 1:
            raise CandidateParseError("priority is 1 to 2**31-1")
        if not host or not _TOKEN.match(host.replace(":", "")):
            raise CandidateParseError(f"connection-address {host!r}")
        port_number = _port(port)
        if not _TOKEN.match(kind):
            raise CandidateParseError(f"candidate type {kind!r} is not a token")
        rest = fields[8:]
        raddr: str | None = None
        rport: int | None = None
        if len(rest) >= 2 and rest[0] == "raddr":
            raddr, rest = rest[1], rest[2:]
        if len(rest) >= 2 and rest[0] == "rport":
            rport, rest = _port(rest[1]), rest[2:]
        if len(rest) % 2:
            raise CandidateParseError("extensions come in name/value pairs")
        extensions = []
        for name, ext_value in zip(rest[::2], rest[1::2], strict=True):
            if not _TOKEN.match(name) or not ext_value.isprintable():
                raise CandidateParseError(f"extension {name!r}")
            extensions.append((name, ext_value))
        return cls(
            foundation,
            comp,
            transport,
            prio,
            host,
            port_number,
            kind,
            raddr,
            rport,
            tuple(extensions),
        )

    def encode(self) -> str:
        """The attribute value, ready to follow ``a=candidate:``."""
        parts = [
            self.foundation,
            str(self.component),
            self.transport,
            str(self.priority),
            self.host,
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


def _number(text: str, digits: int, what: str) -> int:
    if not _DIGITS.match(text) or len(text) > digits:
        raise CandidateParseError(f"{what} {text!r} is not 1*{digits}DIGIT")
    return int(text)


def _port(text: str) -> int:
    number = _number(text, 5, "port")
    if number > 65535:
        raise CandidateParseError("port above 65535")
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
        raise ValueError("port is 1 to 65535")
    if not 1 <= len(foundation) <= 32 or any(ch not in ICE_CHARS for ch in foundation):
        raise ValueError("foundation is 1 to 32 ice-chars")
    priority = candidate_priority(TYPE_PREFERENCE["host"], local_preference, component)
    return Candidate(foundation, component, "udp", priority, str(address), port, "host").encode()
