"""The SRTP protection profiles that DTLS-SRTP negotiates, and the key sizes each one uses.

This module is shared by :mod:`voice.dtls` (which negotiates a profile in the use_srtp
extension) and :mod:`voice.srtp` (which keys libsrtp with it), and imports nothing else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class SrtpProfile(enum.IntEnum):
    """SRTP protection profile identifiers from the IANA "DTLS-SRTP Protection Profiles"
    registry (RFC 5764 §4.1.2 for the AES-CM ones, RFC 7714 §14.2 for AEAD GCM)."""

    SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001
    SRTP_AES128_CM_HMAC_SHA1_32 = 0x0002
    SRTP_AEAD_AES_128_GCM = 0x0007
    SRTP_AEAD_AES_256_GCM = 0x0008


@dataclass(frozen=True, slots=True)
class ProfileSizes:
    """Master key and master salt lengths in bytes for one profile."""

    key_length: int
    salt_length: int

    @property
    def keying_material_length(self) -> int:
        # Two keys and two salts, one of each per direction.
        return 2 * (self.key_length + self.salt_length)


#: RFC 5764 §4.1.2 gives AES-CM profiles a 128-bit key and 112-bit salt; RFC 7714 §12 gives
#: the GCM profiles a 96-bit salt with a 128- or 256-bit key.
PROFILE_SIZES: dict[SrtpProfile, ProfileSizes] = {
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80: ProfileSizes(16, 14),
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_32: ProfileSizes(16, 14),
    SrtpProfile.SRTP_AEAD_AES_128_GCM: ProfileSizes(16, 12),
    SrtpProfile.SRTP_AEAD_AES_256_GCM: ProfileSizes(32, 12),
}
