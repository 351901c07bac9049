"""The exceptions of :mod:`voice.dtls`, beneath :mod:`voice.errors`.

Four kinds, kept apart because they are handled in different places:

* :class:`DtlsParseError` (a :class:`~voice.errors.ParseError`) -- bytes from the peer that
  do not parse. Parsers raise only this; the connection turns it into a ``decode_error``
  alert or a silent drop and never lets it out.
* :class:`HandshakeError` (a :class:`~voice.errors.RemoteProtocolError`) -- the peer's
  messages parse but break the protocol (a wrong fingerprint, a bad signature, nothing in
  common). It carries the alert to send; the connection sends it, closes, and reports
  :class:`~voice.dtls.events.DtlsClosed`.
* :class:`DtlsUsageError` (a :class:`~voice.errors.LocalProtocolError`) -- *our caller*
  called the connection in the wrong state (sending before the handshake, exporting keys too
  early). It is a bug in the program, not in the network, so it propagates.
* :class:`DtlsArgumentError` -- a usage error that is also a :class:`ValueError`: a setting
  or an argument no connection can accept.
"""

from __future__ import annotations

from voice.dtls.registry import AlertDescription
from voice.errors import LocalProtocolError, ParseError, RemoteProtocolError, VoiceError


class DtlsError(VoiceError):
    """Base class of every exception raised by :mod:`voice.dtls`."""


class DtlsParseError(DtlsError, ParseError):
    """The peer sent bytes that are not a well-formed record, handshake message or extension."""


class HandshakeError(DtlsError, RemoteProtocolError):
    """The handshake must stop with a fatal alert of the given description."""

    def __init__(self, alert: AlertDescription, reason: str) -> None:
        super().__init__(f"{alert.name}: {reason}")
        self.alert = alert
        self.reason = reason


class DtlsUsageError(DtlsError, LocalProtocolError):
    """The caller used the connection in a way it does not support (a bug in the caller)."""


class DtlsArgumentError(DtlsUsageError, ValueError):
    """The caller passed a value no connection or certificate can take."""
