"""The TLS 1.2 key schedule, as DTLS 1.2 uses it unchanged: PRF, master secret (with the
extended master secret of RFC 7627), key block, Finished and the keying material exporter.

Everything here is a pure function of secrets and handshake bytes, so it is tested against
itself and, byte for byte, against OpenSSL through the exporter.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from voice.dtls.errors import DtlsArgumentError
from voice.dtls.record import AesGcmProtection, ChaChaPolyProtection, RecordProtection
from voice.dtls.registry import CipherSuite

MASTER_SECRET_LENGTH = 48
VERIFY_DATA_LENGTH = 12


@dataclass(frozen=True, slots=True)
class SuiteParameters:
    """What a cipher suite decides beyond the key exchange: the PRF hash, and the AEAD with
    its key and fixed IV lengths (RFC 5289 §3.2 for GCM, RFC 7905 §2 for ChaCha20-Poly1305)."""

    hash_name: str
    key_length: int
    fixed_iv_length: int
    protection: Callable[[bytes, bytes], RecordProtection]


SUITES: dict[CipherSuite, SuiteParameters] = {
    # RFC 5289 §3.2: the GCM suites use their own hash (SHA-256 or SHA-384) for the PRF.
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: SuiteParameters(
        "sha256", 16, 4, AesGcmProtection
    ),
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: SuiteParameters(
        "sha384", 32, 4, AesGcmProtection
    ),
    CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: SuiteParameters(
        "sha256", 32, 12, ChaChaPolyProtection
    ),
}


def prf(hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """TLS 1.2's PRF: P_hash over ``label + seed`` (RFC 5246 §5).

    A(0) is the seed and A(i) = HMAC(secret, A(i-1)); the output is the concatenation of
    HMAC(secret, A(i) + seed) for i = 1, 2, ... cut to ``length`` bytes.
    """
    seed = label + seed
    out = bytearray()
    a = seed
    while len(out) < length:
        a = hmac.digest(secret, a, hash_name)
        out += hmac.digest(secret, a + seed, hash_name)
    return bytes(out[:length])


def transcript_hash(hash_name: str, handshake_messages: bytes) -> bytes:
    return hashlib.new(hash_name, handshake_messages).digest()


def compute_master_secret(
    hash_name: str,
    pre_master_secret: bytes,
    *,
    client_random: bytes,
    server_random: bytes,
    session_hash: bytes | None,
) -> bytes:
    """The 48-byte master secret.

    With the extended master secret (RFC 7627 §4) the seed is the hash of the handshake up to
    and including ClientKeyExchange, which binds the secret to this very handshake (the
    certificates and key shares in it) instead of only to the two randoms of RFC 5246 §8.1.
    """
    if session_hash is not None:
        return prf(
            hash_name,
            pre_master_secret,
            b"extended master secret",
            session_hash,
            MASTER_SECRET_LENGTH,
        )
    return prf(
        hash_name,
        pre_master_secret,
        b"master secret",
        client_random + server_random,
        MASTER_SECRET_LENGTH,
    )


@dataclass(frozen=True, slots=True)
class TrafficKeys:
    client_write_key: bytes
    server_write_key: bytes
    client_write_iv: bytes
    server_write_iv: bytes


def key_block(
    suite: SuiteParameters, master_secret: bytes, client_random: bytes, server_random: bytes
) -> TrafficKeys:
    """Splits the key block into write keys and fixed IVs (RFC 5246 §6.3).

    The seed puts the server random first here, the reverse of the master secret's seed. AEAD
    suites have no MAC keys, so the block is two keys then two IVs.
    """
    k, iv = suite.key_length, suite.fixed_iv_length
    block = prf(
        suite.hash_name,
        master_secret,
        b"key expansion",
        server_random + client_random,
        2 * (k + iv),
    )
    return TrafficKeys(
        client_write_key=block[:k],
        server_write_key=block[k : 2 * k],
        client_write_iv=block[2 * k : 2 * k + iv],
        server_write_iv=block[2 * k + iv :],
    )


def verify_data(
    hash_name: str, master_secret: bytes, *, client: bool, handshake_hash: bytes
) -> bytes:
    """The 12 bytes of a Finished message (RFC 5246 §7.4.9)."""
    label = b"client finished" if client else b"server finished"
    return prf(hash_name, master_secret, label, handshake_hash, VERIFY_DATA_LENGTH)


def export_keying_material(
    hash_name: str,
    master_secret: bytes,
    *,
    client_random: bytes,
    server_random: bytes,
    label: bytes,
    length: int,
    context: bytes | None,
) -> bytes:
    """RFC 5705 §4: PRF(master_secret, label, client_random + server_random [+ context]).

    "No context" and "an empty context" give different outputs on purpose: with a context its
    2-byte length is part of the seed, so the two cannot be confused.
    """
    seed = client_random + server_random
    if context is not None:
        if len(context) >= 2**16:
            raise DtlsArgumentError("an exporter context is at most 65535 bytes")
        seed += len(context).to_bytes(2, "big") + context
    return prf(hash_name, master_secret, label, seed, length)


def nss_key_log_line(client_random: bytes, master_secret: bytes) -> str:
    """One line of the NSS key log format that Wireshark reads (SSLKEYLOGFILE).

    TLS 1.2 needs one line per connection: the client random, which names the connection in
    a capture, and the master secret, from which every record key follows.
    """
    return f"CLIENT_RANDOM {client_random.hex()} {master_secret.hex()}"
