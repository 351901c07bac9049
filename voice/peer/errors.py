"""The exceptions of :mod:`voice.peer`, beneath :mod:`voice.errors`.

A peer connection never raises about the network: its layers count and drop. Only a call
our own code makes in the wrong state raises, as :class:`PeerUsageError`.
"""

from __future__ import annotations

from voice.errors import LocalProtocolError, VoiceError


class PeerError(VoiceError):
    """Base class of every exception :mod:`voice.peer` raises on purpose."""


class PeerUsageError(PeerError, LocalProtocolError):
    """The caller asked for something this connection cannot do in its role or state."""
