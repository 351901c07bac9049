"""The Trio relay worker on real loopback sockets, with fake transceivers and clients.

Every "nothing arrived" claim uses a barrier instead of a sleep: the bad packets are sent
first and a good one after them on the same path; the relay handles a socket's datagrams in
order, so once the good one has arrived the bad ones were already dropped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from tests.support.netns import extra_addresses
from tests.support.rawudp import raw_udp_available, send_raw_udp
from tests.support.relay import FakeTransceiver, binding_request
from voice.relay.config import RelayConfig
from voice.relay.counters import DropReason
from voice.relay.directory import DnsPattern
from voice.relay.router import Outgoing
from voice.relay.shim import encode_shim
from voice.relay.token import TokenKey
from voice.relay.worker import RelayWorker, serve_relay
from voice.types import Address

from .conftest import HANG, KEY, Client, check, token


def config(**kwargs: object) -> RelayConfig:
    return RelayConfig(keys=(KEY,), log_interval=0, **kwargs)  # type: ignore[arg-type]


async def start(nursery: trio.Nursery, cfg: RelayConfig, **kwargs: object) -> RelayWorker:
    worker = RelayWorker(cfg, **kwargs)  # type: ignore[arg-type]
    await nursery.start(worker.run)
    return worker


async def transceivers(nursery: trio.Nursery, count: int) -> list[FakeTransceiver]:
    fakes = [FakeTransceiver() for _ in range(count)]
    for fake in fakes:
        await nursery.start(fake.run)
    return fakes


def directory(fakes: list[FakeTransceiver]) -> dict[int, Address]:
    return {n + 1: fake.address for n, fake in enumerate(fakes) if fake.address}


async def test_serve_relay_reports_its_public_address(nursery: trio.Nursery) -> None:
    [t1] = await transceivers(nursery, 1)
    address = await nursery.start(serve_relay, config(static_directory=directory([t1])))
    assert address[0] == "127.0.0.1" and address[1] > 0


async def test_admission_by_token_and_the_reply_path(nursery: trio.Nursery) -> None:
    with trio.fail_after(HANG):
        t1, t2 = await transceivers(nursery, 2)
        relay = await start(nursery, config(static_directory=directory([t1, t2])))
        assert relay.public_address is not None
        client = await Client().open()
        request = check(2)
        await client.send(request, relay.public_address)
        got = await t2.next()
        assert (got.client, got.payload, got.relay) == (
            client.address,
            request,
            relay.internal_address,
        )
        answer, source = await client.receive()
        assert answer == b"\x01\x01" + request[2:] and source == relay.public_address
        # From now on the address is known: DTLS and RTP go through untouched, both ways.
        for payload in (b"\x16\xfe\xfd hello", b"\x80\x6f\x00\x01 audio"):
            await client.send(payload, relay.public_address)
            assert (await t2.next()).payload == payload
            assert await client.receive() == (payload, relay.public_address)
        assert t1.received == []
        assert relay.counters.admissions == 1


async def test_forged_tokens_reach_no_transceiver(nursery: trio.Nursery) -> None:
    with trio.fail_after(HANG):
        t1, t2 = await transceivers(nursery, 2)
        relay = await start(nursery, config(static_directory=directory([t1, t2])))
        assert relay.public_address is not None
        client = await Client().open()
        forged = [
            binding_request(token(1, key=TokenKey(1, b"attacker's own key!!")) + b":x"),
            binding_request(token(1)[:-3] + b"AAA:x"),  # tampered MAC
            binding_request(b"B" * 32 + b":x"),
            binding_request(token(1, cluster=9) + b":x"),  # valid, other cluster
            b"\x80\x00 rtp from nowhere",
            b"\x16\xfe\xfd dtls from nowhere",
        ]
        for bad in forged:
            await client.send(bad, relay.public_address)
        good = check(1)
        await client.send(good, relay.public_address)
        assert (await t1.next()).payload == good
        assert [r.payload for r in t1.received] == [good]
        assert t2.received == []
        # The only thing the client ever got back is the transceiver's answer to `good`.
        assert (await client.receive())[0] == b"\x01\x01" + good[2:]
        drops = relay.counters.drops
        assert drops[DropReason.BAD_TOKEN] == 3
        assert drops[DropReason.OTHER_CLUSTER] == 1
        assert drops[DropReason.NOT_STUN] == 2


async def test_two_transceivers_each_get_only_their_sessions(nursery: trio.Nursery) -> None:
    with trio.fail_after(HANG):
        t1, t2 = await transceivers(nursery, 2)
        relay = await start(nursery, config(static_directory=directory([t1, t2])))
        assert relay.public_address is not None
        clients = [await Client().open() for _ in range(4)]
        owner = {c.address: (t1 if n % 2 == 0 else t2) for n, c in enumerate(clients)}
        for n, client in enumerate(clients):
            await client.send(check(1 if n % 2 == 0 else 2), relay.public_address)
            await owner[client.address].next()
            await client.receive()
        for round_ in range(5):
            for client in clients:
                await client.send(b"\x80 %d" % round_, relay.public_address)
            for client in clients:
                assert (await client.receive())[0] == b"\x80 %d" % round_
        for fake in (t1, t2):
            assert {r.client for r in fake.received} == {c for c, t in owner.items() if t is fake}
            assert len(fake.received) == 2 * (1 + 5)


async def test_shim_from_an_unknown_host_is_dropped(nursery: trio.Nursery) -> None:
    with trio.fail_after(HANG):
        [t1] = await transceivers(nursery, 1)
        relay = await start(nursery, config(static_directory=directory([t1])))
        assert relay.public_address is not None and relay.internal_address is not None
        client = await Client().open()
        await client.send(check(1), relay.public_address)
        await t1.next()
        await client.receive()
        intruder = await Client("127.0.0.2").open()
        await intruder.send(encode_shim(client.address, b"injected"), relay.internal_address)
        await intruder.send(b"\x01\x09 not a shim header", relay.internal_address)
        await t1.send(client.address, b"legitimate")
        assert (await client.receive())[0] == b"legitimate"
        assert relay.counters.drops[DropReason.SHIM_SOURCE] == 2


async def test_forged_flood_does_not_disturb_a_flow(nursery: trio.Nursery) -> None:
    with trio.fail_after(HANG):
        [t1] = await transceivers(nursery, 1)
        relay = await start(nursery, config(static_directory=directory([t1])))
        assert relay.public_address is not None
        client = await Client().open()
        await client.send(check(1), relay.public_address)
        await t1.next()
        await client.receive()
        flooders = [await Client().open() for _ in range(8)]
        forged = [binding_request(b"B" + bytes([65 + n % 26]) * 31 + b":x") for n in range(40)]
        for n in range(50):
            for flooder in flooders:
                for bad in forged[:5]:
                    await flooder.send(bad, relay.public_address)
            payload = b"\x80 frame %d" % n
            await client.send(payload, relay.public_address)
            assert await client.receive() == (payload, relay.public_address)
        assert len(t1.received) == 1 + 50
        assert relay.counters.drops[DropReason.BAD_TOKEN] == 50 * 8 * 5
        assert len(relay.router.table) == 1


async def restart_scenario(nursery: trio.Nursery, *, transceiver_first: bool) -> None:
    [t1] = await transceivers(nursery, 1)
    client = await Client().open()
    async with trio.open_nursery() as first_life:
        relay = await start(first_life, config(static_directory=directory([t1])))
        assert relay.public_address is not None and relay.internal_address is not None
        public, internal = relay.public_address, relay.internal_address
        await client.send(check(1), public)
        await t1.next()
        await client.receive()
        first_life.cancel_scope.cancel()  # the relay dies: its table is gone
    # A new relay on the same addresses, with an empty table.
    cfg = config(static_directory=directory([t1]), public=public, internal=internal)
    async with trio.open_nursery() as second_life:
        relay = await start(second_life, cfg)
        assert len(relay.router.table) == 0
        if transceiver_first:
            # The transceiver's next packet rebuilds the entry; then the client's next
            # (non-STUN) packet is forwarded without any new check.
            await t1.send(client.address, b"\x80 from the agent")
            assert await client.receive() == (b"\x80 from the agent", public)
            await client.send(b"\x80 from the caller", public)
            assert (await t1.next()).payload == b"\x80 from the caller"
            assert await client.receive() == (b"\x80 from the caller", public)  # the echo
        else:
            # Client first: media from an address the new relay does not know is dropped...
            await client.send(b"\x80 lost", public)
            # ...and the client's next consent check admits it again.
            consent = check(1)
            await client.send(consent, public)
            assert (await t1.next()).payload == consent
            assert (await client.receive())[0] == b"\x01\x01" + consent[2:]
            assert relay.counters.drops[DropReason.NOT_STUN] == 1
        await client.send(b"\x80 flowing", public)
        assert (await t1.next()).payload == b"\x80 flowing"
        assert await client.receive() == (b"\x80 flowing", public)
        second_life.cancel_scope.cancel()


async def test_restart_transceiver_first(nursery: trio.Nursery) -> None:
    with trio.fail_after(HANG):
        await restart_scenario(nursery, transceiver_first=True)


async def test_restart_client_first(nursery: trio.Nursery) -> None:
    with trio.fail_after(HANG):
        await restart_scenario(nursery, transceiver_first=False)


async def test_dns_directory_resolves_with_getaddrinfo(nursery: trio.Nursery) -> None:
    with trio.fail_after(HANG):
        [t1] = await transceivers(nursery, 1)
        assert t1.address is not None
        pattern = DnsPattern.parse(f"127.0.0.{{id}}:{t1.address[1]}")
        relay = await start(nursery, config(dns_pattern=pattern))
        assert relay.public_address is not None
        client = await Client().open()
        request = check(1)
        await client.send(request, relay.public_address)  # parked while 127.0.0.1 resolves
        assert (await t1.next()).payload == request
        assert (await client.receive())[0] == b"\x01\x01" + request[2:]
        assert relay.router.directory.resolutions == 1


async def test_dns_failure_drops_and_counts(nursery: trio.Nursery) -> None:
    with trio.fail_after(HANG):
        [t1] = await transceivers(nursery, 1)
        assert t1.address is not None
        asked: list[str] = []

        async def resolver(host: str, port: int) -> Address | None:
            asked.append(host)
            return None if host.startswith("t2.") else t1.address

        pattern = DnsPattern.parse("t{id}.transceivers.example:4000")
        relay = await start(nursery, config(dns_pattern=pattern), resolver=resolver)
        assert relay.public_address is not None
        client, other = await Client().open(), await Client().open()
        await client.send(check(2), relay.public_address)
        await other.send(check(1), relay.public_address)
        await t1.next()  # the lookup for t1 finished; t2's failed meanwhile or will
        while relay.router.directory.failures == 0:
            await trio.testing.wait_all_tasks_blocked()
        assert relay.counters.drops[DropReason.DIRECTORY_FAILED] == 1
        assert sorted(asked) == ["t1.transceivers.example", "t2.transceivers.example"]
        assert [r.client for r in t1.received] == [other.address]


async def test_ipv6_on_both_sides(nursery: trio.Nursery) -> None:
    with trio.fail_after(HANG):
        t1 = FakeTransceiver("::1")
        await nursery.start(t1.run)
        assert t1.address is not None
        cfg = config(static_directory={1: t1.address}, public=("::1", 0), internal=("::1", 0))
        relay = await start(nursery, cfg)
        assert relay.public_address is not None and relay.public_address[0] == "::1"
        client = await Client("::1").open()
        request = check(1)
        await client.send(request, relay.public_address)
        got = await t1.next()
        assert got.client == client.address and got.payload == request
        assert (await client.receive())[0] == b"\x01\x01" + request[2:]
        await client.send(b"\x80 v6 media", relay.public_address)
        assert await client.receive() == (b"\x80 v6 media", relay.public_address)


needs_raw = pytest.mark.skipif(not raw_udp_available(), reason="raw sockets need root")


@needs_raw
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_source_port_zero_with_a_valid_token_is_dropped(
    nursery: trio.Nursery, host: str
) -> None:
    """A check from port 0 carrying a live token once ended the worker (and `voice serve`
    with it): no shim header can name port 0. Now it is counted and dropped, and the worker
    goes on forwarding."""
    with trio.fail_after(HANG):
        t1 = FakeTransceiver(host)
        await nursery.start(t1.run)
        assert t1.address is not None
        cfg = config(static_directory={1: t1.address}, public=(host, 0), internal=(host, 0))
        relay = await start(nursery, cfg)
        assert relay.public_address is not None
        for _ in range(3):
            send_raw_udp((host, 0), relay.public_address, check(1))
        client = await Client(host).open()
        good = check(1)
        await client.send(good, relay.public_address)
        assert (await t1.next()).payload == good
        assert (await client.receive())[0] == b"\x01\x01" + good[2:]
        assert [r.client for r in t1.received] == [client.address]
        assert relay.counters.drops[DropReason.BAD_SOURCE] == 3
        assert not relay.stopped.is_set()


async def test_a_failing_datagram_is_counted_and_the_pumps_go_on(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever bug the router may still have, one datagram cannot end the worker: each
    pump counts an exception as `internal-error`, drops the datagram and goes on."""
    with trio.fail_after(HANG):
        [t1] = await transceivers(nursery, 1)
        relay = RelayWorker(config(static_directory=directory([t1])))
        poison = b"\x00\x01poison"
        from_client, from_transceiver = relay.router.from_client, relay.router.from_transceiver

        def client_side(data: bytes, client: Address, now: float) -> Outgoing | None:
            if poison in data:
                raise RuntimeError("a bug")
            return from_client(data, client, now)

        def transceiver_side(data: bytes, source: Address, now: float) -> Outgoing | None:
            if poison in data:
                raise RuntimeError("a bug")
            return from_transceiver(data, source, now)

        monkeypatch.setattr(relay.router, "from_client", client_side)
        monkeypatch.setattr(relay.router, "from_transceiver", transceiver_side)
        await nursery.start(relay.run)
        assert relay.public_address is not None
        client = await Client().open()
        await client.send(poison, relay.public_address)
        good = check(1)
        await client.send(good, relay.public_address)
        assert (await t1.next()).payload == good
        await client.receive()
        await t1.send(client.address, poison)
        await t1.send(client.address, b"\x80 after")
        assert await client.receive() == (b"\x80 after", relay.public_address)
        assert relay.counters.drops[DropReason.INTERNAL_ERROR] == 2


@pytest.mark.parametrize(
    ("wildcard", "first", "second", "cidrs"),
    [
        ("0.0.0.0", "10.77.0.1", "10.77.0.2", ["10.77.0.2/24"]),
        ("::", "fd00:77::1", "fd00:77::2", ["fd00:77::1/64", "fd00:77::2/64"]),
    ],
)
async def test_wildcard_relay_answers_from_the_address_the_client_wrote_to(
    nursery: trio.Nursery, wildcard: str, first: str, second: str, cidrs: list[str]
) -> None:
    """Issue 11 §5b (VOICE-RELAY §11): on a host whose interface has two addresses, a relay
    bound to the wildcard answers each client from the address that client sent to, not
    from the kernel's choice, which the client's ICE agent would ignore."""
    with extra_addresses(*cidrs), trio.fail_after(HANG):
        [t1] = await transceivers(nursery, 1)
        relay = await start(nursery, config(static_directory=directory([t1]), public=(wildcard, 0)))
        assert relay.public_address is not None
        port = relay.public_address[1]
        for target in (second, first):
            client = await Client(first).open()
            request = check(1)
            await client.send(request, (target, port))
            assert (await t1.next()).payload == request
            answer, source = await client.receive()
            assert answer == b"\x01\x01" + request[2:]
            assert source == (target, port)
            # Media the transceiver sends later leaves from the same address.
            await t1.send(client.address, b"\x80 later")
            assert await client.receive() == (b"\x80 later", (target, port))


def test_the_fleet_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    """VOICE-RELAY §12: a fleet change needs no restart. The worker checks the file every
    ``fleet_refresh`` seconds and installs what it reads; a file that does not parse leaves
    the last good view in place."""
    path = tmp_path / "fleet.json"
    path.write_text('{"clusters": {"2": ["10.2.0.5:50100"]}}')
    config = RelayConfig(
        keys=(KEY,), fleet_file=str(path), fleet_refresh=5.0, fleet_static={3: (("10.3.0.1", 1),)}
    )
    worker = RelayWorker(config)
    fleet = worker.router.fleet
    assert fleet.relays(2, now=0) == (("10.2.0.5", 50100),)
    worker._reload_fleet(0.0)
    path.write_text('{"clusters": {"2": ["10.2.0.9:50100"], "4": ["10.4.0.1:50100"]}}')
    os.utime(path, ns=(1, 10**18))
    worker._reload_fleet(1.0)  # not yet: checked every fleet_refresh seconds
    assert fleet.relays(2, now=1) == (("10.2.0.5", 50100),)
    worker._reload_fleet(5.0)
    assert fleet.relays(2, now=5) == (("10.2.0.9", 50100),)
    assert fleet.relays(4, now=5) == (("10.4.0.1", 50100),)
    assert fleet.relays(3, now=5) == (("10.3.0.1", 1),)  # flags stay
    assert worker.router.backbone.allows("10.4.0.1")
    path.write_text("{not json")
    os.utime(path, ns=(1, 2 * 10**18))
    worker._reload_fleet(10.0)
    assert fleet.relays(4, now=10) == (("10.4.0.1", 50100),)
    path.write_text("[" * 100_000)  # nested past the JSON parser's recursion limit
    os.utime(path, ns=(1, 3 * 10**18))
    worker._reload_fleet(15.0)
    assert fleet.relays(4, now=15) == (("10.4.0.1", 50100),)


async def test_a_cluster_found_by_dns_carries_the_call_over_the_backbone(
    nursery: trio.Nursery,
) -> None:
    """VOICE-RELAY §12 through the driver: the ingress resolves the owning cluster's name
    beside its loop (the check waits meanwhile), forwards to the relay it names, and the
    fake transceiver's answer comes back through both relays from the ingress's address."""
    from voice.relay.fleet import FleetPattern

    with trio.fail_after(HANG):
        [fake] = await transceivers(nursery, 1)
        assert fake.address is not None
        owner = await start(
            nursery,
            config(
                cluster=2, static_directory={1: fake.address}, backbone_networks=("127.0.0.0/8",)
            ),
        )
        assert owner.internal_address is not None
        asked: list[tuple[str, int]] = []

        async def resolve_all(host: str, port: int) -> list[Address]:
            asked.append((host, port))
            assert owner.internal_address is not None
            return [owner.internal_address]

        pattern = FleetPattern.parse(f"relays.{{cluster}}.test:{owner.internal_address[1]}")
        ingress = await start(
            nursery, config(cluster=1, fleet_pattern=pattern), resolve_all=resolve_all
        )
        assert ingress.public_address is not None
        client = await Client().open()
        request = check(1, cluster=2)
        await client.send(request, ingress.public_address)
        got = await fake.next()
        assert (got.client, got.payload, got.relay) == (
            client.address,
            request,
            owner.internal_address,
        )
        answer, source = await client.receive()
        assert answer == b"\x01\x01" + request[2:] and source == ingress.public_address
        await client.send(b"\x80 audio", ingress.public_address)
        assert (await fake.next()).payload == b"\x80 audio"
        assert await client.receive() == (b"\x80 audio", ingress.public_address)
    assert asked == [("relays.2.test", owner.internal_address[1])]
    assert ingress.counters.admissions == 1 and owner.counters.admissions == 0
    assert ingress.router.fleet.resolutions == 1
