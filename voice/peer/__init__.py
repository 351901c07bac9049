"""A WebRTC audio call's transport as one sans-IO object (ICE + DTLS + SRTP + RTP/RTCP)."""

from voice.ice.events import IceConnected, IceSelectedPairChanged
from voice.peer.connection import PeerConnection, PeerState
from voice.peer.errors import PeerError, PeerUsageError
from voice.peer.events import (
    PeerAddressValidated,
    PeerClosed,
    PeerDtlsConnected,
    PeerEvent,
    PeerRtcpReceived,
    PeerRtpReceived,
)

__all__ = [
    "IceConnected",
    "IceSelectedPairChanged",
    "PeerAddressValidated",
    "PeerClosed",
    "PeerConnection",
    "PeerDtlsConnected",
    "PeerError",
    "PeerEvent",
    "PeerRtcpReceived",
    "PeerRtpReceived",
    "PeerState",
    "PeerUsageError",
]
