"""What a :class:`voice.peer.PeerConnection` reports to its driver.

Events are named ``<Layer><WhatHappened>`` and defined once, in the layer they come from:
the connection passes ICE's own :class:`~voice.ice.IceConnected` and
:class:`~voice.ice.IceSelectedPairChanged` on (with the address media goes to), and defines
here only what happens in the connection as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from voice.ice.events import IceConnected, IceSelectedPairChanged
from voice.rtp import RtcpPacket, RtpPacket
from voice.srtp.profiles import SrtpProfile
from voice.types import Address


@dataclass(frozen=True, slots=True)
class PeerAddressValidated:
    """An authenticated ICE check arrived from ``address``: its datagrams belong to this call."""

    address: Address


@dataclass(frozen=True, slots=True)
class PeerDtlsConnected:
    """The DTLS handshake finished and SRTP is keyed with ``profile``: media can flow."""

    profile: SrtpProfile


@dataclass(frozen=True, slots=True)
class PeerRtpReceived:
    """An authenticated, decrypted RTP packet."""

    packet: RtpPacket
    received_at: float


@dataclass(frozen=True, slots=True)
class PeerRtcpReceived:
    """An authenticated, decrypted compound RTCP packet."""

    packets: tuple[RtcpPacket, ...]


@dataclass(frozen=True, slots=True)
class PeerClosed:
    """The call is over; ``reason`` says why (consent expiry, close_notify, an alert, ...)."""

    reason: str


#: ICE's events carry, in a peer connection, the address media goes to (for the controlling
#: client that is the server it checks, not its own mapped address).
PeerEvent = (
    PeerAddressValidated
    | IceConnected
    | IceSelectedPairChanged
    | PeerDtlsConnected
    | PeerRtpReceived
    | PeerRtcpReceived
    | PeerClosed
)
