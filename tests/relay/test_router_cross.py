"""Across clusters (VOICE-RELAY §12, VOICE-SHIM §10), sans-IO: an ingress relay of cluster 1,
an owning relay of cluster 2, datagrams fed in by hand with an explicit ``now``."""

from __future__ import annotations

from tests.support.relay import binding_request
from voice.relay.admission import AdmissionLimiter
from voice.relay.counters import DropReason
from voice.relay.directory import Directory, DnsPattern
from voice.relay.fleet import Fleet, FleetPattern
from voice.relay.networks import NetworkAllowlist
from voice.relay.router import Router
from voice.relay.shim import (
    INBOUND,
    OUTBOUND,
    decode_forward,
    encode_shim,
    forward_header,
    shim_header,
)
from voice.relay.token import TokenKey, TokenMinter, TokenVerifier

KEY = TokenKey(1, b"k" * 32)
WALL = 1_735_689_600.0
INGRESS = ("10.1.0.5", 50100)  # cluster 1's relay, its backbone (internal) address
OWNER = ("10.2.0.5", 50100)  # cluster 2's relay
OWNER_2 = ("10.2.0.6", 50100)
T7 = ("10.2.1.7", 4000)  # transceiver 7 of cluster 2, private to cluster 2
CLIENT = ("198.51.100.7", 50123)
STRANGER = ("203.0.113.9", 50100)
FLEET = {1: (INGRESS,), 2: (OWNER,)}


def token(transceiver: int = 7, cluster: int = 2, key: TokenKey = KEY, wall: float = WALL) -> bytes:
    return TokenMinter(key, cluster, transceiver).mint(wall).encode()


def check(transceiver: int = 7, cluster: int = 2, **kwargs: object) -> bytes:
    return binding_request(token(transceiver, cluster, **kwargs) + b":clientufrag")  # type: ignore[arg-type]


def ingress(**kwargs: object) -> Router:
    kwargs.setdefault("fleet", Fleet(FLEET))
    router = Router(
        TokenVerifier([KEY], max_age=3600.0),
        Directory({1: ("10.1.1.1", 4000)}),
        cluster=1,
        **kwargs,  # type: ignore[arg-type]
    )
    router.handle_timeout(0.0, wall=WALL)
    return router


def owner(directory: Directory | None = None) -> Router:
    router = Router(
        TokenVerifier([KEY]),
        directory or Directory({7: T7}),
        cluster=2,
        fleet=Fleet(FLEET),
    )
    router.handle_timeout(0.0, wall=WALL)
    return router


def transceiver_reply(inbound: bytes, payload: bytes) -> bytes:
    """What a transceiver sends back for the client of ``inbound`` (VOICE-SHIM §10)."""
    return decode_forward(inbound).reply_header() + payload


def test_other_cluster_token_goes_over_the_backbone_with_the_session_ids() -> None:
    router = ingress()
    request = check()
    out = router.from_client(request, CLIENT, now=1)
    assert out is not None
    datagram, where = out
    assert where == OWNER
    forward = decode_forward(datagram)
    assert (forward.client, forward.direction, forward.via) == (CLIENT, INBOUND, None)
    assert (forward.cluster, forward.transceiver, forward.payload) == (2, 7, request)
    assert router.counters.admissions == 1
    # Later datagrams, whatever they are, follow the entry with the same header.
    rtp = b"\x80\x6f rtp"
    assert router.from_client(rtp, CLIENT, now=2) == (
        forward_header(CLIENT, INBOUND, 2, 7, None) + rtp,
        OWNER,
    )


def test_a_cluster_the_fleet_view_does_not_know_is_dropped_uncharged() -> None:
    router = ingress(limiter=AdmissionLimiter(rate=1, burst=1))
    assert router.from_client(check(cluster=9), CLIENT, now=1) is None
    assert router.counters.drops[DropReason.OTHER_CLUSTER] == 1
    assert len(router.table) == 0
    assert len(router.limiter) == 0
    # No fleet view at all: today's behaviour.
    plain = ingress(fleet=Fleet())
    assert plain.from_client(check(), CLIENT, now=1) is None
    assert plain.counters.drops[DropReason.OTHER_CLUSTER] == 1


def test_forged_or_expired_tokens_forward_nothing_anywhere() -> None:
    router = ingress(fleet=Fleet(FLEET, FleetPattern.parse("relays.{cluster}.example:1")))
    forged = check(key=TokenKey(1, b"x" * 32))
    expired = check(wall=WALL - 2 * 3600)
    tampered = binding_request(token()[:-2] + b"AA:c")
    for bad in (forged, expired, tampered):
        assert router.from_client(bad, CLIENT, now=1) is None
    assert router.counters.drops[DropReason.BAD_TOKEN] == 3
    assert len(router.table) == 0
    assert len(router.limiter) == 0
    assert not router.fleet.wants_resolution
    assert router.datagrams_to_send() == []


def test_admission_limits_apply_at_the_ingress() -> None:
    router = ingress(limiter=AdmissionLimiter(rate=1, burst=2, global_rate=1, global_burst=10))
    sources = [("198.51.100.7", 40000 + n) for n in range(3)]
    assert router.from_client(check(), sources[0], now=1) is not None
    assert router.from_client(check(), sources[1], now=1) is not None
    assert router.from_client(check(), sources[2], now=1) is None
    assert router.counters.drops[DropReason.ADMISSION_LIMIT] == 1
    tight = ingress(limiter=AdmissionLimiter(rate=10, burst=10, global_rate=1, global_burst=1))
    assert tight.from_client(check(), ("198.51.100.1", 1000), now=1) is not None
    assert tight.from_client(check(), ("198.51.100.2", 1000), now=1) is None
    assert tight.counters.drops[DropReason.ADMISSION_GLOBAL] == 1


def test_the_per_client_budget_applies_at_the_ingress() -> None:
    router = ingress(client_rate=1.0, client_burst=3.0)
    router.table.burst = 3.0
    assert router.from_client(check(), CLIENT, now=1) is not None
    sent = [router.from_client(b"\x80 rtp", CLIENT, now=1) for _ in range(5)]
    assert sum(out is not None for out in sent) == 3  # the admitting check is not charged
    assert router.counters.drops[DropReason.RATE_LIMIT] == 2


def test_fleet_names_are_resolved_beside_the_loop() -> None:
    router = ingress(fleet=Fleet(pattern=FleetPattern.parse("relays.{cluster}.example:50100")))
    request = check()
    assert router.from_client(request, CLIENT, now=1) is None  # parked while it resolves
    (lookup,) = router.fleet.take_requests()
    assert (lookup.cluster, lookup.host, lookup.port) == (2, "relays.2.example", 50100)
    router.fleet_resolved(2, [OWNER_2, OWNER], now=1.1)
    ((datagram, where),) = router.datagrams_to_send()
    assert where in (OWNER, OWNER_2)
    assert decode_forward(datagram).payload == request
    # The resolved relays may now speak the backbone.
    assert router.backbone.allows(OWNER_2[0])
    # A cluster whose name does not resolve: dropped and counted, negatively cached.
    assert router.from_client(check(cluster=3), OTHER, now=2) is None
    (lookup,) = router.fleet.take_requests()
    router.fleet_resolved(3, None, now=2.1)
    assert router.datagrams_to_send() == []
    assert router.counters.drops[DropReason.FLEET_FAILED] == 1
    assert router.from_client(check(cluster=3), OTHER, now=2.2) is None
    assert router.counters.drops[DropReason.FLEET_FAILED] == 2


OTHER = ("198.51.100.8", 50124)


def test_owner_forwards_to_the_transceiver_with_the_ingress_as_via_and_keeps_nothing() -> None:
    router = owner()
    inbound = forward_header(CLIENT, INBOUND, 2, 7, None) + b"payload"
    assert router.from_transceiver(inbound, INGRESS, now=1) is None
    ((datagram, where),) = router.datagrams_to_send()
    assert where == T7
    assert datagram == forward_header(CLIENT, INBOUND, 2, 7, INGRESS) + b"payload"
    assert len(router.table) == 0


def test_owner_sends_the_transceivers_reply_to_the_ingress() -> None:
    router = owner()
    reply = forward_header(CLIENT, OUTBOUND, 2, 7, INGRESS) + b"answer"
    assert router.from_transceiver(reply, T7, now=1) is None
    assert router.datagrams_to_send() == [
        (forward_header(CLIENT, OUTBOUND, 2, 7, None) + b"answer", INGRESS)
    ]
    assert len(router.table) == 0


def test_the_backbone_is_not_an_open_relay() -> None:
    router = owner()
    inbound = forward_header(CLIENT, INBOUND, 2, 7, None) + b"x"
    # Not a fleet peer: nothing goes to the transceiver.
    assert router.from_transceiver(inbound, STRANGER, now=1) is None
    # A transceiver naming a via that is no fleet peer: nothing goes there.
    reply = forward_header(CLIENT, OUTBOUND, 2, 7, STRANGER) + b"x"
    assert router.from_transceiver(reply, T7, now=1) is None
    assert router.counters.drops[DropReason.BACKBONE_SOURCE] == 2
    # A reply with a via from a host that is not a transceiver: dropped as shim.
    reply = forward_header(CLIENT, OUTBOUND, 2, 7, INGRESS) + b"x"
    assert router.from_transceiver(reply, STRANGER, now=1) is None
    assert router.counters.drops[DropReason.SHIM_SOURCE] == 1
    # One hop only: a peer's datagram for a third cluster is not passed on.
    assert (
        router.from_transceiver(forward_header(CLIENT, INBOUND, 3, 7, None) + b"x", INGRESS, now=1)
        is None
    )
    assert router.counters.drops[DropReason.OTHER_CLUSTER] == 1
    # An inbound datagram with a via is what transceivers get, not relays.
    assert (
        router.from_transceiver(
            forward_header(CLIENT, INBOUND, 2, 7, INGRESS) + b"x", INGRESS, now=1
        )
        is None
    )
    assert router.counters.drops[DropReason.SHIM_MALFORMED] == 1
    assert router.datagrams_to_send() == []
    # At the ingress: outbound datagrams from a stranger reach no client.
    edge = ingress()
    outbound = forward_header(CLIENT, OUTBOUND, 2, 7, None) + b"x"
    assert edge.from_transceiver(outbound, STRANGER, now=1) is None
    assert edge.counters.drops[DropReason.BACKBONE_SOURCE] == 1
    assert len(edge.table) == 0


def test_backbone_networks_admit_peers_the_fleet_view_does_not_name() -> None:
    router = ingress(backbone=NetworkAllowlist(["203.0.113.0/24"]))
    outbound = forward_header(CLIENT, OUTBOUND, 2, 7, None) + b"x"
    assert router.from_transceiver(outbound, STRANGER, now=1) == (b"x", CLIENT)


def test_owner_waits_for_a_transceiver_name_then_forwards_with_via() -> None:
    router = owner(Directory(pattern=DnsPattern.parse("t{id}.example:4000")))
    inbound = forward_header(CLIENT, INBOUND, 2, 7, None) + b"check"
    assert router.from_transceiver(inbound, INGRESS, now=1) is None
    (request,) = router.directory.take_requests()
    router.resolved(request.transceiver, T7, now=1.1)
    assert router.datagrams_to_send() == [
        (forward_header(CLIENT, INBOUND, 2, 7, INGRESS) + b"check", T7)
    ]


def test_an_ingress_restart_is_repaired_by_the_owners_next_datagram() -> None:
    router = ingress()  # restarted: empty table
    assert router.from_client(b"\x80 rtp", CLIENT, now=1) is None  # not STUN, no entry
    outbound = forward_header(CLIENT, OUTBOUND, 2, 7, None) + b"audio"
    assert router.from_transceiver(outbound, OWNER, now=2) == (b"audio", CLIENT)
    assert router.from_client(b"\x80 rtp", CLIENT, now=3) == (
        forward_header(CLIENT, INBOUND, 2, 7, None) + b"\x80 rtp",
        OWNER,
    )


def test_a_local_transceiver_speaking_for_the_client_turns_the_entry_back_to_version_1() -> None:
    router = ingress()
    router.from_client(check(), CLIENT, now=1)
    local = ("10.1.1.1", 4000)
    assert router.from_transceiver(encode_shim(CLIENT, b"hi"), local, now=2) == (b"hi", CLIENT)
    assert router.from_client(b"x", CLIENT, now=3) == (shim_header(CLIENT) + b"x", local)


def _transceiver_echo(datagram: bytes) -> bytes:
    """A transceiver that echoes every payload back to its client."""
    forward = decode_forward(datagram)
    assert forward.direction == INBOUND and forward.via is not None
    return forward.reply_header() + forward.payload


def _call(a: Router, b: Router, payload: bytes, now: float) -> bytes | None:
    """One datagram of a call: client -> A -> B -> transceiver -> B -> A -> client."""
    out = a.from_client(payload, CLIENT, now)
    if out is None:
        return None
    datagram, relay = out
    assert relay == OWNER
    assert b.from_transceiver(datagram, INGRESS, now) is None
    ((to_t, where),) = b.datagrams_to_send()
    assert where == T7
    assert b.from_transceiver(_transceiver_echo(to_t), T7, now) is None
    ((back, where),) = b.datagrams_to_send()
    assert where == INGRESS
    reply = a.from_transceiver(back, OWNER, now)
    assert reply is not None and reply[1] == CLIENT
    return reply[0]


def test_a_call_survives_restarts_of_either_relay_at_the_next_datagram() -> None:
    a, b = ingress(), owner()
    request = check()
    assert _call(a, b, request, now=1) == request
    assert _call(a, b, b"\x80 one", now=2) == b"\x80 one"
    b = owner()  # the owning relay restarts: it had nothing to lose
    assert _call(a, b, b"\x80 two", now=3) == b"\x80 two"
    a = ingress()  # the ingress restarts: the caller's media is dropped ...
    assert _call(a, b, b"\x80 three", now=4) is None
    # ... until the transceiver's next datagram comes through the owner.
    audio = forward_header(CLIENT, OUTBOUND, 2, 7, INGRESS) + b"audio"
    assert b.from_transceiver(audio, T7, now=4.02) is None
    ((back, _),) = b.datagrams_to_send()
    assert a.from_transceiver(back, OWNER, now=4.02) == (b"audio", CLIENT)
    assert _call(a, b, b"\x80 four", now=4.04) == b"\x80 four"


def test_calls_move_to_a_listed_relay_when_the_fleet_view_drops_theirs() -> None:
    router = ingress(fleet=Fleet({1: (INGRESS,), 2: (OWNER,)}))
    router.from_client(check(), CLIENT, now=1)
    # The owner's datagram came from another worker socket of the same host: still listed.
    router.from_transceiver(
        forward_header(OTHER, OUTBOUND, 2, 7, None) + b"x", (OWNER[0], 50101), now=1
    )
    router.fleet.replace_static({1: (INGRESS,), 2: (OWNER_2,)})
    router.handle_timeout(2.0, wall=WALL + 2)
    assert router.from_client(b"\x80 rtp", CLIENT, now=3) == (
        forward_header(CLIENT, INBOUND, 2, 7, None) + b"\x80 rtp",
        OWNER_2,
    )
    assert router.from_client(b"\x80 rtp", OTHER, now=3)[1] == OWNER_2  # type: ignore[index]
    assert router.counters.fleet_repointed == 2
    # The same host still listed: nothing moves.
    router.fleet.replace_static({1: (INGRESS,), 2: (OWNER_2, OWNER)})
    router.handle_timeout(4.0, wall=WALL + 4)
    assert router.counters.fleet_repointed == 2
