"""Calls through the relay with the real transceiver, in one ``trio.run``: relay and
transceivers as separate nursery trees, talking over loopback UDP like separate hosts."""

from __future__ import annotations

import dataclasses
import secrets
import time
from functools import partial

import pytest
import trio

from tests.support.netns import VETH, can_bind, extra_addresses
from voice.loadgen.caller import Caller
from voice.metrics import sample_value
from voice.relay.config import RelayConfig
from voice.relay.counters import DropReason
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
    assert (
        sample_value(info.transceiver.registry, "voice_packets_total", direction="in", path="relay")
        > 50
    )
    assert (
        sample_value(
            info.transceiver.registry, "voice_packets_total", direction="in", path="direct"
        )
        == 0
    )


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
        assert (
            sample_value(
                server.transceiver.registry, "voice_packets_total", direction="in", path="relay"
            )
            > 0
        )
        assert (
            sample_value(
                server.transceiver.registry, "voice_packets_dropped_total", reason="no_session"
            )
            == 0
        )


async def serve_with_relay_on(nursery: trio.Nursery, host: str) -> ServerInfo:
    """The edge as `voice serve --host HOST` configures it (voice/cli/serve.py): the relay's
    public and internal sockets on ``host``, a transceiver with no client-facing socket;
    signaling on the veth."""
    config = ServerConfig(
        http_host=VETH,
        http_port=0,
        transceiver=TransceiverConfig(udp_host=host, udp_port=None),
        relay=RelayConfig(keys=(KEY,), log_interval=0, public=(host, 0), internal=(host, 0)),
    )
    info: ServerInfo = await nursery.start(run_server, config)
    return info


needs_veth = pytest.mark.skipif(not can_bind(VETH), reason=f"no interface with {VETH}")


@needs_veth
@pytest.mark.parametrize("host", [VETH, "0.0.0.0"])
async def test_embedded_relay_on_a_real_interface_address(nursery: trio.Nursery, host: str) -> None:
    """Issue 11 §5: `voice serve --host <interface address>` (and `--host 0.0.0.0`) carries
    calls through its relay. The relay and the transceiver of one process talk over
    loopback whatever the public address, so neither drops the other's datagrams."""
    info = await serve_with_relay_on(nursery, host)
    assert info.relay is not None and info.relay.public_address is not None
    info.transceiver.config.advertised = ((VETH, info.relay.public_address[1]),)
    caller = Caller(info.url, bind_host=VETH)
    result = await caller.run(duration=1.2)
    assert result.failed is None
    assert len(result.round_trips) >= 1
    registry = info.transceiver.registry
    assert (
        sample_value(registry, "voice_packets_dropped_total", reason="shim_from_unknown_host") == 0
    )
    assert info.relay.counters.drops[DropReason.SHIM_SOURCE] == 0


#: A unique-local IPv6 address the test adds to the namespace's veth.
VETH6 = "fd00:77::1"


async def test_embedded_relay_on_a_real_ipv6_address() -> None:
    """Issue 11 §5, IPv6: the relay's public socket on a (non-loopback) IPv6 address, the
    shim link on ::1, the call end to end."""
    with extra_addresses(f"{VETH6}/64"):
        async with trio.open_nursery() as nursery:
            await ipv6_call(nursery, VETH6)
            nursery.cancel_scope.cancel()


async def ipv6_call(nursery: trio.Nursery, veth6: str) -> None:
    info = await serve_with_relay_on(nursery, veth6)
    assert info.relay is not None and info.relay.public_address is not None
    assert info.relay.public_address[0] == veth6
    caller = Caller(info.url, bind_host=veth6)
    result = await caller.run(duration=1.2)
    assert result.failed is None
    assert len(result.round_trips) >= 1
    assert info.relay.counters.admissions == 1
