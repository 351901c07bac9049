"""The relay <-> transceiver shim (VOICE-SHIM): vectors, round trips, what receivers drop."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.relay.shim import ShimError, decode_shim, encode_shim, shim_header

#: (client, payload, datagram): the vectors of VOICE-SHIM §9.
VECTORS = [
    (("192.0.2.1", 54321), b"hello", "01 04 d4 31 c0 00 02 01 68 65 6c 6c 6f"),
    (
        ("2001:db8::1", 3478),
        bytes.fromhex("80000001"),
        "01 06 0d 96 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 80 00 00 01",
    ),
    (("::ffff:198.51.100.7", 1), b"\x17\xfe\xfd", "01 04 00 01 c6 33 64 07 17 fe fd"),
]


@pytest.mark.parametrize(("client", "payload", "datagram"), VECTORS)
def test_vectors(client: tuple[str, int], payload: bytes, datagram: str) -> None:
    wire = bytes.fromhex(datagram)
    assert encode_shim(client, payload) == wire
    decoded_client, decoded_payload = decode_shim(wire)
    assert decoded_payload == payload
    # An IPv4-mapped address travels (and comes back) as the IPv4 address it stands for.
    assert ipaddress.ip_address(decoded_client[0]) in (
        ipaddress.ip_address(client[0]),
        getattr(ipaddress.ip_address(client[0]), "ipv4_mapped", None),
    )
    assert decoded_client[1] == client[1]


def test_spec_lists_the_same_vectors() -> None:
    spec = (Path(__file__).parents[2] / "spec" / "voice-shim.md").read_text(encoding="utf-8")
    for *_, datagram in VECTORS:
        assert datagram in spec


def test_header_lengths() -> None:
    assert len(shim_header(("198.51.100.1", 9))) == 8
    assert len(shim_header(("2001:db8::2", 9))) == 20
    assert shim_header(("fe80::1%lo", 9)) == shim_header(("fe80::1", 9))  # the zone is dropped


@pytest.mark.parametrize(
    ("datagram", "why"),
    [
        ("", "empty"),
        ("01 04 00 01 c0 00 02", "shorter than the IPv4 header"),
        ("02 04 00 01 c0 00 02 01 aa", "version 2"),
        ("00 04 00 01 c0 00 02 01 aa", "version 0"),
        ("01 05 00 01 c0 00 02 01 aa", "unknown family"),
        ("01 06 00 01 20 01 0d b8 00 00 00 00 aa", "shorter than the IPv6 header"),
        ("01 04 00 00 c0 00 02 01 aa", "port 0"),
        ("01 04 00 01 c0 00 02 01", "empty payload"),
        ("01 06 00 01 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01", "empty payload"),
    ],
)
def test_receiver_drops_bad_headers(datagram: str, why: str) -> None:
    with pytest.raises(ShimError):
        decode_shim(bytes.fromhex(datagram))


def test_sender_refuses_port_zero() -> None:
    with pytest.raises(ValueError):
        encode_shim(("192.0.2.1", 0), b"x")


addresses = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None).map(str),
)


@settings(max_examples=1000)
@given(addresses, st.integers(1, 65535), st.binary(min_size=1, max_size=1500))
def test_round_trip(host: str, port: int, payload: bytes) -> None:
    client, decoded = decode_shim(encode_shim((host, port), payload))
    assert decoded == payload
    assert client == (host, port)


@settings(max_examples=3000)
@given(st.binary(max_size=64))
def test_garbage_raises_only_shim_error(data: bytes) -> None:
    try:
        client, payload = decode_shim(data)
    except ShimError:
        return
    assert payload and 0 < client[1] <= 65535
