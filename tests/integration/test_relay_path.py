"""Calls through the relay with the real transceiver, in one ``trio.run``: relay and
transceivers as separate nursery trees, talking over loopback UDP like separate hosts."""

from __future__ import annotations

import dataclasses
import secrets
import time
from functools import partial

import trio

from voice.loadgen.caller import Caller
from voice.relay.config import RelayConfig
from voice.relay.token import TokenKey, TokenMinter
from voice.relay.worker import RelayWorker
from voice.server import ServerConfig, ServerInfo, run_server
from voice.transceiver.service import TransceiverConfig

KEY = TokenKey(1, secrets.token_bytes(32))


async def test_call_through_the_embedded_relay(nursery: trio.Nursery) -> None:
    config = ServerConfig(http_port=0, relay=RelayConfig(keys=(KEY,), log_interval=0))
    info: ServerInfo = await nursery.start(run_server, config)
    assert info.relay is not None and info.media == info.relay.public_address
    caller = Caller(info.url)
    result = await caller.run(duration=2.2)
    assert result.failed is None
    assert len(result.round_trips) >= 2
    counters = info.relay.counters
    assert counters.admissions == 1
    assert counters.to_client_packets > 50 and counters.to_transceiver_packets > 50
    assert info.transceiver.m_packets.get(direction="in", path="relay") > 50
    assert info.transceiver.m_packets.get(direction="in", path="direct") == 0


async def test_relay_restart_mid_call_resumes_both_ways_within_100_ms(
    nursery: trio.Nursery,
) -> None:
    relay_config = RelayConfig(keys=(KEY,), log_interval=0)
    info: ServerInfo = await nursery.start(
        run_server, ServerConfig(http_port=0, relay=relay_config)
    )
    assert info.relay is not None and info.transceiver.relay_input is not None
    old = info.relay
    caller = Caller(info.url)
    async with trio.open_nursery() as calls:
        calls.start_soon(partial(caller.run, 30.0, hang_up=False))
        await caller.connected.wait()
        [session] = info.transceiver.sessions.values()
        await caller.rtp_after(trio.current_time() + 0.2)

        # Kill the relay: a fresh worker on the same public and internal ports, with an
        # empty table, as after a crash and restart.
        public, internal = old.public_address, old.internal_address
        old.stop()
        await old.stopped.wait()
        again = dataclasses.replace(
            relay_config,
            public=public,
            internal=internal,
            static_directory={0: info.transceiver.relay_input},
        )
        fresh = RelayWorker(again)
        async with trio.open_nursery() as relay_tree:
            await relay_tree.start(fresh.run)
            ready = trio.current_time()
            with trio.fail_after(2):
                to_client = await caller.rtp_after(ready)
                to_server = await session.rtp_after(ready)
            # The table was rebuilt by the next packet from either side, without waiting
            # for the next ICE check to be admitted by its token.
            assert len(fresh.router.table) == 1
            relay_tree.cancel_scope.cancel()
        calls.cancel_scope.cancel()
    print(f"resumed: to client {to_client - ready:.4f} s, to server {to_server - ready:.4f} s")
    assert to_client - ready < 0.1, f"server->client resumed after {to_client - ready:.3f} s"
    assert to_server - ready < 0.1, f"client->server resumed after {to_server - ready:.3f} s"


async def test_two_transceivers_behind_one_relay(nursery: trio.Nursery) -> None:
    servers: list[ServerInfo] = []
    for transceiver_id in (1, 2):
        minter = TokenMinter(KEY, cluster=0, transceiver=transceiver_id)
        config = TransceiverConfig(
            ufrag_factory=partial(lambda m: m.mint(time.time()), minter),
            relay_input=("127.0.0.1", 0),
        )
        servers.append(
            await nursery.start(run_server, ServerConfig(http_port=0, transceiver=config))
        )
    directory = {n + 1: s.transceiver.relay_input for n, s in enumerate(servers)}
    relay = RelayWorker(
        RelayConfig(keys=(KEY,), log_interval=0, static_directory=directory)  # type: ignore[arg-type]
    )
    public = await nursery.start(relay.run)
    for server in servers:
        server.transceiver.config.advertised = (public,)

    callers = [Caller(servers[0].url), Caller(servers[0].url), Caller(servers[1].url)]
    async with trio.open_nursery() as calls:
        for caller in callers:
            calls.start_soon(partial(caller.run, 30.0, hang_up=False))
        for caller in callers:
            await caller.connected.wait()
        assert len(servers[0].transceiver.sessions) == 2
        assert len(servers[1].transceiver.sessions) == 1
        for caller in callers:
            await caller.rtp_after(trio.current_time())
        calls.cancel_scope.cancel()
    assert relay.counters.admissions == 3
    for server in servers:
        assert server.transceiver.m_packets.get(direction="in", path="relay") > 0
        assert server.transceiver.m_drops.get(reason="no_session") == 0
