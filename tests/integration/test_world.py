"""The world on one machine (tests/support/world.py): two regions in network namespaces,
callers beside each, delay links between them, the real programs everywhere.

* Each caller's POST to its steering front lands in its own region, and the answer names its
  own region's relay as the nearest ingress (VOICE-STEER §3, §4).
* The region failure drill: region a's relay is killed under a live call, then region a's
  transceivers; the call loses its media, and new calls from a's callers are steered to
  region b once the front's next health poll has seen region a down (VOICE-STEER §5).

Root only (network namespaces); skipped elsewhere. Every namespace is deleted at the end.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import trio

from tests.conftest import require_program
from tests.support.browser import CHROMIUM
from tests.support.world import (
    browser_call,
    can_build,
    open_world,
    place_calls,
    relay_has_health,
    start_browser,
    watch_call,
)

pytestmark = [pytest.mark.slow]

if (why := can_build()) is not None:
    pytestmark.append(pytest.mark.skip(reason=why))

#: Hang guard for steps on a loaded machine; not a measurement.
STEP = 30.0


async def test_callers_are_steered_to_their_own_region_and_ingress(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    async with open_world(nursery, tmp_path) as world:
        for site, region in zip(world.callers, world.regions, strict=True):
            [result] = await place_calls(site, site.steer_url, duration=1.5)
            assert result["failed"] is None, result
            assert result["answered_by"].startswith(region.signaling[0] + "/v1/sessions?")
            # Nearest first: the caller's own relay, then the other region's as the fallback.
            other = next(r for r in world.regions if r is not region)
            assert f"ingress={region.name}%2C{other.name}" in result["answered_by"]
            assert result["ingress"] == f"{region.ingress[0]}:{region.ingress[1]}"
            assert result["echo_ms"] is not None


async def test_region_failure_drill(nursery: trio.Nursery, tmp_path: Path) -> None:
    async with open_world(nursery, tmp_path, interval=1.0) as world:
        a, b = world.regions
        ca = world.callers[0]
        assert ca.steer is not None
        call = await watch_call(nursery, ca, ca.steer_url)
        first = json.loads(next(line for line in call.lines if line.startswith("{")))
        assert first["answered_by"].startswith(a.signaling[0])

        # 1. The relay of region a dies under the call: its media stops (the synthetic
        # caller offers no second path; a browser would try the second ingress).
        await world.kill_relay(a)
        mark = call.mark()
        await call.wait_for(r"^rtp-age ([1-9]\d*\.|[2-9]\.)", start=mark, timeout=STEP)
        steer_mark = ca.steer.mark()
        if relay_has_health():
            # The front probes the relay too: region a, whose transceivers are reachable
            # only through it, is skipped, and its ingress no longer named.
            await ca.steer.wait_for(r"region a1: signaling up, ingress DOWN", timeout=STEP)
            [to_b] = await place_calls(ca, ca.steer_url, duration=1.0)
            assert to_b["failed"] is None, to_b
            assert to_b["answered_by"].startswith(b.signaling[0])
            assert to_b["ingress"] == f"{b.ingress[0]}:{b.ingress[1]}"

        # 2. Then the whole region: its transceivers (and their signaling) die too. Within
        # the front's health interval it sees them down, and new calls go to region b.
        for transceiver in a.transceivers:
            await transceiver.kill()
        started = trio.current_time()
        for name in ("a1", "a2"):
            await ca.steer.wait_for(
                rf"region {name}: signaling DOWN", start=steer_mark, timeout=STEP
            )
        noticed = trio.current_time() - started
        print(f"front saw region a down {noticed * 1000:.0f} ms after it died (interval 1 s)")
        [moved] = await place_calls(ca, ca.steer_url, duration=1.5)
        assert moved["failed"] is None, moved
        assert moved["answered_by"].startswith(b.signaling[0])
        assert re.search(r"ingress=b(&|$)", moved["answered_by"])
        assert moved["ingress"] == f"{b.ingress[0]}:{b.ingress[1]}"


@pytest.mark.browser
async def test_chromium_in_region_a_reaches_region_b_through_a_relay(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Region a is full (capacity 0 in the front's table) but its relay is up: Chromium,
    beside region a, loads the front's page; the front sends the POST (307, cross-origin)
    to region b and names a's relay first; Chromium's media enters at a's relay and crosses
    the backbone to the transceiver in b (VOICE-RELAY §12), and the page hears its echo."""
    require_program("chromium", CHROMIUM)
    async with open_world(nursery, tmp_path, capacity={"a": 0}) as world:
        a, b = world.regions
        ca = world.callers[0]
        result = await browser_call(ca, f"{ca.steer_url}?raw=1&agent=echo")
        assert result["error"] is None, result
        assert result["heard"] is True
        assert result["session"].startswith(b.signaling[0] + "/v1/sessions/")
        assert result["remote"] == f"{a.ingress[0]}:{a.ingress[1]}"
        print(
            "chromium beside a, session in b, media via a's relay:", json.dumps(result["timings"])
        )


@pytest.mark.browser
async def test_chromium_moves_to_the_second_ingress_when_its_relay_dies(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Region a is full, so Chromium beside it gets a session in region b, with a's relay
    as its first ingress and b's as its second. a's relay is killed mid-call: Chromium's
    ICE, which kept checking the second pair, moves to b's relay, and the page hears its
    echo again (VOICE-STEER §4, §5).

    (Killed the other way round, the owning region's relay, both paths die: an ingress
    forwards to the owning cluster's relays (VOICE-RELAY §12), so a region needs more
    than one relay to survive losing one; the failure drill shows the caller's side.)"""
    require_program("chromium", CHROMIUM)
    async with open_world(nursery, tmp_path, capacity={"a": 0}) as world:
        a, b = world.regions
        ca = world.callers[0]
        page = await start_browser(nursery, ca, f"{ca.steer_url}?raw=1&agent=echo", hold=40)
        first = json.loads(next(x for x in page.lines if x.startswith("{")))
        assert first["error"] is None, first
        assert first["session"].startswith(b.signaling[0] + "/v1/sessions/")
        assert first["remote"] == f"{a.ingress[0]}:{a.ingress[1]}"
        mark = page.mark()
        await world.kill_relay(a)
        killed = trio.current_time()
        b_ingress = re.escape(f"{b.ingress[0]}:{b.ingress[1]}")
        await page.wait_for(rf"level 0\.(0[5-9]|[1-9])\d* remote {b_ingress}$", start=mark)
        moved = trio.current_time() - killed
        print(f"chromium heard its echo through b's relay {moved * 1000:.0f} ms after a's died")
