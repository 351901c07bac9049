"""Ephemeral elliptic-curve Diffie-Hellman for ECDHE_ECDSA suites (RFC 8422).

Each handshake makes a fresh key pair on the negotiated group, so recording the traffic and
stealing a certificate key later reveals nothing (forward secrecy). Points travel in the
uncompressed form only, the one format RFC 8422 §5.1.2 still allows.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from voice.dtls.errors import HandshakeError
from voice.dtls.registry import AlertDescription, NamedGroup

#: Groups we offer or accept, in our order of preference: X25519 is fastest and has no
#: invalid points to check; P-256 is what every WebRTC stack also has.
SUPPORTED_GROUPS: tuple[NamedGroup, ...] = (
    NamedGroup.x25519,
    NamedGroup.secp256r1,
    NamedGroup.secp384r1,
)

_CURVES: dict[NamedGroup, ec.EllipticCurve] = {
    NamedGroup.secp256r1: ec.SECP256R1(),
    NamedGroup.secp384r1: ec.SECP384R1(),
}
_POINT_LENGTH = {NamedGroup.secp256r1: 65, NamedGroup.secp384r1: 97}


class KeyShare:
    """Our ephemeral private key on one group, and the public value we send."""

    def __init__(self, group: NamedGroup) -> None:
        self.group = group
        if group == NamedGroup.x25519:
            self._x25519 = x25519.X25519PrivateKey.generate()
            self.public_bytes = self._x25519.public_key().public_bytes_raw()
        else:
            self._ec = ec.generate_private_key(_CURVES[group])
            self.public_bytes = self._ec.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )

    def exchange(self, peer_public: bytes) -> bytes:
        """The shared secret (the premaster secret, RFC 8422 §5.10), or ``illegal_parameter``
        for a peer value that is not a valid point of the group."""
        try:
            if self.group == NamedGroup.x25519:
                return self._exchange_x25519(peer_public)
            return self._exchange_ec(peer_public)
        except ValueError as exc:
            raise HandshakeError(
                AlertDescription.illegal_parameter, f"bad ECDH share: {exc}"
            ) from exc

    def _exchange_x25519(self, peer_public: bytes) -> bytes:
        # from_public_bytes insists on 32 bytes, and exchange() refuses small-order points
        # (an all-zero result), which RFC 8422 §5.11 requires us to abort on.
        peer = x25519.X25519PublicKey.from_public_bytes(peer_public)
        return self._x25519.exchange(peer)

    def _exchange_ec(self, peer_public: bytes) -> bytes:
        # RFC 8422 §5.11: the point must be on the curve, which from_encoded_point checks;
        # RFC 8422 §5.1.2 leaves only the uncompressed form.
        if len(peer_public) != _POINT_LENGTH[self.group] or peer_public[0] != 4:
            raise ValueError("not an uncompressed point")
        point = ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[self.group], peer_public)
        return self._ec.exchange(ec.ECDH(), point)
