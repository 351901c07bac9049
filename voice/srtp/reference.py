"""A small, slow, readable SRTP in pure Python, to show what libsrtp does.

:class:`voice.srtp.SrtpContext` hands every packet to libsrtp, which is fast and hardened
but opaque. This module spells out the default transforms of RFC 3711 on top of the AES
block cipher and HMAC from :mod:`cryptography`, so a reader can follow one packet from
master key to wire bytes:

1. **Key derivation** (§4.3): the master key and salt never touch a packet. AES in counter
   mode, keyed with the master key, stretches the salt (mixed with a label) into three
   session keys per direction: one to encrypt, one to authenticate, one to salt the
   per-packet IV. SRTCP uses three more labels (§4.3.2), so RTP and RTCP never share a
   session key.
2. **Encryption** (§4.1.1): AES-CM. The keystream for one packet starts from an IV built
   from the session salt, the sender's SSRC and the 48-bit packet index, and is XORed over
   the payload only: the header stays readable so relays and receivers can route it.
3. **Authentication** (§4.2.1): HMAC-SHA1 over the header and encrypted payload, plus the
   rollover counter for SRTP (which is never sent), truncated to 80 or 32 bits.

Only the AES_CM_128_HMAC_SHA1 profiles are shown, with the key derivation rate fixed at
zero as DTLS-SRTP uses it; the tests check every step against RFC 3711 appendix B and
against libsrtp on random packets. Nothing in the call path imports this module.
"""

from __future__ import annotations

import enum
import hmac
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class Label(enum.IntEnum):
    """What a derived session key is for (RFC 3711 §4.3.1 and §4.3.2)."""

    RTP_ENCRYPTION = 0x00
    RTP_AUTHENTICATION = 0x01
    RTP_SALT = 0x02
    RTCP_ENCRYPTION = 0x03
    RTCP_AUTHENTICATION = 0x04
    RTCP_SALT = 0x05


#: Session key sizes of the AES_CM_128_HMAC_SHA1 profiles, in bytes (RFC 3711 §5).
CIPHER_KEY_LENGTH = 16
AUTH_KEY_LENGTH = 20
SALT_LENGTH = 14


def aes_cm_keystream(key: bytes, iv: bytes, length: int) -> bytes:
    """``length`` bytes of AES counter-mode keystream from the 128-bit block ``iv``.

    RFC 3711 §4.1.1: the keystream is E(k, IV) || E(k, IV + 1) || ..., the counter being
    the whole 128-bit block taken as an integer. That is exactly the CTR mode of NIST
    SP 800-38A, so encrypting zeros in :mod:`cryptography`'s CTR mode yields it.
    """
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return encryptor.update(bytes(length)) + encryptor.finalize()


def derive_key(
    master_key: bytes,
    master_salt: bytes,
    label: Label,
    length: int,
    *,
    index: int = 0,
    key_derivation_rate: int = 0,
) -> bytes:
    """One session key (or salt) of ``length`` bytes (RFC 3711 §4.3.1, §4.3.3).

    The 8-bit label followed by the 48-bit ``index DIV key_derivation_rate`` (zero when
    the rate is zero, as with DTLS-SRTP) is XORed into the right end of the 112-bit master
    salt; that value, shifted left 16 bits to leave room for the block counter, is the IV
    of an AES-CM keystream under the master key. The first ``length`` bytes are the key.
    """
    r = index // key_derivation_rate if key_derivation_rate else 0
    key_id = (label << 48) | r
    x = key_id ^ int.from_bytes(master_salt, "big")
    return aes_cm_keystream(master_key, (x << 16).to_bytes(16, "big"), length)


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The three session keys of one direction, for RTP or for RTCP."""

    encryption_key: bytes = field(repr=False)
    authentication_key: bytes = field(repr=False)
    salt: bytes = field(repr=False)


def derive_session_keys(
    master_key: bytes, master_salt: bytes, *, rtcp: bool = False
) -> SessionKeys:
    """The SRTP (or, with ``rtcp``, the SRTCP) session keys of one master key and salt."""
    if rtcp:
        labels = (Label.RTCP_ENCRYPTION, Label.RTCP_AUTHENTICATION, Label.RTCP_SALT)
    else:
        labels = (Label.RTP_ENCRYPTION, Label.RTP_AUTHENTICATION, Label.RTP_SALT)
    return SessionKeys(
        encryption_key=derive_key(master_key, master_salt, labels[0], CIPHER_KEY_LENGTH),
        authentication_key=derive_key(master_key, master_salt, labels[1], AUTH_KEY_LENGTH),
        salt=derive_key(master_key, master_salt, labels[2], SALT_LENGTH),
    )


def packet_iv(session_salt: bytes, ssrc: int, index: int) -> bytes:
    """The AES-CM IV of one packet: salt, SSRC and index XORed at fixed offsets (§4.1.1).

    The salt and index are shifted left 16 bits and the SSRC 64 bits, so the low 16 bits
    stay zero for the block counter within the packet.
    """
    iv = (int.from_bytes(session_salt, "big") << 16) ^ (ssrc << 64) ^ (index << 16)
    return iv.to_bytes(16, "big")


def rtp_header_length(packet: bytes) -> int:
    """Length of the RTP header, CSRC list and header extension: what SRTP leaves in clear."""
    csrc_count = packet[0] & 0x0F
    length = 12 + 4 * csrc_count
    if packet[0] & 0x10:
        (words,) = struct.unpack_from("!H", packet, length + 2)
        length += 4 + 4 * words
    return length


def _xor(data: bytes, keystream: bytes) -> bytes:
    # RFC 3711 §4.1: encryption and decryption are the same XOR with the keystream.
    return bytes(a ^ b for a, b in zip(data, keystream, strict=True))


def _hmac_sha1(key: bytes, message: bytes, tag_length: int) -> bytes:
    # RFC 3711 §4.2.1: HMAC-SHA1, truncated to the leftmost tag_length bytes.
    return hmac.new(key, message, "sha1").digest()[:tag_length]


def protect_rtp(
    master_key: bytes, master_salt: bytes, packet: bytes, *, roc: int = 0, tag_length: int = 10
) -> bytes:
    """The SRTP packet for one RTP packet, given the sender's rollover counter ``roc``.

    RFC 3711 §3.3: encrypt the payload (everything after the header, RTP padding included)
    with the keystream of this packet's index, then append the truncated HMAC of the
    header, the encrypted payload and the ROC.
    """
    keys = derive_session_keys(master_key, master_salt)
    header_length = rtp_header_length(packet)
    sequence_number, ssrc = struct.unpack_from("!H4xI", packet, 2)
    index = (roc << 16) | sequence_number  # RFC 3711 §3.3.1
    payload = packet[header_length:]
    keystream = aes_cm_keystream(
        keys.encryption_key, packet_iv(keys.salt, ssrc, index), len(payload)
    )
    encrypted = packet[:header_length] + _xor(payload, keystream)
    tag = _hmac_sha1(keys.authentication_key, encrypted + roc.to_bytes(4, "big"), tag_length)
    return encrypted + tag


def unprotect_rtp(
    master_key: bytes, master_salt: bytes, data: bytes, *, roc: int = 0, tag_length: int = 10
) -> bytes | None:
    """The RTP packet inside ``data``, or None when its tag does not verify.

    The mirror of :func:`protect_rtp`: check the tag first (in constant time), then XOR
    the same keystream back off. Replay checking needs state and is left to libsrtp.
    """
    keys = derive_session_keys(master_key, master_salt)
    body, tag = data[:-tag_length], data[-tag_length:]
    expected = _hmac_sha1(keys.authentication_key, body + roc.to_bytes(4, "big"), tag_length)
    if not hmac.compare_digest(tag, expected):
        return None
    header_length = rtp_header_length(body)
    sequence_number, ssrc = struct.unpack_from("!H4xI", body, 2)
    index = (roc << 16) | sequence_number
    payload = body[header_length:]
    keystream = aes_cm_keystream(
        keys.encryption_key, packet_iv(keys.salt, ssrc, index), len(payload)
    )
    return body[:header_length] + _xor(payload, keystream)


def protect_rtcp(
    master_key: bytes, master_salt: bytes, packet: bytes, *, index: int, tag_length: int = 10
) -> bytes:
    """The SRTCP packet for one compound RTCP packet sent with SRTCP index ``index``.

    RFC 3711 §3.4: everything after the first 8 bytes (header and sender SSRC of the first
    packet) is encrypted with the SRTCP keys and the explicit 31-bit index; then the E flag
    and index are appended, and the tag covers all of it.
    """
    keys = derive_session_keys(master_key, master_salt, rtcp=True)
    (ssrc,) = struct.unpack_from("!I", packet, 4)
    body = packet[8:]
    keystream = aes_cm_keystream(keys.encryption_key, packet_iv(keys.salt, ssrc, index), len(body))
    encrypted = packet[:8] + _xor(body, keystream)
    e_and_index = (0x80000000 | index).to_bytes(4, "big")
    tag = _hmac_sha1(keys.authentication_key, encrypted + e_and_index, tag_length)
    return encrypted + e_and_index + tag
