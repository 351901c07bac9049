"""A WebRTC audio call's transport as one sans-IO object (ICE + DTLS + SRTP + RTP/RTCP)."""

from voice.peer.connection import PeerConnection, State
from voice.peer.events import (
    AddressValidated,
    Closed,
    DtlsConnected,
    IceConnected,
    PathChanged,
    PeerEvent,
    RtcpReceived,
    RtpReceived,
)

__all__ = [
    "AddressValidated",
    "Closed",
    "DtlsConnected",
    "IceConnected",
    "PathChanged",
    "PeerConnection",
    "PeerEvent",
    "RtcpReceived",
    "RtpReceived",
    "State",
]
