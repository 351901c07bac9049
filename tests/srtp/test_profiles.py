"""Tests of the SRTP protection profile registry."""

from voice.srtp.profiles import PROFILE_SIZES, SrtpProfile


def test_registry_values() -> None:
    assert SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80 == 0x0001
    assert SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_32 == 0x0002
    assert SrtpProfile.SRTP_AEAD_AES_128_GCM == 0x0007
    assert SrtpProfile.SRTP_AEAD_AES_256_GCM == 0x0008


def test_keying_material_lengths() -> None:
    # Two keys and two salts: 60 bytes for AES-CM, 56 for AES-128-GCM, 88 for AES-256-GCM.
    assert PROFILE_SIZES[SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80].keying_material_length == 60
    assert PROFILE_SIZES[SrtpProfile.SRTP_AEAD_AES_128_GCM].keying_material_length == 56
    assert PROFILE_SIZES[SrtpProfile.SRTP_AEAD_AES_256_GCM].keying_material_length == 88
