"""Registry values of TLS 1.2 and DTLS 1.2, as :class:`enum.IntEnum`, named as IANA names them.

Only the values :mod:`voice.dtls` reads or writes are listed; a value a peer sends that is not
here (an unknown extension, cipher suite or group) is carried as a plain ``int`` and ignored
where the RFCs say to ignore it.
"""

from __future__ import annotations

import enum


class ProtocolVersion(enum.IntEnum):
    """Record and handshake versions. DTLS counts down: 1.0 is 0xFEFF, 1.2 is 0xFEFD
    (RFC 6347 §4.1), so "newer" means numerically smaller."""

    DTLS_1_0 = 0xFEFF
    DTLS_1_2 = 0xFEFD


class ContentType(enum.IntEnum):
    """The record layer's content types (RFC 5246 §6.2.1)."""

    change_cipher_spec = 20
    alert = 21
    handshake = 22
    application_data = 23


class HandshakeType(enum.IntEnum):
    """Handshake message types (RFC 5246 §7.4, and HelloVerifyRequest from RFC 6347 §4.2.1)."""

    hello_request = 0
    client_hello = 1
    server_hello = 2
    hello_verify_request = 3
    certificate = 11
    server_key_exchange = 12
    certificate_request = 13
    server_hello_done = 14
    certificate_verify = 15
    client_key_exchange = 16
    finished = 20


class AlertLevel(enum.IntEnum):
    warning = 1
    fatal = 2


class AlertDescription(enum.IntEnum):
    """Alert descriptions (RFC 5246 §7.2)."""

    close_notify = 0
    unexpected_message = 10
    bad_record_mac = 20
    record_overflow = 22
    handshake_failure = 40
    bad_certificate = 42
    unsupported_certificate = 43
    certificate_revoked = 44
    certificate_expired = 45
    certificate_unknown = 46
    illegal_parameter = 47
    unknown_ca = 48
    access_denied = 49
    decode_error = 50
    decrypt_error = 51
    protocol_version = 70
    insufficient_security = 71
    internal_error = 80
    user_canceled = 90
    no_renegotiation = 100
    unsupported_extension = 110


class CipherSuite(enum.IntEnum):
    """The cipher suites :mod:`voice.dtls` implements (RFC 5289 §3.2, RFC 7905 §2), and the
    renegotiation signalling value a client may list instead of the extension (RFC 5746 §3.3)."""

    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = 0xC02B
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 = 0xC02C
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA9
    TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF


class ExtensionType(enum.IntEnum):
    """Hello extensions this implementation understands (IANA "TLS ExtensionType Values")."""

    supported_groups = 10
    ec_point_formats = 11
    signature_algorithms = 13
    use_srtp = 14
    extended_master_secret = 23
    renegotiation_info = 0xFF01


class NamedGroup(enum.IntEnum):
    """Elliptic curve groups for ECDHE (RFC 8422 §5.1.1)."""

    secp256r1 = 23
    secp384r1 = 24
    x25519 = 29


class ECPointFormat(enum.IntEnum):
    uncompressed = 0


class ECCurveType(enum.IntEnum):
    named_curve = 3


class SignatureScheme(enum.IntEnum):
    """TLS 1.2 SignatureAndHashAlgorithm pairs, written as one 16-bit code (hash << 8 | sig),
    which is how RFC 8446 later named them; the wire format is identical (RFC 5246 §7.4.1.4.1)."""

    rsa_pkcs1_sha256 = 0x0401
    ecdsa_secp256r1_sha256 = 0x0403
    rsa_pkcs1_sha384 = 0x0501
    ecdsa_secp384r1_sha384 = 0x0503
    rsa_pss_rsae_sha256 = 0x0804
    rsa_pss_rsae_sha384 = 0x0805


class ClientCertificateType(enum.IntEnum):
    """Certificate types a server lists in CertificateRequest (RFC 5246 §7.4.4, RFC 8422 §5.5)."""

    rsa_sign = 1
    ecdsa_sign = 64
