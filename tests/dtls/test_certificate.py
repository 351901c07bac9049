"""Our certificates, SDP fingerprints (RFC 8122 §5) and peer signature checks."""

from __future__ import annotations

import datetime
import hashlib
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from voice.dtls.certificate import (
    Certificate,
    fingerprint,
    fingerprint_matches,
    load_peer_public_key,
    verify_signature,
)
from voice.dtls.errors import DtlsArgumentError, HandshakeError
from voice.dtls.registry import AlertDescription, SignatureScheme


def test_generate_self_signed_p256(certs: tuple[Certificate, Certificate]) -> None:
    cert = certs[0]
    assert isinstance(cert.private_key.curve, ec.SECP256R1)
    assert cert.x509.issuer == cert.x509.subject
    assert cert.x509.signature_hash_algorithm is not None
    assert cert.x509.signature_hash_algorithm.name == "sha256"
    assert cert.x509.serial_number != certs[1].x509.serial_number
    now = datetime.datetime.now(datetime.UTC)
    assert cert.x509.not_valid_before_utc <= now <= cert.x509.not_valid_after_utc
    assert cert.x509.not_valid_after_utc - now < datetime.timedelta(days=31)


def test_fingerprint_is_sdp_form(certs: tuple[Certificate, Certificate]) -> None:
    cert = certs[0]
    value = cert.fingerprint()
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", value)
    assert value.replace(":", "").lower() == hashlib.sha256(cert.der).hexdigest()
    assert len(cert.fingerprint("sha-1").split(":")) == 20
    assert len(fingerprint(cert.der, "SHA-512").split(":")) == 64
    with pytest.raises(ValueError, match="unsupported"):
        cert.fingerprint("md5")


def test_pem_round_trip(certs: tuple[Certificate, Certificate]) -> None:
    cert_pem, key_pem = certs[0].to_pem()
    assert cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    again = Certificate.from_pem(cert_pem, key_pem)
    assert again.der == certs[0].der and again.fingerprint() == certs[0].fingerprint()


def test_only_p256_keys_sign() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(DtlsArgumentError):
        Certificate(cert, key)


def test_fingerprint_matching_rules(certs: tuple[Certificate, Certificate]) -> None:
    der = certs[0].der
    sha256 = certs[0].fingerprint()
    other = certs[1].fingerprint()
    assert fingerprint_matches(der, [("sha-256", sha256)])
    assert fingerprint_matches(der, [("SHA-256", sha256.lower())])  # case does not matter
    assert not fingerprint_matches(der, [("sha-256", other)])
    assert fingerprint_matches(der, [("sha-256", other), ("sha-256", sha256)])  # any one of them
    assert not fingerprint_matches(der, [("md5", "00"), ("unknown", sha256)])
    assert not fingerprint_matches(der, [])
    # RFC 8842: with several hash functions, the strongest one we know decides.
    assert not fingerprint_matches(
        der, [("sha-1", certs[0].fingerprint("sha-1")), ("sha-256", other)]
    )
    assert fingerprint_matches(der, [("sha-1", "00"), ("sha-384", certs[0].fingerprint("sha-384"))])


def test_peer_key_loading() -> None:
    with pytest.raises(HandshakeError) as info:
        load_peer_public_key(b"not a certificate")
    assert info.value.alert is AlertDescription.bad_certificate


def test_a_certificate_of_an_unknown_x509_version_is_a_bad_certificate() -> None:
    """The version field of a real certificate turned from v3 (2) to 3, as a fuzzed flight
    did: cryptography raises InvalidVersion, which is not a ValueError; the handshake
    refuses the certificate like any other that does not parse."""
    der = Certificate.generate().der
    v3 = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT INTEGER 2: X.509 v3
    assert der.count(v3) == 1
    with pytest.raises(HandshakeError) as info:
        load_peer_public_key(der.replace(v3, v3[:-1] + b"\x03"))
    assert info.value.alert is AlertDescription.bad_certificate


@pytest.mark.parametrize(
    "scheme",
    [SignatureScheme.ecdsa_secp256r1_sha256, SignatureScheme.ecdsa_secp384r1_sha384],
)
def test_ecdsa_verification(scheme: SignatureScheme) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    hash_alg = (
        hashes.SHA256() if scheme == SignatureScheme.ecdsa_secp256r1_sha256 else hashes.SHA384()
    )
    signature = key.sign(b"data", ec.ECDSA(hash_alg))
    assert verify_signature(key.public_key(), scheme, signature, b"data")
    assert not verify_signature(key.public_key(), scheme, signature, b"date")
    assert not verify_signature(key.public_key(), scheme, b"\x30\x00", b"data")
    assert not verify_signature(
        key.public_key(), SignatureScheme.rsa_pkcs1_sha256, signature, b"data"
    )


def test_rsa_verification() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs1 = key.sign(b"data", padding.PKCS1v15(), hashes.SHA256())
    pss = key.sign(b"data", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    public = key.public_key()
    assert verify_signature(public, SignatureScheme.rsa_pkcs1_sha256, pkcs1, b"data")
    assert verify_signature(public, SignatureScheme.rsa_pss_rsae_sha256, pss, b"data")
    assert not verify_signature(public, SignatureScheme.rsa_pss_rsae_sha256, pkcs1, b"data")
    assert not verify_signature(public, SignatureScheme.ecdsa_secp256r1_sha256, pkcs1, b"data")
    assert not verify_signature(public, 0x0807, pkcs1, b"data")  # ed25519: not supported
