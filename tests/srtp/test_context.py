"""Tests of SrtpContext: keying from DTLS material, both directions, RTP and RTCP, replay and
authentication failures, and that bad input only ever raises SrtpError."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.srtp import (
    PROFILE_SIZES,
    SrtpContext,
    SrtpError,
    SrtpFailure,
    SrtpProfile,
    reference,
    split_keying_material,
    supported_profiles,
)

AES_CM_80 = SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
PROFILES = supported_profiles()


def rtp(seq: int, *, ssrc: int = 0x11223344, payload: bytes = b"\x55" * 100) -> bytes:
    return struct.pack("!BBHII", 0x80, 111, seq & 0xFFFF, seq * 960, ssrc) + payload


def rtcp_rr(ssrc: int = 0x11223344) -> bytes:
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)


def pair(profile: SrtpProfile, material: bytes | None = None) -> tuple[SrtpContext, SrtpContext]:
    """A DTLS client's and a DTLS server's context over the same exporter output."""
    if material is None:
        material = bytes(range(7, 7 + PROFILE_SIZES[profile].keying_material_length))
    return (
        SrtpContext(profile, material, is_server=False),
        SrtpContext(profile, material, is_server=True),
    )


def test_probe_finds_the_mandatory_profile() -> None:
    # Every WebRTC endpoint must do AES_CM_128_HMAC_SHA1_80; a libsrtp without it is broken.
    assert AES_CM_80 in PROFILES
    assert set(PROFILES) <= set(SrtpProfile)
    assert len(set(PROFILES)) == len(PROFILES)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_round_trip_both_directions(profile: SrtpProfile) -> None:
    client, server = pair(profile)
    sizes = PROFILE_SIZES[profile]
    for seq in range(5):
        packet = rtp(seq)
        wire = client.protect_rtp(packet)
        assert len(wire) == len(packet) + sizes.rtp_overhead
        assert wire[:12] == packet[:12]  # the header stays in clear
        assert packet[12:] not in wire  # the payload does not
        assert server.unprotect_rtp(wire) == packet
        back = rtp(seq, ssrc=0x55667788, payload=b"reply")
        assert client.unprotect_rtp(server.protect_rtp(back)) == back
    report = rtcp_rr()
    wire = server.protect_rtcp(report)
    assert len(wire) == len(report) + sizes.rtcp_overhead
    assert client.unprotect_rtcp(wire) == report
    assert server.unprotect_rtcp(client.protect_rtcp(report)) == report
    assert client.counters["rtp_protected"] == 5
    assert client.counters["rtp_unprotected"] == 5
    assert server.counters["rtcp_protected"] == 1
    assert server.counters["rtcp_unprotected"] == 1


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_inbound_and_outbound_keys_are_separate(profile: SrtpProfile) -> None:
    client, server = pair(profile)
    # Our own packets do not authenticate under the peer's key: a reflected packet is
    # refused, which is what keeping the two directions apart buys.
    with pytest.raises(SrtpError) as info:
        client.unprotect_rtp(client.protect_rtp(rtp(1)))
    assert info.value.reason is SrtpFailure.AUTH_FAIL
    with pytest.raises(SrtpError) as info:
        server.unprotect_rtcp(server.protect_rtcp(rtcp_rr()))
    assert info.value.reason is SrtpFailure.AUTH_FAIL
    assert client.counters["rtp_unprotect_auth_fail"] == 1
    assert server.counters["rtcp_unprotect_auth_fail"] == 1


def test_fixed_keying_material_known_answer() -> None:
    # Stands in for the DTLS exporter: material whose client half is RFC 3711 §B.3's master
    # key and salt, so a DTLS client's first packet must equal libsrtp's published vector.
    client_key = bytes.fromhex("E1F97A0D3E018BE0D64FA32C06DE4139")
    client_salt = bytes.fromhex("0EC675AD498AFEEBB6960B3AABE6")
    server_key, server_salt = bytes(range(16)), bytes(range(16, 30))
    material = client_key + server_key + client_salt + server_salt
    keys = split_keying_material(AES_CM_80, material)
    assert (keys.client_key, keys.client_salt) == (client_key, client_salt)
    client, server = pair(AES_CM_80, material)
    plain = bytes.fromhex("800f1234decafbadcafebabe" + "ab" * 16)
    wire = client.protect_rtp(plain)
    assert wire == bytes.fromhex(
        "800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb"
    )
    assert server.unprotect_rtp(wire) == plain
    # And the server's direction agrees with the reference transform.
    reply = rtp(77)
    assert server.protect_rtp(reply) == reference.protect_rtp(server_key, server_salt, reply)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_replayed_rtp_and_rtcp_are_refused(profile: SrtpProfile) -> None:
    client, server = pair(profile)
    wire = client.protect_rtp(rtp(10))
    server.unprotect_rtp(wire)
    with pytest.raises(SrtpError) as info:
        server.unprotect_rtp(wire)
    assert info.value.reason is SrtpFailure.REPLAY
    assert info.value.reason == "replay"
    report = client.protect_rtcp(rtcp_rr())
    server.unprotect_rtcp(report)
    with pytest.raises(SrtpError) as info:
        server.unprotect_rtcp(report)
    assert info.value.reason is SrtpFailure.REPLAY
    assert server.counters["rtp_unprotect_replay"] == 1
    assert server.counters["rtcp_unprotect_replay"] == 1


def test_reordered_packets_inside_the_window_are_accepted() -> None:
    client, server = pair(AES_CM_80)
    wires = [client.protect_rtp(rtp(seq)) for seq in range(50)]
    for wire in reversed(wires):
        server.unprotect_rtp(wire)
    assert server.counters["rtp_unprotected"] == 50


def test_packet_behind_the_window_is_too_old() -> None:
    material = bytes(60)
    client = SrtpContext(AES_CM_80, material, is_server=False)
    server = SrtpContext(AES_CM_80, material, is_server=True, replay_window=64)
    wires = [client.protect_rtp(rtp(seq)) for seq in range(100)]
    server.unprotect_rtp(wires[-1])
    with pytest.raises(SrtpError) as info:
        server.unprotect_rtp(wires[0])
    assert info.value.reason is SrtpFailure.TOO_OLD
    server.unprotect_rtp(wires[-2])  # still inside the window


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
@pytest.mark.parametrize("where", [0, 2, 12, 60, -1], ids=["first", "seq", "payload", "mid", "tag"])
def test_any_flipped_bit_fails_authentication(profile: SrtpProfile, where: int) -> None:
    client, server = pair(profile)
    wire = bytearray(client.protect_rtp(rtp(3)))
    wire[where] ^= 0x04
    with pytest.raises(SrtpError) as info:
        server.unprotect_rtp(bytes(wire))
    assert info.value.reason is SrtpFailure.AUTH_FAIL
    # The genuine packet still gets through afterwards: a forgery does not poison the index.
    server.unprotect_rtp(client.protect_rtp(rtp(4)))


def test_wrong_keying_material_fails_authentication() -> None:
    client, _ = pair(AES_CM_80, bytes(60))
    _, stranger = pair(AES_CM_80, b"\x01" * 60)
    with pytest.raises(SrtpError) as info:
        stranger.unprotect_rtp(client.protect_rtp(rtp(1)))
    assert info.value.reason is SrtpFailure.AUTH_FAIL


def test_sequence_wrap_keeps_working() -> None:
    client, server = pair(AES_CM_80)
    keys = split_keying_material(AES_CM_80, bytes(range(7, 67)))
    for seq in range(65530, 65542):
        packet = rtp(seq)
        wire = client.protect_rtp(packet)
        # After the wrap the rollover counter is 1, in the IV and in the tag.
        roc = 1 if seq > 0xFFFF else 0
        assert wire == reference.protect_rtp(keys.client_key, keys.client_salt, packet, roc=roc)
        assert server.unprotect_rtp(wire) == packet


def test_several_peer_ssrcs_on_one_context() -> None:
    client, server = pair(AES_CM_80)
    for ssrc in (1, 2, 3):
        packet = rtp(100, ssrc=ssrc)
        assert server.unprotect_rtp(client.protect_rtp(packet)) == packet


def test_repeated_sequence_number_is_refused_unless_allowed() -> None:
    # Protecting a second packet with the same index would reuse AES-CM keystream.
    client, _ = pair(AES_CM_80)
    client.protect_rtp(rtp(5))
    with pytest.raises(SrtpError) as info:
        client.protect_rtp(rtp(5, payload=b"different"))
    assert info.value.reason is SrtpFailure.REPLAY
    assert client.counters["rtp_protect_replay"] == 1
    lenient = SrtpContext(AES_CM_80, bytes(60), is_server=False, allow_repeat_tx=True)
    assert lenient.protect_rtp(rtp(5)) == lenient.protect_rtp(rtp(5))


def test_oversized_packet_is_refused() -> None:
    client, _ = pair(AES_CM_80)
    with pytest.raises(SrtpError) as info:
        client.protect_rtp(rtp(1, payload=bytes(1500)))
    assert info.value.reason is SrtpFailure.TOO_LONG


@pytest.mark.parametrize("data", [b"", b"\x80", b"\x80\x6f\x00\x01", rtp(1)[:11]])
def test_truncated_packets_are_malformed(data: bytes) -> None:
    _, server = pair(AES_CM_80)
    with pytest.raises(SrtpError) as info:
        server.unprotect_rtp(data)
    assert info.value.reason is SrtpFailure.MALFORMED
    with pytest.raises(SrtpError):
        server.unprotect_rtcp(data)


def test_non_bytes_input_is_an_srtp_error() -> None:
    client, server = pair(AES_CM_80)
    wire = client.protect_rtp(rtp(1))
    with pytest.raises(SrtpError):
        server.unprotect_rtp(bytearray(wire))  # type: ignore[arg-type]


def test_misuse_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="keying material"):
        SrtpContext(AES_CM_80, bytes(59), is_server=True)
    with pytest.raises(ValueError, match="replay_window"):
        SrtpContext(AES_CM_80, bytes(60), is_server=True, replay_window=32)


def test_repr_and_overheads() -> None:
    client, server = pair(AES_CM_80)
    assert repr(client) == "<SrtpContext SRTP_AES128_CM_HMAC_SHA1_80 client>"
    assert repr(server) == "<SrtpContext SRTP_AES128_CM_HMAC_SHA1_80 server>"
    assert (client.rtp_overhead, client.rtcp_overhead) == (10, 14)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_rtcp_tag_is_80_bits_for_both_aes_cm_profiles(profile: SrtpProfile) -> None:
    # RFC 5764 §4.1.2: SRTP_AES128_CM_HMAC_SHA1_32 shortens only the RTP tag.
    client, _ = pair(profile)
    expected = (
        16
        if profile in (SrtpProfile.SRTP_AEAD_AES_128_GCM, SrtpProfile.SRTP_AEAD_AES_256_GCM)
        else 10
    )
    assert len(client.protect_rtcp(rtcp_rr())) == len(rtcp_rr()) + 4 + expected


_server_80 = pair(AES_CM_80)[1]


@settings(max_examples=3000, deadline=None)
@given(data=st.binary(max_size=200))
def test_garbage_only_raises_srtp_error(data: bytes) -> None:
    for unprotect in (_server_80.unprotect_rtp, _server_80.unprotect_rtcp):
        with pytest.raises(SrtpError):
            unprotect(data)


@settings(max_examples=1000, deadline=None)
@given(
    profile=st.sampled_from(PROFILES),
    seq=st.integers(0, 0xFFFF),
    flips=st.lists(st.tuples(st.integers(0, 200), st.integers(1, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 40),
)
def test_damaged_packets_only_raise_srtp_error(
    profile: SrtpProfile, seq: int, flips: list[tuple[int, int]], cut: int
) -> None:
    client, server = pair(profile)

    def damage(wire: bytes) -> bytes:
        # One non-zero mask per position, so two flips never cancel out.
        masks = {at % len(wire): mask for at, mask in flips}
        damaged = bytearray(wire)
        for at, mask in masks.items():
            damaged[at] ^= mask
        return bytes(damaged[: len(damaged) - cut])

    with pytest.raises(SrtpError):
        server.unprotect_rtp(damage(client.protect_rtp(rtp(seq))))
    with pytest.raises(SrtpError):
        server.unprotect_rtcp(damage(client.protect_rtcp(rtcp_rr())))


def test_a_forgery_moves_neither_the_highest_index_nor_the_replay_list() -> None:
    # RFC 3711 §3.3.1 and §3.3.2: s_l (the highest index seen) and the replay list change only
    # for a packet that authenticates, so a forged packet far ahead cannot make the real
    # stream look too old, and a forgery of the next packet cannot make it look replayed.
    material = bytes(60)
    client = SrtpContext(AES_CM_80, material, is_server=False)
    server = SrtpContext(AES_CM_80, material, is_server=True, replay_window=64)
    stranger, _ = pair(AES_CM_80, b"\x01" * 60)
    server.unprotect_rtp(client.protect_rtp(rtp(10)))
    next_forged = stranger.protect_rtp(rtp(11))  # made first: a sender's own index only grows
    far_forged = stranger.protect_rtp(rtp(30010))
    for forged in (far_forged, next_forged):
        with pytest.raises(SrtpError) as info:
            server.unprotect_rtp(forged)
        assert info.value.reason is SrtpFailure.AUTH_FAIL
    # Had the forgery at 30010 moved s_l, index 11 would be behind the 64-packet window.
    server.unprotect_rtp(client.protect_rtp(rtp(11)))
    server.unprotect_rtp(client.protect_rtp(rtp(12)))
    assert server.counters["rtp_unprotected"] == 3
