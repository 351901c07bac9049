"""The pure-Python SRTP reference against RFC 3711 appendix B, libsrtp's own test vector,
and libsrtp itself on random packets."""

import struct

import pylibsrtp
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.srtp import reference

# RFC 3711 §B.2: AES-CM keystream for a session key and an IV built from a salt, SSRC 0 and
# index 0. The test case was contrived so that blocks 0xFEFF onwards match NIST SP 800-38A
# F.5.1.
B2_KEY = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
B2_SALT = bytes.fromhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD")
B2_IV = bytes.fromhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000")
B2_BLOCKS = {
    0x0000: "E03EAD0935C95E80E166B16DD92B4EB4",
    0x0001: "D23513162B02D0F72A43A2FE4A5F97AB",
    0x0002: "41E95B3BB0A2E8DD477901E4FCA894C0",
    0xFEFF: "EC8CDF7398607CB0F2D21675EA9EA1E4",
    0xFF00: "362B7C3C6773516318A077D7FC5073AE",
    0xFF01: "6A2CC3787889374FBEB4C81B17BA6C44",
}

# RFC 3711 §B.3: the initial key derivation (key derivation rate 0).
B3_MASTER_KEY = bytes.fromhex("E1F97A0D3E018BE0D64FA32C06DE4139")
B3_MASTER_SALT = bytes.fromhex("0EC675AD498AFEEBB6960B3AABE6")
B3_CIPHER_KEY = bytes.fromhex("C61E7A93744F39EE10734AFE3FF7A087")
B3_CIPHER_SALT = bytes.fromhex("30CBBC08863D8C85D49DB34A9AE1")
B3_AUTH_KEY = bytes.fromhex(
    "CEBE321F6FF7716B6FD4AB49AF256A15"
    "6D38BAA48F0A0ACF3C34E2359E6CDBCE"
    "E049646C43D9327AD175578EF7227098"
    "6371C10C9A369AC2F94A8C5FBCDDDC25"
    "6D6E919A48B610EF17C2041E47403576"
    "6B68642C59BBFC2F34DB60DBDFB2"
)

# libsrtp's own known-answer test (test/srtp_driver.c) for AES_CM_128_HMAC_SHA1_80 with the
# B.3 master key and salt: an RTP packet with 16 bytes of 0xAB as payload.
LIBSRTP_PLAIN = bytes.fromhex("800f1234decafbadcafebabe" + "ab" * 16)
LIBSRTP_PROTECTED = bytes.fromhex(
    "800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb"
)


def test_b2_packet_iv() -> None:
    assert reference.packet_iv(B2_SALT, ssrc=0, index=0) == B2_IV


def test_b2_aes_cm_keystream() -> None:
    last = max(B2_BLOCKS)
    stream = reference.aes_cm_keystream(B2_KEY, B2_IV, 16 * (last + 1))
    for block, expected in B2_BLOCKS.items():
        assert stream[16 * block : 16 * block + 16] == bytes.fromhex(expected), hex(block)


def test_b3_key_derivation() -> None:
    keys = reference.derive_session_keys(B3_MASTER_KEY, B3_MASTER_SALT)
    assert keys.encryption_key == B3_CIPHER_KEY
    assert keys.salt == B3_CIPHER_SALT
    # The profile uses a 160-bit HMAC key, the first 20 of the 94 bytes the RFC lists.
    assert keys.authentication_key == B3_AUTH_KEY[:20]
    long_key = reference.derive_key(
        B3_MASTER_KEY, B3_MASTER_SALT, reference.Label.RTP_AUTHENTICATION, 94
    )
    assert long_key == B3_AUTH_KEY


def test_rtcp_labels_give_different_keys() -> None:
    rtp = reference.derive_session_keys(B3_MASTER_KEY, B3_MASTER_SALT)
    rtcp = reference.derive_session_keys(B3_MASTER_KEY, B3_MASTER_SALT, rtcp=True)
    assert rtp.encryption_key != rtcp.encryption_key
    assert rtp.authentication_key != rtcp.authentication_key
    assert rtp.salt != rtcp.salt


def test_libsrtp_known_answer() -> None:
    protected = reference.protect_rtp(B3_MASTER_KEY, B3_MASTER_SALT, LIBSRTP_PLAIN)
    assert protected == LIBSRTP_PROTECTED
    assert reference.unprotect_rtp(B3_MASTER_KEY, B3_MASTER_SALT, protected) == LIBSRTP_PLAIN
    tampered = protected[:-1] + bytes([protected[-1] ^ 1])
    assert reference.unprotect_rtp(B3_MASTER_KEY, B3_MASTER_SALT, tampered) is None


def _libsrtp_outbound(master: bytes, *, tag_length: int) -> pylibsrtp.Session:
    profile = (
        pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
        if tag_length == 10
        else pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32
    )
    return pylibsrtp.Session(
        pylibsrtp.Policy(
            key=master, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile
        )
    )


@st.composite
def rtp_packets(draw: st.DrawFn) -> bytes:
    """Random RTP packets with CSRCs, a header extension and padding in any combination."""
    csrcs = draw(st.lists(st.integers(0, 2**32 - 1), max_size=15))
    extension = draw(st.none() | st.binary(max_size=40).map(lambda b: b + bytes(-len(b) % 4)))
    payload = draw(st.binary(max_size=300))
    padding = draw(st.integers(0, 20))
    first = 0x80 | (0x20 if padding else 0) | (0x10 if extension is not None else 0) | len(csrcs)
    header = struct.pack(
        "!BBHII",
        first,
        draw(st.integers(0, 255)),
        draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, 2**32 - 1)),
        draw(st.integers(0, 2**32 - 1)),
    )
    header += b"".join(struct.pack("!I", c) for c in csrcs)
    if extension is not None:
        header += struct.pack("!HH", 0xBEDE, len(extension) // 4) + extension
    if padding:
        payload += bytes(padding - 1) + bytes([padding])
    return header + payload


@settings(max_examples=300, deadline=None)
@given(
    packet=rtp_packets(),
    master=st.binary(min_size=30, max_size=30),
    tag_length=st.sampled_from([10, 4]),
)
def test_rtp_matches_libsrtp(packet: bytes, master: bytes, tag_length: int) -> None:
    key, salt = master[:16], master[16:]
    ours = reference.protect_rtp(key, salt, packet, tag_length=tag_length)
    theirs = _libsrtp_outbound(master, tag_length=tag_length).protect(packet)
    # The encrypted packet alone (the keystream check), then the tag as well.
    assert ours[:-tag_length] == theirs[:-tag_length]
    assert ours == theirs
    assert reference.unprotect_rtp(key, salt, theirs, tag_length=tag_length) == packet


@settings(max_examples=50, deadline=None)
@given(master=st.binary(min_size=30, max_size=30), start=st.integers(0xFFF0, 0xFFFF))
def test_rollover_counter_matches_libsrtp(master: bytes, start: int) -> None:
    # Across the sequence number wrap the sender's ROC becomes 1 and enters both the IV
    # (through the index) and the tag (RFC 3711 §3.3.1, §4.2).
    session = _libsrtp_outbound(master, tag_length=10)
    roc = 0
    for step in range(24):
        seq = (start + step) & 0xFFFF
        if step and seq == 0:
            roc += 1
        packet = struct.pack("!BBHII", 0x80, 111, seq, step * 960, 0x1234) + bytes([step]) * 40
        assert session.protect(packet) == reference.protect_rtp(
            master[:16], master[16:], packet, roc=roc
        )
    assert roc == 1


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(min_size=0, max_size=200).map(lambda b: b + bytes(-len(b) % 4)),
    ssrc=st.integers(0, 2**32 - 1),
    master=st.binary(min_size=30, max_size=30),
    count=st.integers(1, 4),
)
def test_rtcp_matches_libsrtp(body: bytes, ssrc: int, master: bytes, count: int) -> None:
    words = 1 + len(body) // 4
    packet = struct.pack("!BBHI", 0x80, 201, words, ssrc) + body
    session = _libsrtp_outbound(master, tag_length=10)
    for _ in range(count):
        theirs = session.protect_rtcp(packet)
    # libsrtp numbers its SRTCP packets from 1; the reference takes the index it is given.
    (e_and_index,) = struct.unpack_from("!I", theirs, len(theirs) - 14)
    assert e_and_index == 0x80000000 | count
    ours = reference.protect_rtcp(master[:16], master[16:], packet, index=count)
    assert ours == theirs
