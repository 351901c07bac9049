"""What a :class:`~voice.dtls.connection.DtlsConnection` reports to its driver.

Events are plain frozen dataclasses, drained one at a time with ``next_event()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from voice.dtls.registry import AlertDescription, CipherSuite
from voice.srtp.profiles import SrtpProfile


@dataclass(frozen=True, slots=True)
class DtlsHandshakeComplete:
    """The handshake finished and the peer proved it holds the certificate SDP named.

    ``srtp_profile`` is the profile negotiated with use_srtp (None when SRTP was not asked
    for); ``peer_fingerprint`` is the SHA-256 fingerprint of the peer's certificate in SDP form
    (None only when the peer sent no certificate and none was required).
    """

    srtp_profile: SrtpProfile | None
    cipher_suite: CipherSuite
    peer_fingerprint: str | None


@dataclass(frozen=True, slots=True)
class DtlsApplicationData:
    data: bytes


@dataclass(frozen=True, slots=True)
class DtlsClosed:
    """The connection is over; nothing more will be sent or delivered.

    ``alert`` is the alert that ended it, if any (``close_notify`` for an orderly close),
    and ``by_peer`` says who sent it. A handshake that timed out has no alert.
    """

    reason: str
    alert: AlertDescription | None
    by_peer: bool


DtlsEvent = DtlsHandshakeComplete | DtlsApplicationData | DtlsClosed
