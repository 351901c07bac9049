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
from voice.dtls.errors import (
    DtlsArgumentError,
    DtlsError,
    DtlsParseError,
    DtlsUsageError,
    HandshakeError,
)
from voice.dtls.events import DtlsApplicationData, DtlsClosed, DtlsEvent, DtlsHandshakeComplete
from voice.dtls.registry import AlertDescription, CipherSuite
from voice.dtls.state import DtlsState
from voice.srtp.profiles import SrtpProfile

__all__ = [
    "DEFAULT_CIPHER_SUITES",
    "DEFAULT_SRTP_PROFILES",
    "SRTP_EXPORTER_LABEL",
    "AlertDescription",
    "Certificate",
    "CipherSuite",
    "DtlsApplicationData",
    "DtlsArgumentError",
    "DtlsClosed",
    "DtlsConnection",
    "DtlsError",
    "DtlsEvent",
    "DtlsHandshakeComplete",
    "DtlsParseError",
    "DtlsState",
    "DtlsUsageError",
    "HandshakeError",
    "SrtpProfile",
    "fingerprint",
    "fingerprint_matches",
]
