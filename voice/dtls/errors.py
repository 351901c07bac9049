"""The exceptions of :mod:`voice.dtls`.

Three kinds, kept apart because they are handled in three different places:

* :class:`DtlsDecodeError` -- bytes from the peer that do not parse. Parsers raise only this;
  the connection turns it into a ``decode_error`` alert or a silent drop and never lets it out.
* :class:`HandshakeError` -- the peer's messages parse but break the protocol (a wrong
  fingerprint, a bad signature, nothing in common). It carries the alert to send; the
  connection sends it, closes, and reports :class:`~voice.dtls.events.ConnectionClosed`.
* :class:`LocalProtocolError` -- *our caller* misused the API (sending before the handshake,
  exporting keys too early). Like h11's exception of the same name, it is allowed to
  propagate, because it is a bug in the program, not in the network.
"""

from __future__ import annotations

from voice.dtls.registry import AlertDescription


class DtlsError(Exception):
    """Base class of every exception raised by :mod:`voice.dtls`."""


class DtlsDecodeError(DtlsError, ValueError):
    """The peer sent bytes that are not a well-formed record, handshake message or extension."""


class HandshakeError(DtlsError):
    """The handshake must stop with a fatal alert of the given description."""

    def __init__(self, alert: AlertDescription, reason: str) -> None:
        super().__init__(f"{alert.name}: {reason}")
        self.alert = alert
        self.reason = reason


class LocalProtocolError(DtlsError):
    """The caller used the connection in a way it does not support (a bug in the caller)."""
