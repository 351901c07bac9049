"""Global Relay ingress (VOICE-RELAY §12), end to end in one ``trio.run``: a caller whose
session lives in cluster 2 sends its media to a relay of cluster 1 (its ingress), which
carries it over the "backbone" (loopback UDP) to cluster 2's relay, which hands it to the
transceiver; the echo comes back the same way. Relays and the transceiver are separate
nursery trees, talking over loopback like separate hosts."""

from __future__ import annotations

import dataclasses
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import pytest
import trio

from tests.support.relay import FakeTransceiver, binding_request
from voice.loadgen.caller import Caller
from voice.relay.config import RelayConfig
from voice.relay.counters import DropReason
from voice.relay.shim import decode_forward
from voice.relay.token import TokenKey, TokenMinter
from voice.relay.worker import RelayWorker
from voice.server import ServerConfig, ServerInfo, run_server
from voice.transceiver.service import TransceiverConfig
from voice.types import Address

KEY = TokenKey(1, secrets.token_bytes(32))
INGRESS_CLUSTER, OWNER_CLUSTER, TRANSCEIVER = 1, 2, 7
#: Guards against a hang; never a timing assertion.
HANG = 10


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class World:
    """Two relays (cluster 1: the caller's ingress; cluster 2: the session's owner) at fixed
    ports, so that either can be replaced by a fresh one where the other knows it."""

    ingress_config: RelayConfig
    owner_config: RelayConfig
    ingress: RelayWorker
    owner: RelayWorker
    ingress_public: Address


def relay_configs(transceiver: Address) -> tuple[RelayConfig, RelayConfig]:
    ingress_internal = ("127.0.0.1", free_port())
    owner_internal = ("127.0.0.1", free_port())
    fleet = {INGRESS_CLUSTER: (ingress_internal,), OWNER_CLUSTER: (owner_internal,)}
    ingress = RelayConfig(
        keys=(KEY,),
        log_interval=0,
        cluster=INGRESS_CLUSTER,
        public=("127.0.0.1", free_port()),
        internal=ingress_internal,
        fleet_static=fleet,
        token_max_age=3600.0,
    )
    owner = RelayConfig(
        keys=(KEY,),
        log_interval=0,
        cluster=OWNER_CLUSTER,
        public=("127.0.0.1", free_port()),
        internal=owner_internal,
        static_directory={TRANSCEIVER: transceiver},
        fleet_static=fleet,
    )
    return ingress, owner


@asynccontextmanager
async def world(transceiver: Address) -> AsyncIterator[tuple[World, trio.Nursery]]:
    ingress_config, owner_config = relay_configs(transceiver)
    async with trio.open_nursery() as nursery:
        ingress, owner = RelayWorker(ingress_config), RelayWorker(owner_config)
        await nursery.start(owner.run)
        public = await nursery.start(ingress.run)
        yield World(ingress_config, owner_config, ingress, owner, public), nursery
        nursery.cancel_scope.cancel()


async def owning_transceiver(nursery: trio.Nursery) -> ServerInfo:
    """The real transceiver of cluster 2 (no relay of its own in front)."""
    minter = TokenMinter(KEY, cluster=OWNER_CLUSTER, transceiver=TRANSCEIVER)
    config = TransceiverConfig(
        ufrag_factory=partial(lambda m: m.mint(time.time()), minter),
        relay_input=("127.0.0.1", 0),
    )
    info: ServerInfo = await nursery.start(
        run_server, ServerConfig(http_port=0, transceiver=config)
    )
    return info


async def test_an_echo_call_entering_at_another_clusters_relay_is_heard(
    nursery: trio.Nursery,
) -> None:
    server = await owning_transceiver(nursery)
    assert server.transceiver.relay_input is not None
    async with world(server.transceiver.relay_input) as (w, _):
        # The answer names the ingress, the relay near the caller, not the owner's relay.
        server.transceiver.config.advertised = (w.ingress_public,)
        caller = Caller(server.url)
        result = await caller.run(duration=2.2)
        ingress, owner = w.ingress.counters, w.owner.counters
    assert result.failed is None
    assert len(result.round_trips) >= 2  # the caller heard its own audio, echoed
    assert ingress.admissions == 1 and owner.admissions == 0
    assert ingress.client_packets > 50 and ingress.to_client_packets > 50
    # Everything the owner's relay sent to the transceiver came over the backbone.
    assert owner.client_packets == 0
    assert owner.to_transceiver_packets > 50
    assert len(w.owner.router.table) == 0  # the owner keeps nothing for the call
    assert server.transceiver.m_packets.get(direction="in", path="relay") > 50
    assert ingress.dropped == 0 and owner.dropped == 0


@pytest.mark.parametrize("which", ["ingress", "owner"])
async def test_a_relay_restart_mid_call_resumes_at_the_next_packets(
    nursery: trio.Nursery, which: str
) -> None:
    server = await owning_transceiver(nursery)
    assert server.transceiver.relay_input is not None
    async with world(server.transceiver.relay_input) as (w, relays):
        server.transceiver.config.advertised = (w.ingress_public,)
        caller = Caller(server.url)
        async with trio.open_nursery() as calls:
            calls.start_soon(partial(caller.run, 30.0, hang_up=False))
            with trio.fail_after(HANG):
                await caller.connected.wait()
            [session] = server.transceiver.sessions.values()
            await caller.rtp_after(trio.current_time() + 0.2)

            # Kill one relay: a fresh worker on the same ports, with an empty table.
            old = w.ingress if which == "ingress" else w.owner
            config = w.ingress_config if which == "ingress" else w.owner_config
            assert old.public_address is not None and old.internal_address is not None
            again = dataclasses.replace(
                config, public=old.public_address, internal=old.internal_address
            )
            old.stop()
            await old.stopped.wait()
            fresh = RelayWorker(again)
            await relays.start(fresh.run)
            ready = trio.current_time()
            with trio.fail_after(HANG):
                to_client = await caller.rtp_after(ready)
                to_server = await session.rtp_after(ready)
            calls.cancel_scope.cancel()
    print(
        f"{which} restart: to client {to_client - ready:.4f} s, to server {to_server - ready:.4f} s"
    )
    # No check was needed: the call resumed by the next datagrams, not a new admission.
    assert fresh.counters.admissions == 0
    if which == "ingress":
        # The owner's next datagram recreated the caller's entry at the ingress.
        assert len(fresh.router.table) == 1
    else:
        assert len(fresh.router.table) == 0
        assert fresh.counters.to_transceiver_packets > 0 and fresh.counters.to_client_packets == 0


async def test_forged_or_expired_tokens_at_the_ingress_forward_nothing(
    nursery: trio.Nursery,
) -> None:
    fake = FakeTransceiver()
    transceiver = await nursery.start(fake.run)
    async with world(transceiver) as (w, _):
        minter = TokenMinter(KEY, cluster=OWNER_CLUSTER, transceiver=TRANSCEIVER)
        forged = TokenMinter(TokenKey(1, b"not the fleet key" * 2), OWNER_CLUSTER, TRANSCEIVER)
        expired = minter.mint(time.time() - 2 * 3600).encode()
        valid = binding_request(minter.mint(time.time()).encode() + b":caller")
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            await client.bind(("127.0.0.1", 0))
            for bad in (forged.mint(time.time()).encode(), expired):
                await client.sendto(binding_request(bad + b":caller"), w.ingress_public)
            # Datagrams of one socket are handled in order: once the valid check has gone
            # through, the bad ones have been judged.
            await client.sendto(valid, w.ingress_public)
            with trio.fail_after(HANG):
                received = await fake.next()
                answer, source = await client.recvfrom(2048)
        assert received.payload == valid
        assert fake.received == [received] and fake.malformed == 0
        assert source[:2] == w.ingress_public and answer[:2] == b"\x01\x01"
        assert w.ingress.counters.drops[DropReason.BAD_TOKEN] == 2
        assert w.ingress.counters.admissions == 1
        assert w.owner.counters.transceiver_packets == 2  # the valid check, and its answer
        # The owner's relay forwarded the check with the ingress as via.
        assert received.relay == w.owner.internal_address
        reply = decode_forward(fake.reply_header[received.client] + b"x")
        assert reply.via == w.ingress.internal_address
        assert (reply.cluster, reply.transceiver) == (OWNER_CLUSTER, TRANSCEIVER)
