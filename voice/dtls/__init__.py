"""DTLS 1.2 with DTLS-SRTP, written from scratch as a sans-IO state machine.

The public surface is small: :class:`Certificate` (ours, self-signed ECDSA P-256, with its SDP
fingerprint), :class:`DtlsConnection` (one endpoint, client or server) and the events it
reports. See :mod:`voice.dtls.connection` for how a driver uses it and the other modules for
each layer of the protocol (record, fragments, flights, state, messages, extensions, key
schedule, certificate, cookie).
"""

from voice.dtls.certificate import Certificate, fingerprint, fingerprint_matches
from voice.dtls.connection import (
    DEFAULT_CIPHER_SUITES,
    DEFAULT_SRTP_PROFILES,
    SRTP_EXPORTER_LABEL,
    DtlsConnection,
)
from voice.dtls.errors import DtlsDecodeError, DtlsError, HandshakeError, LocalProtocolError
from voice.dtls.events import ApplicationData, ConnectionClosed, DtlsEvent, HandshakeComplete
from voice.dtls.registry import AlertDescription, CipherSuite
from voice.srtp.profiles import SrtpProfile

__all__ = [
    "DEFAULT_CIPHER_SUITES",
    "DEFAULT_SRTP_PROFILES",
    "SRTP_EXPORTER_LABEL",
    "AlertDescription",
    "ApplicationData",
    "Certificate",
    "CipherSuite",
    "ConnectionClosed",
    "DtlsConnection",
    "DtlsDecodeError",
    "DtlsError",
    "DtlsEvent",
    "HandshakeComplete",
    "HandshakeError",
    "LocalProtocolError",
    "SrtpProfile",
    "fingerprint",
    "fingerprint_matches",
]
