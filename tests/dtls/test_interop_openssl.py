"""Our DTLS against OpenSSL's ``s_client`` and ``s_server`` over real UDP on loopback.

OpenSSL is an independent implementation: if the exported SRTP keying material matches byte
for byte, both sides derived the same master secret from the same transcript, which checks
the record layer, fragmentation, the handshake hash, the extended master secret, the PRF and
the exporter at once. Every test authenticates both ends with certificates.
"""

from __future__ import annotations

import datetime
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.conftest import require_program
from voice.dtls import (
    Certificate,
    CipherSuite,
    DtlsApplicationData,
    DtlsClosed,
    DtlsConnection,
    DtlsHandshakeComplete,
    SrtpProfile,
)
from voice.dtls.certificate import fingerprint

from .openssl_peer import OpenSSL, UdpDriver, write_pem

pytestmark = pytest.mark.interop

# OpenSSL's names for the SRTP profiles and cipher suites.
SRTP_NAMES = {
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80: "SRTP_AES128_CM_SHA1_80",
    SrtpProfile.SRTP_AEAD_AES_128_GCM: "SRTP_AEAD_AES_128_GCM",
    SrtpProfile.SRTP_AEAD_AES_256_GCM: "SRTP_AEAD_AES_256_GCM",
}
SUITE_NAMES = {
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
    CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
}
ALL_SUITES = tuple(SUITE_NAMES)
KEYMAT_LENGTH = {
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80: 60,
    SrtpProfile.SRTP_AEAD_AES_128_GCM: 56,
    SrtpProfile.SRTP_AEAD_AES_256_GCM: 88,
}


@pytest.fixture
def openssl() -> str:
    return require_program("openssl", "/usr/bin/openssl")


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def _common_args(profile: SrtpProfile, suite: CipherSuite, cert: str, key: str) -> list[str]:
    return [
        "-dtls1_2",
        "-cert",
        cert,
        "-key",
        key,
        "-cipher",
        SUITE_NAMES[suite],
        "-use_srtp",
        SRTP_NAMES[profile],
        "-keymatexport",
        "EXTRACTOR-dtls_srtp",
        "-keymatexportlen",
        str(KEYMAT_LENGTH[profile]),
    ]


def _complete(driver: UdpDriver) -> DtlsHandshakeComplete:
    driver.run_until(
        lambda: any(isinstance(e, DtlsHandshakeComplete | DtlsClosed) for e in driver.events)
    )
    done = [e for e in driver.events if isinstance(e, DtlsHandshakeComplete)]
    assert done, driver.events
    return done[0]


def _exchange_data(driver: UdpDriver, peer: OpenSSL) -> None:
    """Application data both ways: openssl sends its stdin lines and prints what it gets."""
    peer.send_line("hello from openssl")
    driver.run_until(lambda: any(isinstance(e, DtlsApplicationData) for e in driver.events))
    received = b"".join(e.data for e in driver.events if isinstance(e, DtlsApplicationData))
    assert received == b"hello from openssl\n"
    driver.conn.send_application_data(b"hello from voice\n")
    driver.flush()
    peer.wait_for(r"^hello from voice$")


@pytest.mark.parametrize(
    ("profile", "suite", "mtu"),
    [
        (
            SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            None,
        ),
        (
            SrtpProfile.SRTP_AEAD_AES_128_GCM,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            None,
        ),
        (
            SrtpProfile.SRTP_AEAD_AES_256_GCM,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            None,
        ),
        # A small MTU makes both certificates travel in several fragments.
        (
            SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            300,
        ),
    ],
)
def test_our_server_with_openssl_client(
    openssl: str,
    udp: socket.socket,
    tmp_path: Path,
    profile: SrtpProfile,
    suite: CipherSuite,
    mtu: int | None,
) -> None:
    ours, theirs = Certificate.generate(), Certificate.generate()
    cert, key = write_pem(theirs, tmp_path, "client")
    server = DtlsConnection(
        is_server=True,
        certificate=ours,
        remote_fingerprints=[("sha-256", theirs.fingerprint())],
        srtp_profiles=[profile],
        cipher_suites=ALL_SUITES,
        max_datagram_size=mtu or 1200,
    )
    port = udp.getsockname()[1]
    args = [
        openssl,
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        *_common_args(profile, suite, cert, key),
    ]
    if mtu:
        args += ["-mtu", str(mtu)]
    peer = OpenSSL(args)
    try:
        driver = UdpDriver(server, udp)
        done = _complete(driver)
        assert done.cipher_suite == suite
        assert done.srtp_profile == profile
        assert done.peer_fingerprint == theirs.fingerprint()
        keying = peer.wait_for(r"Keying material: ([0-9A-Fa-f]+)").group(1)
        assert bytes.fromhex(keying) == server.srtp_keying_material()
        _exchange_data(driver, peer)
    finally:
        peer.stop()


@pytest.mark.parametrize(
    ("profile", "suite", "mtu"),
    [
        (
            SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            None,
        ),
        (
            SrtpProfile.SRTP_AEAD_AES_128_GCM,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            None,
        ),
        (
            SrtpProfile.SRTP_AEAD_AES_256_GCM,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            None,
        ),
        (
            SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            300,
        ),
    ],
)
def test_our_client_with_openssl_server(
    openssl: str,
    udp: socket.socket,
    tmp_path: Path,
    profile: SrtpProfile,
    suite: CipherSuite,
    mtu: int | None,
) -> None:
    ours, theirs = Certificate.generate(), Certificate.generate()
    cert, key = write_pem(theirs, tmp_path, "server")
    # s_server asks for a client certificate with -verify, and answers every first
    # ClientHello with a HelloVerifyRequest: this also covers our side of the cookie exchange.
    args = [
        openssl,
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-verify",
        "1",
        *_common_args(profile, suite, cert, key),
    ]
    if mtu:
        args += ["-mtu", str(mtu)]
    peer = OpenSSL(args)
    try:
        port = int(peer.wait_for(r"^ACCEPT 127\.0\.0\.1:(\d+)").group(1))
        client = DtlsConnection(
            is_server=False,
            certificate=ours,
            remote_fingerprints=[("sha-256", theirs.fingerprint())],
            srtp_profiles=[profile],
            cipher_suites=ALL_SUITES,
            max_datagram_size=mtu or 1200,
        )
        driver = UdpDriver(client, udp)
        driver.peer = ("127.0.0.1", port)
        client.connect(time.monotonic())
        done = _complete(driver)
        assert done.cipher_suite == suite
        assert done.srtp_profile == profile
        keying = peer.wait_for(r"Keying material: ([0-9A-Fa-f]+)").group(1)
        assert bytes.fromhex(keying) == client.srtp_keying_material()
        _exchange_data(driver, peer)
    finally:
        peer.stop()


def test_our_server_with_cookies_and_an_anonymous_openssl_client(
    openssl: str, udp: socket.socket
) -> None:
    """OpenSSL answers our HelloVerifyRequest; without -cert it sends an empty Certificate,
    which a server that checks no fingerprints accepts (tests only: WebRTC always checks)."""
    profile, suite = (
        SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    )
    server = DtlsConnection(
        is_server=True,
        certificate=Certificate.generate(),
        remote_fingerprints=None,
        srtp_profiles=[profile],
        cookie_secret=b"cookie secret of the test server",
    )
    port = udp.getsockname()[1]
    args = [
        openssl,
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-dtls1_2",
        "-use_srtp",
        SRTP_NAMES[profile],
        "-keymatexport",
        "EXTRACTOR-dtls_srtp",
        "-keymatexportlen",
        "60",
        "-cipher",
        SUITE_NAMES[suite],
    ]
    peer = OpenSSL(args)
    try:
        driver = UdpDriver(server, udp)
        done = _complete(driver)
        assert done.peer_fingerprint is None
        assert server.counters["hello_verify_request"] >= 1
        keying = peer.wait_for(r"Keying material: ([0-9A-Fa-f]+)").group(1)
        assert bytes.fromhex(keying) == server.srtp_keying_material()
        _exchange_data(driver, peer)
        server.close()
        driver.flush()
        # s_client reports the close_notify it received as "closed" and exits.
        peer.wait_for(r"^closed$")
    finally:
        peer.stop()


def _foreign_certificate(kind: str, directory: Path) -> tuple[str, str, str]:
    """A self-signed certificate of a key type our Certificate class does not make; returns
    (cert path, key path, SHA-256 fingerprint)."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    key = (
        rsa.generate_private_key(65537, 2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP384R1())
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kind)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256() if kind == "rsa" else hashes.SHA384())
    )
    cert_path, key_path = directory / f"{kind}.crt", directory / f"{kind}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path), fingerprint(cert.public_bytes(serialization.Encoding.DER))


@pytest.mark.parametrize("kind", ["rsa", "p384"])
def test_our_server_verifies_rsa_and_p384_client_certificates(
    openssl: str, udp: socket.socket, tmp_path: Path, kind: str
) -> None:
    """Browsers use ECDSA P-256, but other WebRTC stacks may sign with RSA (PSS or PKCS#1)
    or P-384: their CertificateVerify must verify too."""
    cert, key, expected = _foreign_certificate(kind, tmp_path)
    profile, suite = (
        SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    )
    server = DtlsConnection(
        is_server=True,
        certificate=Certificate.generate(),
        remote_fingerprints=[("sha-256", expected)],
        srtp_profiles=[profile],
    )
    port = udp.getsockname()[1]
    args = [
        openssl,
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        *_common_args(profile, suite, cert, key),
    ]
    peer = OpenSSL(args)
    try:
        driver = UdpDriver(server, udp)
        done = _complete(driver)
        assert done.peer_fingerprint == expected
        keying = peer.wait_for(r"Keying material: ([0-9A-Fa-f]+)").group(1)
        assert bytes.fromhex(keying) == server.srtp_keying_material()
    finally:
        peer.stop()


def test_our_client_with_a_p384_openssl_server(
    openssl: str, udp: socket.socket, tmp_path: Path
) -> None:
    cert, key, expected = _foreign_certificate("p384", tmp_path)
    profile, suite = (
        SrtpProfile.SRTP_AEAD_AES_128_GCM,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    )
    args = [
        openssl,
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-verify",
        "1",
        *_common_args(profile, suite, cert, key),
    ]
    peer = OpenSSL(args)
    try:
        port = int(peer.wait_for(r"^ACCEPT 127\.0\.0\.1:(\d+)").group(1))
        client = DtlsConnection(
            is_server=False,
            certificate=Certificate.generate(),
            remote_fingerprints=[("sha-256", expected)],
            srtp_profiles=[profile],
        )
        driver = UdpDriver(client, udp)
        driver.peer = ("127.0.0.1", port)
        client.connect(time.monotonic())
        done = _complete(driver)
        assert done.peer_fingerprint == expected
        keying = peer.wait_for(r"Keying material: ([0-9A-Fa-f]+)").group(1)
        assert bytes.fromhex(keying) == client.srtp_keying_material()
    finally:
        peer.stop()
