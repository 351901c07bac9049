"""The one exception hierarchy: every layer's errors sit beneath voice.errors, split by fault."""

from __future__ import annotations

import pytest

from voice.buffer import Buffer, BufferReadError
from voice.dtls import (
    DtlsArgumentError,
    DtlsError,
    DtlsParseError,
    DtlsUsageError,
    HandshakeError,
)
from voice.errors import (
    ConfigError,
    LocalProtocolError,
    ParseError,
    RemoteProtocolError,
    VoiceError,
)
from voice.ice import IceError, IceParseError, IceUsageError
from voice.opus import OpusError, OpusParseError, OpusUsageError
from voice.peer import PeerError, PeerUsageError
from voice.relay import RelayError, RelayParseError, RelayUsageError
from voice.rtp import RtpError, RtpParseError, RtpUsageError
from voice.sdp import SdpError, SdpParseError, SdpUsageError, UnsupportedOffer
from voice.srtp import SrtpError, SrtpUsageError
from voice.stun import StunError, StunParseError, StunUsageError

PARSE_ERRORS = [
    (StunParseError, StunError),
    (IceParseError, IceError),
    (RtpParseError, RtpError),
    (OpusParseError, OpusError),
    (SdpParseError, SdpError),
    (RelayParseError, RelayError),
    (DtlsParseError, DtlsError),
]
USAGE_ERRORS = [
    (StunUsageError, StunError),
    (IceUsageError, IceError),
    (RtpUsageError, RtpError),
    (OpusUsageError, OpusError),
    (SdpUsageError, SdpError),
    (SrtpUsageError, SrtpError),
    (RelayUsageError, RelayError),
    (PeerUsageError, PeerError),
    (DtlsUsageError, DtlsError),
    (DtlsArgumentError, DtlsError),
]


@pytest.mark.parametrize(("error", "base"), PARSE_ERRORS)
def test_a_peers_bad_bytes_are_a_remote_parse_error_of_the_layer(
    error: type[Exception], base: type[Exception]
) -> None:
    assert issubclass(error, base) and issubclass(base, VoiceError)
    assert issubclass(error, ParseError) and issubclass(error, RemoteProtocolError)
    assert issubclass(error, ValueError)  # `except ValueError` written earlier still works
    assert not issubclass(error, LocalProtocolError)


@pytest.mark.parametrize(("error", "base"), USAGE_ERRORS)
def test_misuse_is_a_local_error_of_the_layer_never_the_peers_fault(
    error: type[Exception], base: type[Exception]
) -> None:
    assert issubclass(error, base) and issubclass(base, VoiceError)
    assert issubclass(error, LocalProtocolError)
    assert not issubclass(error, RemoteProtocolError)


def test_an_offer_we_cannot_serve_is_the_peers_fault() -> None:
    assert issubclass(UnsupportedOffer, RemoteProtocolError)


def test_reading_past_the_end_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        Buffer(b"\x01").pull_bytes(2)
    assert issubclass(BufferReadError, ValueError)


def test_a_dtls_handshake_the_peer_breaks_is_the_peers_fault() -> None:
    """HandshakeError carries the alert we answer with; it is never our caller's bug."""
    assert issubclass(HandshakeError, DtlsError) and issubclass(HandshakeError, RemoteProtocolError)
    assert not issubclass(HandshakeError, LocalProtocolError)
    # A call in the wrong state is not a bad value; a bad setting is.
    assert not issubclass(DtlsUsageError, ValueError) and issubclass(DtlsArgumentError, ValueError)


LAYERS = {
    "stun": "Stun",
    "ice": "Ice",
    "dtls": "Dtls",
    "srtp": "Srtp",
    "rtp": "Rtp",
    "opus": "Opus",
    "sdp": "Sdp",
    "relay": "Relay",
    "peer": "Peer",
}


def _subclasses(root: type[Exception]) -> set[type[Exception]]:
    found = set(root.__subclasses__())
    for cls in list(found):
        found |= _subclasses(cls)
    return found


def test_parse_and_usage_errors_are_named_after_their_layer() -> None:
    """CONTRIBUTING.md's rule: ``<Layer>ParseError`` and ``<Layer>UsageError``, one spelling,
    so a reader guesses the name (no ``DecodeError``, ``EncodeError`` or per-message names)."""
    checked = 0
    for root, suffix in ((ParseError, "ParseError"), (LocalProtocolError, "UsageError")):
        for cls in _subclasses(root):
            layer = cls.__module__.split(".")[1]
            if layer not in LAYERS or not issubclass(cls.__bases__[0], VoiceError):
                continue
            if any(issubclass(base, root) and base is not root for base in cls.__bases__):
                continue  # a refinement of the layer's own class (DtlsArgumentError)
            assert cls.__name__ == LAYERS[layer] + suffix, cls
            checked += 1
    assert checked == len(PARSE_ERRORS) + len(USAGE_ERRORS) - 1  # less the one refinement


def test_the_operators_bad_setting_is_neither_a_peers_fault_nor_a_bug() -> None:
    """ConfigError: the third party at fault; still a ValueError for older callers."""
    assert issubclass(ConfigError, VoiceError) and issubclass(ConfigError, ValueError)
    assert not issubclass(ConfigError, (LocalProtocolError, RemoteProtocolError))
