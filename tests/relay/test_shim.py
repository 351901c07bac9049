"""The relay <-> transceiver shim (VOICE-SHIM): vectors, round trips, what receivers drop."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.relay.errors import RelayParseError
from voice.relay.shim import (
    INBOUND,
    OUTBOUND,
    Forward,
    decode_forward,
    decode_shim,
    encode_shim,
    forward_header,
    shim_header,
)

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
    with pytest.raises(RelayParseError):
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
    except RelayParseError:
        return
    assert payload and 0 < client[1] <= 65535


# -- version 2 (VOICE-SHIM §10) ---------------------------------------------------------------

INGRESS = ("10.1.0.5", 50100)
V4_CLIENT = ("192.0.2.1", 54321)
#: (client, direction, cluster, transceiver, via, payload, datagram): VOICE-SHIM §10's vectors.
FORWARD_VECTORS = [
    (
        V4_CLIENT,
        INBOUND,
        2,
        7,
        None,
        b"hello",
        "02 04 d4 31 01 00 00 00 00 02 00 07 c0 00 02 01 68 65 6c 6c 6f",
    ),
    (
        V4_CLIENT,
        INBOUND,
        2,
        7,
        INGRESS,
        b"hello",
        "02 04 d4 31 01 04 c3 b4 00 02 00 07 c0 00 02 01 0a 01 00 05 68 65 6c 6c 6f",
    ),
    (
        V4_CLIENT,
        OUTBOUND,
        2,
        7,
        INGRESS,
        bytes.fromhex("80000001"),
        "02 04 d4 31 02 04 c3 b4 00 02 00 07 c0 00 02 01 0a 01 00 05 80 00 00 01",
    ),
    (
        ("2001:db8::1", 3478),
        OUTBOUND,
        65535,
        1,
        None,
        b"\x17\xfe\xfd",
        "02 06 0d 96 02 00 00 00 ff ff 00 01 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01"
        " 17 fe fd",
    ),
]


@pytest.mark.parametrize(
    ("client", "direction", "cluster", "transceiver", "via", "payload", "datagram"),
    FORWARD_VECTORS,
)
def test_forward_vectors(
    client: tuple[str, int],
    direction: int,
    cluster: int,
    transceiver: int,
    via: tuple[str, int] | None,
    payload: bytes,
    datagram: str,
) -> None:
    wire = bytes.fromhex(datagram)
    assert forward_header(client, direction, cluster, transceiver, via) + payload == wire
    assert decode_forward(wire) == Forward(client, direction, cluster, transceiver, via, payload)
    # A version 1 receiver drops version 2 (VOICE-SHIM §8), and the reverse.
    with pytest.raises(RelayParseError):
        decode_shim(wire)


def test_spec_lists_the_same_forward_vectors() -> None:
    spec = (Path(__file__).parents[2] / "spec" / "voice-shim.md").read_text(encoding="utf-8")
    for *_, datagram in FORWARD_VECTORS:
        assert datagram in spec
    for datagram in BAD_FORWARD:
        assert datagram in spec


def test_reply_header_turns_the_header_around() -> None:
    inbound = decode_forward(forward_header(V4_CLIENT, INBOUND, 2, 7, INGRESS) + b"x")
    assert inbound.reply_header() == forward_header(V4_CLIENT, OUTBOUND, 2, 7, INGRESS)


BAD_FORWARD = [
    "02 04 d4 31 03 00 00 00 00 02 00 07 c0 00 02 01 aa",
    "02 04 d4 31 01 00 00 05 00 02 00 07 c0 00 02 01 aa",
    "02 04 d4 31 01 04 00 00 00 02 00 07 c0 00 02 01 0a 01 00 05 aa",
    "02 04 d4 31 01 04 c3 b4 00 02 00 07 c0 00 02 01 0a 01",
    "02 04 d4 31 01 00 00 00 00 02 00 07 c0 00 02 01",
]


@pytest.mark.parametrize(
    "datagram",
    [
        *BAD_FORWARD,
        "02 05 d4 31 01 00 00 00 00 02 00 07 c0 00 02 01 aa",  # unknown family
        "02 04 d4 31 01 05 c3 b4 00 02 00 07 c0 00 02 01 0a 01 00 05 aa",  # unknown via family
        "02 04 00 00 01 00 00 00 00 02 00 07 c0 00 02 01 aa",  # client port 0
        "02 04 d4 31 01 00 00 00 00 02 00",  # shorter than the fixed part
        "01 04 d4 31 c0 00 02 01 aa",  # version 1
    ],
)
def test_forward_receiver_drops_bad_headers(datagram: str) -> None:
    with pytest.raises(RelayParseError):
        decode_forward(bytes.fromhex(datagram))


def test_forward_sender_refuses_what_cannot_be_written() -> None:
    with pytest.raises(ValueError):
        forward_header(("192.0.2.1", 0), INBOUND, 1, 1, None)
    with pytest.raises(ValueError):
        forward_header(V4_CLIENT, 3, 1, 1, None)
    with pytest.raises(ValueError):
        forward_header(V4_CLIENT, INBOUND, 1, 1, ("10.0.0.1", 0))


@settings(max_examples=500)
@given(
    addresses,
    st.integers(1, 65535),
    st.sampled_from([INBOUND, OUTBOUND]),
    st.integers(0, 65535),
    st.integers(0, 65535),
    st.one_of(st.none(), st.tuples(addresses, st.integers(1, 65535))),
    st.binary(min_size=1, max_size=200),
)
def test_forward_round_trip(
    host: str,
    port: int,
    direction: int,
    cluster: int,
    transceiver: int,
    via: tuple[str, int] | None,
    payload: bytes,
) -> None:
    wire = forward_header((host, port), direction, cluster, transceiver, via) + payload
    assert decode_forward(wire) == Forward(
        (host, port), direction, cluster, transceiver, via, payload
    )


@settings(max_examples=2000)
@given(st.binary(max_size=64).map(lambda b: b"\x02" + b))
def test_forward_garbage_raises_only_shim_error(data: bytes) -> None:
    try:
        forward = decode_forward(data)
    except RelayParseError:
        return
    assert forward.payload and 0 < forward.client[1] <= 65535
