"""The forwarding rules (VOICE-RELAY §2-§4), sans-IO: datagrams in, decisions out."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.relay import binding_request
from voice.relay.admission import AdmissionLimiter
from voice.relay.counters import DropReason
from voice.relay.directory import Directory, DnsPattern
from voice.relay.networks import NetworkAllowlist
from voice.relay.router import Router
from voice.relay.shim import decode_shim, encode_shim, shim_header
from voice.relay.table import RouteTable
from voice.relay.token import TokenKey, TokenMinter, TokenVerifier

KEY = TokenKey(1, b"k" * 32)
WALL = 1_735_689_600.0
T1 = ("10.0.0.1", 4001)
T2 = ("10.0.0.2", 4002)
CLIENT = ("198.51.100.7", 50123)
OTHER = ("198.51.100.8", 50124)


def token(transceiver: int = 1, cluster: int = 0, key: TokenKey = KEY) -> bytes:
    return TokenMinter(key, cluster, transceiver).mint(WALL).encode()


def check(transceiver: int = 1, cluster: int = 0) -> bytes:
    return binding_request(token(transceiver, cluster) + b":clientufrag")


def make_router(**kwargs: object) -> Router:
    directory = kwargs.pop("directory", None) or Directory({1: T1, 2: T2})
    assert isinstance(directory, Directory)
    router = Router(TokenVerifier([KEY]), directory, **kwargs)  # type: ignore[arg-type]
    router.handle_timeout(0.0, wall=WALL)  # the driver's first call sets the wall clock
    return router


def test_valid_token_admits_and_forwards_with_shim() -> None:
    router = make_router()
    request = check(2)
    out = router.from_client(request, CLIENT, now=1)
    assert out is not None
    datagram, where = out
    assert where == T2
    assert decode_shim(datagram) == (CLIENT, request)
    assert router.counters.admissions == 1
    assert CLIENT in router.table


def test_known_client_is_forwarded_without_inspection() -> None:
    router = make_router()
    router.from_client(check(1), CLIENT, now=1)
    for payload in (b"\x16\xfe\xfd dtls", b"\x80\x6f rtp", b"\xff junk", b"\x00"):
        assert router.from_client(payload, CLIENT, now=2) == (shim_header(CLIENT) + payload, T1)


def test_unknown_address_needs_a_stun_check() -> None:
    router = make_router()
    assert router.from_client(b"\x16\xfe\xfd dtls", CLIENT, now=1) is None
    assert router.from_client(b"\x80\x00 rtp", CLIENT, now=1) is None
    assert router.counters.drops[DropReason.NOT_STUN] == 2
    # STUN, but not a routable Binding request: no USERNAME, no colon, or a response.
    assert router.from_client(binding_request(b"")[:20], CLIENT, now=1) is None
    assert router.from_client(binding_request(token()), CLIENT, now=1) is None
    response = b"\x01\x01" + check()[2:]
    assert router.from_client(response, CLIENT, now=1) is None
    assert router.counters.drops[DropReason.NOT_ROUTABLE] == 3
    assert len(router.table) == 0


def test_forged_token_creates_no_state() -> None:
    router = make_router(directory=Directory(pattern=DnsPattern.parse("t{id}.example:1")))
    forged = token(1, key=TokenKey(1, b"x" * 32))
    tampered = token(1)[:-2] + b"AA"
    for bad in (forged, tampered, b"B" * 32, b"short", b"\xff" * 32):
        assert router.from_client(binding_request(bad + b":c"), CLIENT, now=1) is None
    assert router.counters.drops[DropReason.BAD_TOKEN] == 5
    # The MAC is checked before anything is remembered: no entry, no bucket, no lookup.
    assert len(router.table) == 0
    assert len(router.limiter) == 0
    assert not router.directory.wants_resolution
    assert router.datagrams_to_send() == []


def test_other_cluster_is_dropped() -> None:
    router = make_router(cluster=0)
    assert router.from_client(check(1, cluster=5), CLIENT, now=1) is None
    assert router.counters.drops[DropReason.OTHER_CLUSTER] == 1


def test_admissions_are_rate_limited_per_source_ip() -> None:
    router = make_router(limiter=AdmissionLimiter(rate=1, burst=2))
    request = check(1)
    ports = [("198.51.100.7", 40000 + n) for n in range(3)]
    assert router.from_client(request, ports[0], now=1) is not None
    assert router.from_client(request, ports[1], now=1) is not None
    assert router.from_client(request, ports[2], now=1) is None
    assert router.counters.drops[DropReason.ADMISSION_LIMIT] == 1
    assert router.from_client(request, ("203.0.113.1", 1000), now=1) is not None
    # Known addresses do not pay: the admitted ones keep flowing.
    assert router.from_client(b"\x80rtp", ports[0], now=1.1) is not None
    assert router.from_client(request, ports[2], now=2) is not None  # refilled


def test_directory_misses() -> None:
    router = make_router(directory=Directory({1: T1}))
    assert router.from_client(check(9), CLIENT, now=1) is None
    assert router.counters.drops[DropReason.DIRECTORY_UNKNOWN] == 1


def test_dns_lookup_parks_then_forwards_the_check() -> None:
    router = make_router(directory=Directory(pattern=DnsPattern.parse("t{id}.example:4000")))
    request = check(7)
    assert router.from_client(request, CLIENT, now=1) is None
    assert router.from_client(request, OTHER, now=1) is None
    [lookup] = router.directory.take_requests()
    assert (lookup.transceiver, lookup.host, lookup.port) == (7, "t7.example", 4000)
    router.resolved(7, ("10.9.9.9", 4000), now=1.01)
    sent = router.datagrams_to_send()
    assert [where for _, where in sent] == [("10.9.9.9", 4000)] * 2
    assert [decode_shim(d)[0] for d, _ in sent] == [CLIENT, OTHER]
    assert router.counters.admissions == 2
    # Resolved transceivers are allowed to send shim packets back.
    assert router.from_transceiver(encode_shim(CLIENT, b"x"), ("10.9.9.9", 4000), 2) == (
        b"x",
        CLIENT,
    )


def test_failed_dns_lookup_drops_parked_checks() -> None:
    router = make_router(directory=Directory(pattern=DnsPattern.parse("t{id}.example:4000")))
    router.from_client(check(7), CLIENT, now=1)
    router.directory.take_requests()
    router.resolved(7, None, now=1.5)
    assert router.datagrams_to_send() == []
    assert router.counters.drops[DropReason.DIRECTORY_FAILED] == 1
    assert router.from_client(check(7), OTHER, now=2) is None  # negatively cached
    assert router.counters.drops[DropReason.DIRECTORY_FAILED] == 2


def test_parking_is_bounded() -> None:
    router = make_router(
        directory=Directory(pattern=DnsPattern.parse("t{id}.example:4000")),
        max_parked=2,
        max_parked_transceivers=1,
        limiter=AdmissionLimiter(rate=100, burst=100),
    )
    for n in range(3):
        router.from_client(check(7), ("198.51.100.7", 1000 + n), now=1)
    router.from_client(check(8), CLIENT, now=1)
    assert router.counters.drops[DropReason.DIRECTORY_BACKLOG] == 2


def test_transceiver_packet_goes_to_the_client_and_creates_the_entry() -> None:
    router = make_router()
    payload = b"\x80\x6f audio"
    assert router.from_transceiver(encode_shim(CLIENT, payload), T1, now=1) == (payload, CLIENT)
    # Transceiver first (as after a relay restart): the client's next packet flows at once.
    assert router.from_client(b"\x80\x6f more", CLIENT, now=1.02) == (
        shim_header(CLIENT) + b"\x80\x6f more",
        T1,
    )
    assert router.counters.admissions == 0


def test_shim_only_from_transceivers() -> None:
    router = make_router(allowlist=NetworkAllowlist(["10.1.0.0/16"]))
    datagram = encode_shim(CLIENT, b"x")
    assert router.from_transceiver(datagram, ("192.0.2.66", 4000), now=1) is None
    assert router.counters.drops[DropReason.SHIM_SOURCE] == 1
    assert router.from_transceiver(datagram, ("10.1.2.3", 4000), now=1) == (b"x", CLIENT)
    assert router.from_transceiver(b"\x02garbage", ("10.1.2.3", 4000), now=1) is None
    assert router.counters.drops[DropReason.SHIM_MALFORMED] == 1
    assert CLIENT in router.table and len(router.table) == 1


def test_default_allowlist_is_the_directory() -> None:
    router = make_router()
    datagram = encode_shim(CLIENT, b"x")
    assert router.from_transceiver(datagram, T2, now=1) == (b"x", CLIENT)
    assert router.from_transceiver(datagram, ("10.0.0.3", 4001), now=1) is None


def test_latest_transceiver_statement_wins_but_client_checks_do_not_repoint() -> None:
    router = make_router()
    router.from_client(check(1), CLIENT, now=1)
    # A (possibly spoofed) check naming another transceiver does not move a live entry...
    other = check(2)
    assert router.from_client(other, CLIENT, now=2) == (shim_header(CLIENT) + other, T1)
    # ...but a transceiver speaking for the client does.
    router.from_transceiver(encode_shim(CLIENT, b"x"), T2, now=3)
    assert router.from_client(b"\x80", CLIENT, now=4) == (shim_header(CLIENT) + b"\x80", T2)


def test_tick_expires_entries_and_keeps_wall_time() -> None:
    router = make_router()
    router.from_client(check(1), CLIENT, now=1)
    router.handle_timeout(100, wall=WALL + 100)
    assert len(router.table) == 0
    assert router.counters.table_expired == 1 and router.counters.table_size == 0
    # Token expiry uses the wall clock the driver reported: two days later, refused.
    router.handle_timeout(200, wall=WALL + 2 * 86400)
    assert router.from_client(check(1), CLIENT, now=201) is None
    assert router.counters.drops[DropReason.BAD_TOKEN] == 1


@settings(max_examples=3000)
@given(st.binary(max_size=200), st.booleans())
def test_never_answers_a_client_and_never_raises(data: bytes, as_stun: bool) -> None:
    router = make_router()
    if as_stun:
        data = binding_request(data)
    out = router.from_client(data, CLIENT, now=1)
    # Whatever a client sends, the relay sends nothing back to it: at most a forward.
    assert out is None or out[1] in (T1, T2)
    out = router.from_transceiver(data, T1, now=1)
    assert out is None or out[1] != T1


def test_a_known_client_sends_within_its_budget_and_others_are_untouched() -> None:
    """VOICE-RELAY §10: an admitted source flooding is cut to its budget; another client's
    datagrams at the same moment all pass."""
    router = make_router(client_rate=10.0, client_burst=5.0)
    router.table.burst = 5.0
    router.from_client(check(1), CLIENT, now=1)
    router.from_client(check(1), OTHER, now=1)
    flood = [router.from_client(b"\x00\x01 flood", CLIENT, now=1) for _ in range(1000)]
    assert sum(out is not None for out in flood) == 5  # the burst
    assert router.counters.drops[DropReason.RATE_LIMIT] == 995
    assert all(router.from_client(b"\x80 audio", OTHER, now=1 + n / 50) for n in range(1, 4))
    # The budget refills at the rate: a second later, ten more.
    later = [router.from_client(b"\x80", CLIENT, now=2) for _ in range(20)]
    assert sum(out is not None for out in later) == 5  # capped by the burst
    assert CLIENT in router.table  # rate limiting never removes an entry


def test_admissions_are_bounded_for_the_worker_as_a_whole() -> None:
    """VOICE-RELAY §5: many source IPs, each within its own bucket, still cannot admit
    faster than the worker's bucket allows."""
    limiter = AdmissionLimiter(rate=1, burst=2, global_rate=2, global_burst=3)
    router = make_router(limiter=limiter)
    clients = [(f"198.51.100.{n}", 5000) for n in range(1, 11)]
    admitted = [router.from_client(check(1), c, now=1) is not None for c in clients]
    assert admitted == [True] * 3 + [False] * 7
    assert router.counters.drops[DropReason.ADMISSION_GLOBAL] == 7
    assert router.from_client(check(1), clients[3], now=1.5) is not None  # refilled by one


def test_spoofed_admissions_cannot_evict_a_live_call() -> None:
    """VOICE-RELAY §5: admissions from any number of sources come at most at the worker's
    rate; a live call touches its entry every 20 ms, so the table would have to fill
    within 20 ms to push it out, and the global bucket is far smaller than the table."""
    limiter = AdmissionLimiter(rate=20, burst=40, global_rate=1000, global_burst=40)
    router = make_router(limiter=limiter, table=RouteTable(max_entries=50))
    router.from_client(check(1), CLIENT, now=0.0)
    now, spoofed = 0.0, 0
    for tick in range(1, 500):  # ten seconds of 20 ms frames
        now = tick * 0.02
        for _ in range(400):  # 20 000 forged admissions a second, each from a new source
            spoofed += 1
            source = (f"10.{spoofed >> 16 & 255}.{spoofed >> 8 & 255}.{spoofed & 255}", 9)
            router.from_client(check(1), source, now)
        assert router.from_client(b"\x80 audio", CLIENT, now) is not None
    assert router.table.evicted > 0  # the attack did fill the table...
    assert CLIENT in router.table  # ...and the call's entry was never the one to go


def test_housekeeping_is_due_a_second_after_the_last() -> None:
    router = make_router()
    router.handle_timeout(5.0)
    assert router.get_timer() == 6.0
    router.handle_timeout(6.25, wall=WALL + 6.25)
    assert router.get_timer() == 7.25
