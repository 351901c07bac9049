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


#: Our order of preference, strongest first: the AEAD profiles authenticate with a 128-bit
#: GCM tag and need no separate MAC pass (and are faster); AES-CM with an 80-bit HMAC-SHA1
#: tag is the one every WebRTC endpoint supports; the 32-bit tag is last (it is forgeable
#: with effort). The one list of it: DTLS-SRTP offers and picks from :data:`DEFAULT_PROFILES`.
PREFERENCE: tuple[SrtpProfile, ...] = (
    SrtpProfile.SRTP_AEAD_AES_128_GCM,
    SrtpProfile.SRTP_AEAD_AES_256_GCM,
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_32,
)

#: What a call negotiates by default: the preference without the 32-bit tag, which a voice
#: call has no reason to accept.
DEFAULT_PROFILES: tuple[SrtpProfile, ...] = tuple(
    p for p in PREFERENCE if p is not SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_32
)


@dataclass(frozen=True, slots=True)
class ProfileSizes:
    """Master key and master salt lengths in bytes for one profile, and the bytes SRTP adds.

    The overheads let a sender size RTP payloads to the path MTU: an SRTP packet is the RTP
    packet plus ``rtp_overhead`` bytes, an SRTCP packet the RTCP one plus ``rtcp_overhead``.
    """

    key_length: int
    salt_length: int
    rtp_overhead: int = 10
    rtcp_overhead: int = 14

    @property
    def keying_material_length(self) -> int:
        # Two keys and two salts, one of each per direction.
        return 2 * (self.key_length + self.salt_length)


#: RFC 5764 §4.1.2 gives AES-CM profiles a 128-bit key and 112-bit salt; RFC 7714 §12 gives
#: the GCM profiles a 96-bit salt with a 128- or 256-bit key.
#:
#: The overheads: RFC 5764 §4.1.2 gives the AES-CM profiles an 80-bit SRTCP tag even for the
#: 32-bit RTP one; SRTCP adds the 4-byte E-flag and index word before its tag (RFC 3711 §3.4);
#: AEAD GCM adds a 16-byte tag to both (RFC 7714 §12).
PROFILE_SIZES: dict[SrtpProfile, ProfileSizes] = {
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80: ProfileSizes(16, 14, 10, 4 + 10),
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_32: ProfileSizes(16, 14, 4, 4 + 10),
    SrtpProfile.SRTP_AEAD_AES_128_GCM: ProfileSizes(16, 12, 16, 4 + 16),
    SrtpProfile.SRTP_AEAD_AES_256_GCM: ProfileSizes(32, 12, 16, 4 + 16),
}
