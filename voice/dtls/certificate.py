"""Certificates, fingerprints and signatures.

WebRTC does not use certificate chains: each side makes a self-signed certificate, puts a
hash of it in SDP (``a=fingerprint:sha-256 AB:CD:...``), and during the DTLS handshake checks
that the certificate the peer presents hashes to that value (RFC 8122 §5). Names, issuers and
validity dates are therefore never checked; the fingerprint is the whole identity.
"""

from __future__ import annotations

import datetime
import hmac
import secrets
import warnings
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from voice.dtls.errors import DtlsArgumentError, HandshakeError
from voice.dtls.registry import AlertDescription, SignatureScheme

#: Hash functions an ``a=fingerprint`` line may name (RFC 8122 §5), weakest first.
FINGERPRINT_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha-1": hashes.SHA1,
    "sha-224": hashes.SHA224,
    "sha-256": hashes.SHA256,
    "sha-384": hashes.SHA384,
    "sha-512": hashes.SHA512,
}


def fingerprint(der: bytes, algorithm: str = "sha-256") -> str:
    """The SDP form of a certificate's fingerprint: uppercase hex pairs joined by colons."""
    hash_cls = FINGERPRINT_HASHES.get(algorithm.lower())
    if hash_cls is None:
        raise DtlsArgumentError(f"unsupported fingerprint algorithm {algorithm!r}")
    digest = hashes.Hash(hash_cls())
    digest.update(der)
    return digest.finalize().hex(":").upper()


def fingerprint_matches(der: bytes, expected: Sequence[tuple[str, str]]) -> bool:
    """Whether a peer certificate matches the fingerprints its SDP announced.

    RFC 8122 §5, and §5.1 for several lines: use the strongest (our most preferred) hash
    function among those we support, and accept the certificate if it matches any of the
    fingerprints given with that function. Lines with functions we do not know are skipped;
    if none is left, nothing matches. Comparison is constant-time and ignores letter case.
    """
    usable = [(a.lower(), v) for a, v in expected if a.lower() in FINGERPRINT_HASHES]
    if not usable:
        return False
    order = list(FINGERPRINT_HASHES)
    strongest = max(usable, key=lambda pair: order.index(pair[0]))[0]
    ours = fingerprint(der, strongest).encode()
    return any(
        hmac.compare_digest(ours, value.strip().upper().encode())
        for algorithm, value in usable
        if algorithm == strongest
    )


PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

_SCHEME_HASH: dict[SignatureScheme, type[hashes.HashAlgorithm]] = {
    SignatureScheme.ecdsa_secp256r1_sha256: hashes.SHA256,
    SignatureScheme.ecdsa_secp384r1_sha384: hashes.SHA384,
    SignatureScheme.rsa_pkcs1_sha256: hashes.SHA256,
    SignatureScheme.rsa_pkcs1_sha384: hashes.SHA384,
    SignatureScheme.rsa_pss_rsae_sha256: hashes.SHA256,
    SignatureScheme.rsa_pss_rsae_sha384: hashes.SHA384,
}

#: Signature schemes we can verify, in the order we ask for them. ECDSA first: it is what
#: browsers and our own certificates use.
VERIFIABLE_SCHEMES: tuple[SignatureScheme, ...] = (
    SignatureScheme.ecdsa_secp256r1_sha256,
    SignatureScheme.ecdsa_secp384r1_sha384,
    SignatureScheme.rsa_pss_rsae_sha256,
    SignatureScheme.rsa_pkcs1_sha256,
    SignatureScheme.rsa_pss_rsae_sha384,
    SignatureScheme.rsa_pkcs1_sha384,
)


def load_peer_public_key(der: bytes) -> PublicKey:
    """The public key of a peer's certificate, or a ``bad_certificate`` failure."""
    try:
        with warnings.catch_warnings():
            # Only the fingerprint identifies a WebRTC peer, so X.509 pedantry (cryptography
            # warns about, e.g., non-positive serial numbers) is not a reason to refuse it.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            certificate = x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion) as exc:  # the latter is not a ValueError
        raise HandshakeError(
            AlertDescription.bad_certificate, "peer certificate does not parse"
        ) from exc
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise HandshakeError(
            AlertDescription.unsupported_certificate, "peer key cannot be loaded"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise HandshakeError(
            AlertDescription.unsupported_certificate, "peer key is neither ECDSA nor RSA"
        )
    return key


def scheme_fits_key(scheme: int, key: PublicKey) -> bool:
    if scheme not in _SCHEME_HASH:
        return False
    is_ecdsa = SignatureScheme(scheme).name.startswith("ecdsa")
    return is_ecdsa == isinstance(key, ec.EllipticCurvePublicKey)


def verify_signature(key: PublicKey, scheme: int, signature: bytes, data: bytes) -> bool:
    """Checks a TLS 1.2 digitally-signed struct (RFC 5246 §4.7) made with ``scheme``.

    In TLS 1.2 the ECDSA codes fix only the hash, not the curve, so a P-384 key signing with
    SHA-256 is legal and accepted. A scheme that does not fit the key is simply a failure.
    """
    if not scheme_fits_key(scheme, key):
        return False
    hash_alg = _SCHEME_HASH[SignatureScheme(scheme)]()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hash_alg))
        elif SignatureScheme(scheme).name.startswith("rsa_pss"):
            pss = padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)
            key.verify(signature, data, pss, hash_alg)
        else:
            key.verify(signature, data, padding.PKCS1v15(), hash_alg)
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True


class Certificate:
    """Our own certificate and its private key: ECDSA P-256, self-signed.

    The WebRTC security architecture (RFC 8827) expects fresh self-signed certificates; the
    random serial and subject keep two of ours from ever looking alike, and the validity is
    short because nothing checks it and a leaked key should not stay useful for years.
    """

    #: The signature scheme our key signs with (RFC 8422 §5.10, RFC 5246 §7.4.1.4.1).
    signature_scheme = SignatureScheme.ecdsa_secp256r1_sha256

    def __init__(self, certificate: x509.Certificate, private_key: ec.EllipticCurvePrivateKey):
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise DtlsArgumentError("voice.dtls signs with ECDSA P-256 keys only")
        self.x509 = certificate
        self.private_key = private_key
        self.der = certificate.public_bytes(serialization.Encoding.DER)

    @classmethod
    def generate(
        cls,
        *,
        common_name: str | None = None,
        valid_for: datetime.timedelta = datetime.timedelta(days=30),
        now: datetime.datetime | None = None,
    ) -> Certificate:
        """A new key and a self-signed certificate over it.

        ``now`` defaults to the wall clock; the validity starts a day earlier so a peer with
        a slightly wrong clock that does check dates still accepts it.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, common_name or secrets.token_hex(8))]
        )
        start = (now or datetime.datetime.now(datetime.UTC)) - datetime.timedelta(days=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + valid_for)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    def fingerprint(self, algorithm: str = "sha-256") -> str:
        return fingerprint(self.der, algorithm)

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))

    def to_pem(self) -> tuple[bytes, bytes]:
        """(certificate PEM, unencrypted PKCS#8 key PEM), e.g. for ``openssl -cert -key``."""
        return (
            self.x509.public_bytes(serialization.Encoding.PEM),
            self.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes) -> Certificate:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise DtlsArgumentError("voice.dtls signs with ECDSA P-256 keys only")
        return cls(cert, key)
