"""The relay's routing decisions in a trace, sans-IO: every datagram the Router forwards
(each leg, across clusters too) and every one it drops, with the drop counter's reason."""

from __future__ import annotations

from typing import Any

from tests.relay.test_router_cross import CLIENT as CALLER
from tests.relay.test_router_cross import INGRESS, OWNER, T7, check, ingress, owner
from tests.support.relay import binding_request
from voice.relay.directory import Directory, DnsPattern
from voice.relay.router import Router
from voice.relay.shim import INBOUND, OUTBOUND, encode_shim, forward_header
from voice.relay.token import TokenKey, TokenMinter, TokenVerifier
from voice.trace import Tracer, format_record

KEY = TokenKey(1, b"k" * 32)
WALL = 1_735_689_600.0
TRANSCEIVER = ("10.0.0.1", 4001)
CLIENT = ("198.51.100.7", 50123)
STRANGER = ("198.51.100.8", 50124)


def traced(router: Router) -> list[dict[str, Any]]:
    tracer = Tracer(keep=True, wall_offset=WALL)
    router.tracer = tracer
    assert tracer.records is not None
    return tracer.records


def test_local_calls_each_decision_both_ways() -> None:
    router = Router(TokenVerifier([KEY]), Directory({1: TRANSCEIVER}))
    router.handle_timeout(0.0, wall=WALL)
    records = traced(router)
    token = TokenMinter(KEY, 0, 1).mint(WALL).encode()
    request = binding_request(token + b":cli")
    assert router.from_client(request, CLIENT, 1.0) is not None
    assert router.from_client(b"\x80" + bytes(20), CLIENT, 1.1) is not None  # known: forwarded
    assert router.from_client(b"\x16" + bytes(20), STRANGER, 1.2) is None  # not STUN: dropped
    assert router.from_transceiver(encode_shim(CLIENT, b"\x80rtp"), TRANSCEIVER, 1.3) == (
        b"\x80rtp",
        CLIENT,
    )
    assert router.from_transceiver(encode_shim(CLIENT, b"x"), STRANGER, 1.4) is None
    assert records == [
        {"t": WALL + 1.0, "event": "route", "leg": "client>transceiver", "decision": "admitted",
         "from": "198.51.100.7:50123", "to": "10.0.0.1:4001", "client": "198.51.100.7:50123"},
        {"t": WALL + 1.1, "event": "route", "leg": "client>transceiver", "decision": "forwarded",
         "from": "198.51.100.7:50123", "to": "10.0.0.1:4001", "client": "198.51.100.7:50123"},
        {"t": WALL + 1.2, "event": "route", "leg": "client", "decision": "dropped: not-stun",
         "from": "198.51.100.8:50124"},
        {"t": WALL + 1.3, "event": "route", "leg": "transceiver>client", "decision": "forwarded",
         "from": "10.0.0.1:4001", "to": "198.51.100.7:50123", "client": "198.51.100.7:50123"},
        {"t": WALL + 1.4, "event": "route", "leg": "internal", "decision": "dropped: shim-source",
         "from": "198.51.100.8:50124"},
    ]  # fmt: skip
    assert router.tracer is not None  # restored after each traced call
    line = format_record(records[2])
    assert "relay" in line and "198.51.100.8:50124" in line and "dropped: not-stun" in line


def test_parked_checks_are_traced_when_parked_and_when_the_lookup_releases_them() -> None:
    router = Router(TokenVerifier([KEY]), Directory(pattern=DnsPattern.parse("t{id}.example:4000")))
    router.handle_timeout(0.0, wall=WALL)
    records = traced(router)
    token = TokenMinter(KEY, 0, 7).mint(WALL).encode()
    assert router.from_client(binding_request(token + b":cli"), CLIENT, 1.0) is None
    router.resolved(7, ("10.9.9.9", 4000), 1.5)
    assert len(router.datagrams_to_send()) == 1
    assert [(r["leg"], r["decision"], r.get("to")) for r in records] == [
        ("client", "parked: waiting for a lookup", None),
        ("client>transceiver", "admitted after lookup", "10.9.9.9:4000"),
    ]
    assert records[1]["client"] == "198.51.100.7:50123"


def test_cross_cluster_legs_are_traced_on_both_relays() -> None:
    edge, home = ingress(), owner()
    edge_records, home_records = traced(edge), traced(home)
    # Ingress: the caller's check goes over the backbone to the owning cluster's relay.
    out = edge.from_client(check(), CALLER, now=1)
    assert out is not None
    # Owner: the ingress relay's datagram goes to the transceiver, its reply back.
    assert home.from_transceiver(out[0], INGRESS, now=1) is None
    reply = forward_header(CALLER, OUTBOUND, 2, 7, INGRESS) + b"answer"
    assert home.from_transceiver(reply, T7, now=1) is None
    ((back, to),) = home.datagrams_to_send()[1:]
    assert to == INGRESS
    # Ingress again: the owner's datagram goes to the caller; a third cluster is dropped.
    assert edge.from_transceiver(back, OWNER, now=1) == (b"answer", CALLER)
    third = forward_header(CALLER, INBOUND, 3, 7, None) + b"x"
    assert home.from_transceiver(third, INGRESS, now=1) is None
    legs = [(r["leg"], r["decision"], r.get("to")) for r in edge_records]
    assert legs == [
        ("client>backbone", "admitted", "10.2.0.5:50100"),
        ("backbone>client", "forwarded", "198.51.100.7:50123"),
    ]
    legs = [(r["leg"], r["decision"], r.get("to")) for r in home_records]
    assert legs == [
        ("backbone>transceiver", "forwarded", "10.2.1.7:4000"),
        ("transceiver>backbone", "forwarded", "10.1.0.5:50100"),
        ("internal", "dropped: other-cluster", None),
    ]
    assert all(r.get("client") == "198.51.100.7:50123" for r in home_records[:2])


def test_no_tracer_records_nothing_and_routes_the_same() -> None:
    plain = Router(TokenVerifier([KEY]), Directory({1: TRANSCEIVER}))
    plain.handle_timeout(0.0, wall=WALL)
    traced_router = Router(TokenVerifier([KEY]), Directory({1: TRANSCEIVER}))
    traced_router.handle_timeout(0.0, wall=WALL)
    records = traced(traced_router)
    token = TokenMinter(KEY, 0, 1).mint(WALL).encode()
    for data, source in [
        (binding_request(token + b":cli"), CLIENT),
        (b"\x80" + bytes(20), CLIENT),
        (b"\x16" + bytes(20), STRANGER),
    ]:
        assert plain.from_client(data, source, 1.0) == traced_router.from_client(data, source, 1.0)
    assert plain.counters.drops == traced_router.counters.drops
    assert len(records) == 3
