"""The one exception SRTP raises, and the reasons it gives.

A packet that fails to unprotect is the normal fate of forged, replayed or corrupted
datagrams, so the drivers catch :class:`SrtpError`, count ``error.reason`` and drop the
packet. Nothing else ever escapes :meth:`voice.srtp.SrtpContext.unprotect_rtp` and friends.
"""

from __future__ import annotations

import enum

from voice.errors import LocalProtocolError, VoiceError


class SrtpFailure(enum.StrEnum):
    """Why a packet could not be protected or unprotected.

    A :class:`enum.StrEnum`, so ``error.reason == "auth_fail"`` reads naturally and the values
    make good counter names.
    """

    #: The authentication tag did not verify: forged, corrupted, or keyed differently.
    AUTH_FAIL = "auth_fail"
    #: The packet index was already seen (RFC 3711 §3.3.2).
    REPLAY = "replay"
    #: The packet index is older than the replay window covers (RFC 3711 §3.3.2).
    TOO_OLD = "too_old"
    #: Too short, not version 2, or a header that runs past the end.
    MALFORMED = "malformed"
    #: Longer than the buffer libsrtp works in (1500 bytes less the trailer).
    TOO_LONG = "too_long"
    #: The master key has protected as many packets as it may (RFC 3711 §3.3.1).
    KEY_EXPIRED = "key_expired"
    #: Anything else libsrtp reports (cipher failure, no stream for the SSRC, ...).
    OTHER = "other"


class SrtpError(VoiceError):
    """A packet could not be protected or unprotected; ``reason`` says why.

    ``detail`` is libsrtp's own message, kept for logs.
    """

    def __init__(self, reason: SrtpFailure, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class SrtpUsageError(SrtpError, LocalProtocolError, ValueError):
    """The caller asked for a context this libsrtp cannot make (a bug or a build problem)."""

    def __init__(self, detail: str) -> None:
        super().__init__(SrtpFailure.OTHER, detail)
