"""What a :class:`voice.peer.PeerConnection` reports to its driver."""

from __future__ import annotations

from dataclasses import dataclass

from voice.rtp import RtcpPacket, RtpPacket
from voice.srtp.profiles import SrtpProfile
from voice.types import Address


@dataclass(frozen=True, slots=True)
class AddressValidated:
    """An authenticated ICE check arrived from ``address``: its datagrams belong to this call."""

    address: Address


@dataclass(frozen=True, slots=True)
class IceConnected:
    """ICE has a path: media and DTLS go to ``address`` from now on."""

    address: Address


@dataclass(frozen=True, slots=True)
class PathChanged:
    """The client's address changed (a new nomination or a NAT rebinding)."""

    address: Address


@dataclass(frozen=True, slots=True)
class DtlsConnected:
    """The DTLS handshake finished and SRTP is keyed with ``profile``: media can flow."""

    profile: SrtpProfile


@dataclass(frozen=True, slots=True)
class RtpReceived:
    """An authenticated, decrypted RTP packet."""

    packet: RtpPacket
    received_at: float


@dataclass(frozen=True, slots=True)
class RtcpReceived:
    """An authenticated, decrypted compound RTCP packet."""

    packets: tuple[RtcpPacket, ...]


@dataclass(frozen=True, slots=True)
class Closed:
    """The call is over; ``reason`` says why (consent expiry, close_notify, an alert, ...)."""

    reason: str


PeerEvent = (
    AddressValidated
    | IceConnected
    | PathChanged
    | DtlsConnected
    | RtpReceived
    | RtcpReceived
    | Closed
)
