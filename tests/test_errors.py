"""The one exception hierarchy: every layer's errors sit beneath voice.errors, split by fault."""

from __future__ import annotations

import pytest

from voice.buffer import Buffer, BufferReadError
from voice.dtls import (
    DtlsArgumentError,
    DtlsDecodeError,
    DtlsError,
    DtlsUsageError,
    HandshakeError,
)
from voice.errors import LocalProtocolError, ParseError, RemoteProtocolError, VoiceError
from voice.ice import CandidateParseError, IceError, IceUsageError
from voice.opus import OpusError, OpusPacketError, OpusParameterError, OpusUsageError
from voice.peer import PeerError, PeerUsageError
from voice.relay import RelayError, RelayUsageError, ShimError
from voice.rtp import RtpError, RtpParseError, RtpUsageError
from voice.sdp import SdpError, SdpParseError, SdpUsageError, UnsupportedOffer
from voice.srtp import SrtpError, SrtpUsageError
from voice.stun import StunEncodeError, StunError, StunParseError

PARSE_ERRORS = [
    (StunParseError, StunError),
    (CandidateParseError, IceError),
    (RtpParseError, RtpError),
    (OpusPacketError, OpusError),
    (OpusParameterError, OpusError),
    (SdpParseError, SdpError),
    (ShimError, RelayError),
    (DtlsDecodeError, DtlsError),
]
USAGE_ERRORS = [
    (StunEncodeError, StunError),
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
