"""What the ICE agents report to their driver.

Events are plain frozen dataclasses, drained one at a time with ``next_event()``. The
transceiver reacts to them: it starts DTLS towards the address of :class:`IceConnected`, moves
its media to the address of :class:`IceSelectedPairChanged`, and tears the session down on
:class:`IceConsentExpired`.
"""

from __future__ import annotations

from dataclasses import dataclass

from voice.types import Address


@dataclass(frozen=True, slots=True)
class IceConnected:
    """The first pair was nominated: send media to ``address`` from now on.

    For the lite agent ``address`` is the peer's transport address; for the controlling
    client it is the client's own reflexive address as the server saw it
    (XOR-MAPPED-ADDRESS).
    """

    address: Address


@dataclass(frozen=True, slots=True)
class IceSelectedPairChanged:
    """The peer moved (a new nomination, or NAT rebinding): send media to ``address``."""

    address: Address


@dataclass(frozen=True, slots=True)
class IceConsentExpired:
    """No proof of the peer's consent for the consent timeout (RFC 7675 §5.1): stop sending."""


IceEvent = IceConnected | IceSelectedPairChanged | IceConsentExpired
