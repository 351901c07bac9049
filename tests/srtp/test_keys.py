"""Tests of the RFC 5764 §4.2 split of DTLS-SRTP keying material."""

import pytest

from voice.srtp.keys import (
    EXPORTER_LABEL,
    SrtpKeys,
    keying_material_length,
    split_keying_material,
)
from voice.srtp.profiles import PROFILE_SIZES, SrtpProfile


def test_exporter_label_and_lengths() -> None:
    assert EXPORTER_LABEL == b"EXTRACTOR-dtls_srtp"
    assert keying_material_length(SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80) == 60
    assert keying_material_length(SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_32) == 60
    assert keying_material_length(SrtpProfile.SRTP_AEAD_AES_128_GCM) == 56
    assert keying_material_length(SrtpProfile.SRTP_AEAD_AES_256_GCM) == 88


@pytest.mark.parametrize("profile", list(SrtpProfile))
def test_split_layout_keys_then_salts(profile: SrtpProfile) -> None:
    # Numbered bytes make every slice recognisable: client key, server key, client salt,
    # server salt, in that order and back to back.
    sizes = PROFILE_SIZES[profile]
    material = bytes(range(sizes.keying_material_length))
    keys = split_keying_material(profile, material)
    k, s = sizes.key_length, sizes.salt_length
    assert keys.client_key == bytes(range(0, k))
    assert keys.server_key == bytes(range(k, 2 * k))
    assert keys.client_salt == bytes(range(2 * k, 2 * k + s))
    assert keys.server_salt == bytes(range(2 * k + s, 2 * k + 2 * s))
    assert keys.profile is profile


def test_each_side_sends_with_its_own_key() -> None:
    keys = split_keying_material(SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80, bytes(range(60)))
    assert keys.local_master(is_server=False) == keys.client_key + keys.client_salt
    assert keys.local_master(is_server=True) == keys.server_key + keys.server_salt
    # What one side sends with is what the other receives with.
    assert keys.remote_master(is_server=True) == keys.local_master(is_server=False)
    assert keys.remote_master(is_server=False) == keys.local_master(is_server=True)


@pytest.mark.parametrize("length", [0, 59, 61, 88])
def test_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="60 bytes"):
        split_keying_material(SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80, bytes(length))


def test_repr_hides_the_keys() -> None:
    material = b"\xaa" * 60
    keys = split_keying_material(SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80, material)
    assert isinstance(keys, SrtpKeys)
    assert "aa" not in repr(keys).lower().replace("aes", "")
    assert "\\xaa" not in repr(keys)
