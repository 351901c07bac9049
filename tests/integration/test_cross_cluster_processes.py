"""Global Relay ingress (VOICE-RELAY §12) as an operator runs it: two ``voice relay``
process trees (cluster 1, the caller's ingress, which has no transceiver of its own; cluster
2, the owner), each with two workers, sharing one fleet file, and ``voice transceiver`` of
cluster 2, whose answers name only the ingress. A synthetic caller's echo call enters at
cluster 1 and is heard; then each relay tree in turn is SIGKILLed mid-call and started again
on the same ports, and the call's audio resumes both ways with the next media packets."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable
from functools import partial
from pathlib import Path

import pytest
import trio

from tests.support.processes import (
    RELAY_INPUT_LINE,
    URL_LINE,
    VoiceProcess,
    echoed_burst_after,
    first_increase,
    free_udp_ports,
    kill_relay_tree,
    metric,
    start_relay,
)
from voice.loadgen.caller import Caller
from voice.relay.token import TokenKey

pytestmark = [pytest.mark.interop, pytest.mark.slow]

KEY = TokenKey(1, secrets.token_bytes(32))
ENV = {"VOICE_FLEET_KEYS": f"{KEY.key_id}:{KEY.secret.hex()}"}
IN_BY_RELAY = 'voice_packets_total{direction="in",path="relay"}'
#: Hang guard for the calls' steps on a loaded machine; not a measurement.
STEP = 15.0


async def measure(into: dict[str, float], direction: str, waiting: Awaitable[float]) -> None:
    into[direction] = await waiting


async def test_call_through_another_clusters_relay_process_survives_both_relays_restarting(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    base = free_udp_ports(5)
    ingress_internal, owner_internal, relay_input = base, base + 2, base + 4
    fleet = tmp_path / "fleet.json"
    fleet.write_text(
        json.dumps(
            {
                "clusters": {
                    "1": [f"127.0.0.1:{ingress_internal}"],
                    "2": [f"127.0.0.1:{owner_internal}"],
                }
            }
        )
    )
    common = ("--workers=2", "--host=127.0.0.1", "--log-interval=0", f"--fleet={fleet}")
    owner_args = (
        *common,
        "--cluster=2",
        f"--internal-port={owner_internal}",
        f"--transceiver=7=127.0.0.1:{relay_input}",
    )
    ingress_args = (*common, "--cluster=1", f"--internal-port={ingress_internal}")
    owner, owner_ready = await start_relay(nursery, *owner_args, "--port=0", env=ENV)
    ingress, ingress_ready = await start_relay(nursery, *ingress_args, "--port=0", env=ENV)
    transceiver = VoiceProcess(
        "transceiver",
        "--http-port=0",
        "--cluster=2",
        "--transceiver-id=7",
        f"--relay-input=127.0.0.1:{relay_input}",
        f"--advertise={ingress_ready.public[0]}:{ingress_ready.public[1]}",
        env=ENV,
    )
    url = (await transceiver.start(nursery, URL_LINE)).group(1)
    await transceiver.wait_for(RELAY_INPUT_LINE)

    caller = Caller(url)
    relays = {
        "ingress": (ingress, ingress_ready, ingress_args),
        "owner": (owner, owner_ready, owner_args),
    }
    report: list[str] = []
    async with trio.open_nursery() as calls:
        calls.start_soon(partial(caller.run, 60.0, hang_up=False))
        with trio.fail_after(STEP):
            await caller.connected.wait()
            await caller.rtp_after(trio.current_time() + 0.2)
        for which in ("ingress", "owner"):
            process, ready, args = relays[which]
            await kill_relay_tree(process, ready)
            quiet = await metric(url, IN_BY_RELAY)
            _, again = await start_relay(nursery, *args, f"--port={ready.public[1]}", env=ENV)
            back = trio.current_time()
            assert again.public == ready.public and again.internal_ports == ready.internal_ports
            with trio.fail_after(STEP):
                resumed: dict[str, float] = {}
                async with trio.open_nursery() as both_ways:
                    both_ways.start_soon(measure, resumed, "to client", caller.rtp_after(back))
                    both_ways.start_soon(
                        measure, resumed, "to server", first_increase(url, IN_BY_RELAY, quiet)
                    )
            report.append(
                f"{which} relay tree restarted: audio to the caller "
                f"{1000 * (resumed['to client'] - back):.1f} ms, from the caller "
                f"{1000 * (resumed['to server'] - back):.1f} ms after it was ready"
            )
            # Resumed by the next media packets, not by a consent check (seconds apart).
            assert resumed["to client"] - back < 0.5
            assert resumed["to server"] - back < 0.5
            relays[which] = (process, again, args)
        # The echo of a probe burst sent after the second restart is heard.
        with trio.fail_after(STEP):
            await echoed_burst_after(caller, back)
        calls.cancel_scope.cancel()
    print("; ".join(report))
    assert caller.result.failed is None
