"""A world on one machine: regions, callers and a backbone in network namespaces joined by
delay links (:mod:`tests.support.delaylink`), with the real programs in them.

Topology (one-way delays; every namespace is ours and deleted at teardown)::

    caller-a ──access── region a ══backbone══ region b ──access── caller-b
    10.91.11.2   5 ms    10.91.1.1    80 ms    10.91.2.1   5 ms    10.91.12.2

A region namespace holds one ``voice relay`` (public ``R:3478``), two ``voice transceiver``
(signaling on ``R:8081``/``R:8082``, relay inputs ``R:4001``/``R:4002``) and forwards
packets between its links. A caller namespace holds a ``voice steer`` on the caller's own
address (the front is anycast in production: an instance near every caller) and the
callers. A caller reaches the far region through its own region's namespace, so it crosses
the backbone as the provider's traffic would.

Each region is a cluster (a: 1, b: 2) with transceivers 1 and 2. Every transceiver knows
both relays as ingresses (``--ingress a=...,b=...``); each relay knows the other cluster's
relay on the backbone (``--cluster-relay``), so a caller whose media enters at the other
region's relay reaches its transceiver across the backbone (VOICE-RELAY §12).

Root only: without it (or without ``ip netns``), :func:`require_root` skips the test.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from tests.support.processes import RELAY_READY, URL_LINE, RelayReady, VoiceProcess
from voice.relay.token import TokenKey

ROOT = Path(__file__).resolve().parents[2]
REGIONS = ("a", "b")
RELAY_PORT = 3478
RELAY_HEALTH_PORT = 9100
STEER_PORT = 8000


def relay_has_health() -> bool:
    """True when ``voice relay`` serves /healthz (``--metrics-port``): the front then probes
    each relay as part of its region's health."""
    return '"--metrics-port"' in (ROOT / "voice" / "relay" / "cli.py").read_text()


def region_address(index: int) -> str:
    return f"10.91.{index + 1}.1"


def caller_address(index: int) -> str:
    return f"10.91.{index + 11}.2"


def can_build() -> str | None:
    """None when a world can be built here, else why not."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if shutil.which("ip") is None or not os.path.exists("/dev/net/tun"):
        return "needs iproute2 and /dev/net/tun"
    return None


async def place_calls(
    site: CallerSite, url: str, *, calls: int = 1, duration: float = 3.0, query: str = ""
) -> list[dict[str, Any]]:
    """Echo calls from ``site``, run in its namespace (:mod:`tests.support.world_caller`);
    one dict per call."""
    runner = VoiceProcess("caller")
    runner.argv = [
        "ip", "netns", "exec", site.namespace, sys.executable, "-m", "tests.support.world_caller",
        f"--url={url}", f"--bind={site.address}", f"--calls={calls}",
        f"--duration={duration}", f"--query={query}",
    ]  # fmt: skip
    async with trio.open_nursery() as nursery:
        await runner.start(nursery, r"^done$", timeout=120)
    return [json.loads(line) for line in runner.lines if line.startswith("{")]


async def browser_call(site: CallerSite, url: str) -> dict[str, Any]:
    """A Chromium call from ``site``'s namespace (:mod:`tests.support.world_browser`)."""
    async with trio.open_nursery() as nursery:
        runner = await start_browser(nursery, site, url)
    result: dict[str, Any] = json.loads(next(x for x in runner.lines if x.startswith("{")))
    return result


async def start_browser(
    nursery: trio.Nursery, site: CallerSite, url: str, hold: float = 0.0
) -> VoiceProcess:
    """Starts a Chromium call from ``site``; returns once the page reported (heard or not);
    with ``hold``, the call stays up and reports its state every 100 ms."""
    runner = VoiceProcess("browser")
    runner.argv = [
        "ip", "netns", "exec", site.namespace, sys.executable, "-m",
        "tests.support.world_browser", f"--url={url}", f"--hold={hold}",
    ]  # fmt: skip
    await runner.start(nursery, r"^\{", timeout=90)
    return runner


async def watch_call(nursery: trio.Nursery, site: CallerSite, url: str) -> VoiceProcess:
    """A long echo call from ``site`` that reports ``rtp-age <s>`` every 100 ms."""
    runner = VoiceProcess("caller")
    runner.argv = [
        "ip", "netns", "exec", site.namespace, sys.executable, "-m", "tests.support.world_caller",
        f"--url={url}", f"--bind={site.address}", "--watch",
    ]  # fmt: skip
    await runner.start(nursery, r"^rtp-age ", timeout=60)
    return runner


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Region:
    name: str
    index: int
    namespace: str
    address: str
    relay: VoiceProcess | None = None
    relay_ready: RelayReady | None = None
    transceivers: list[VoiceProcess] = field(default_factory=list)

    @property
    def signaling(self) -> list[str]:
        return [f"http://{self.address}:{8081 + k}" for k in range(2)]

    @property
    def cluster(self) -> int:
        return self.index + 1

    @property
    def ingress(self) -> tuple[str, int]:
        return (self.address, RELAY_PORT)


@dataclass
class CallerSite:
    name: str
    namespace: str
    address: str
    steer: VoiceProcess | None = None

    @property
    def steer_url(self) -> str:
        return f"http://{self.address}:{STEER_PORT}/"


@dataclass
class World:
    prefix: str
    regions: list[Region]
    callers: list[CallerSite]
    env: dict[str, str]
    nursery: trio.Nursery
    interval: float
    links: list[VoiceProcess] = field(default_factory=list)
    #: Sessions each region's entries may carry in the front's table (default 50).
    capacity: dict[str, int] = field(default_factory=dict)

    def relay_args(self, region: Region) -> list[str]:
        args = [
            "--workers=1",
            f"--host={region.address}",
            f"--port={RELAY_PORT}",
            f"--internal-host={region.address}",
            f"--internal-port={RELAY_PORT + 1}",
            "--transceiver-network=10.91.0.0/16",
            "--log-interval=0",
        ]
        if relay_has_health():
            args += [f"--metrics-host={region.address}", f"--metrics-port={RELAY_HEALTH_PORT}"]
        for k in range(2):
            args.append(f"--transceiver={k + 1}={region.address}:{4001 + k}")
        # VOICE-RELAY §12: tokens of the other region's cluster cross the backbone to its relay.
        for other in self.regions:
            if other is not region:
                args.append(f"--cluster-relay={other.cluster}={other.address}:{RELAY_PORT + 1}")
        args += [f"--cluster={region.cluster}", "--backbone-network=10.91.0.0/16"]
        return args

    async def start_relay(self, region: Region) -> None:
        relay = VoiceProcess("relay", *self.relay_args(region), env=self.env)
        relay.argv = ["ip", "netns", "exec", region.namespace, *relay.argv]
        region.relay = relay
        region.relay_ready = RelayReady.parse(await relay.start(self.nursery, RELAY_READY))

    async def kill_relay(self, region: Region) -> None:
        """SIGKILLs the region's relay tree (supervisor and workers): the drill."""
        from tests.support.processes import kill_relay_tree

        assert region.relay is not None and region.relay_ready is not None
        await kill_relay_tree(region.relay, region.relay_ready)

    def steer_file(self, path: Path) -> Path:
        lines: list[str] = []
        for region in self.regions:
            for k, url in enumerate(region.signaling):
                lines += [
                    "[[region]]",
                    f'name = "{region.name}{k + 1}"',
                    f'signaling = "{url}"',
                    f'ingress = "{region.name}"',
                    f"capacity = {self.capacity.get(region.name, 50)}",
                ]
                if relay_has_health():
                    lines.append(
                        f'health = ["http://{region.address}:{RELAY_HEALTH_PORT}/healthz"]'
                    )
        for site in self.callers:
            near = next(r for r in self.regions if r.name == site.name)
            order = [near, *(r for r in self.regions if r is not near)]
            names = ", ".join(f'"{r.name}{k + 1}"' for r in order for k in range(2))
            lines += ["[[prefix]]", f'network = "{site.address}/24"', f"regions = [{names}]"]
        path.write_text("\n".join(lines) + "\n")
        return path


#: Asks a front, from inside its caller's namespace, whether every region it steers to is up.
_ALL_UP = (
    "import json, sys, urllib.request\n"
    "d = json.load(urllib.request.urlopen(sys.argv[1], timeout=2))\n"
    "up = [r['signaling'] and r['ingress'] for r in d['regions'].values()]\n"
    "sys.exit(0 if up and all(up) else 1)\n"
)


async def _sees_every_region(site: CallerSite, within: float = 30.0) -> None:
    """The world is ready when each front's picture has every region up. A front answers
    after its first round of probes, but on a loaded machine a probe of that round may time
    out and leave a region marked down until the next round (VOICE-STEER §5); calls placed
    before then would be refused or steered away, which is not what a test means to show."""
    probe = [
        "ip", "netns", "exec", site.namespace, sys.executable, "-c", _ALL_UP,
        f"{site.steer_url}healthz",
    ]  # fmt: skip
    with trio.fail_after(within):
        while (await trio.run_process(probe, check=False, capture_stdout=True,
                                      capture_stderr=True)).returncode != 0:  # fmt: skip
            await trio.sleep(0.2)  # the front re-probes every --interval; ask again shortly


async def _link(world: World, ns_a: str, ns_b: str, delay: float, loss: float) -> None:
    dev_a, dev_b = f"to-{ns_b.rsplit('-', 1)[1]}", f"to-{ns_a.rsplit('-', 1)[1]}"
    for ns, dev in ((ns_a, dev_a), (ns_b, dev_b)):
        _ip("-n", ns, "tuntap", "add", "dev", dev, "mode", "tun")
        _ip("-n", ns, "link", "set", dev, "up")
    link = VoiceProcess("link")
    link.argv = [
        sys.executable, "-m", "tests.support.delaylink",
        f"--a={ns_a}:{dev_a}", f"--b={ns_b}:{dev_b}", f"--delay={delay}", f"--loss={loss}",
    ]  # fmt: skip
    await link.start(world.nursery, r"link up")
    world.links.append(link)


@asynccontextmanager
async def open_world(
    nursery: trio.Nursery,
    workdir: Path,
    *,
    access_delay: float = 0.005,
    backbone_delay: float = 0.080,
    loss: float = 0.0,
    interval: float = 1.0,
    capacity: dict[str, int] | None = None,
) -> AsyncIterator[World]:
    """Builds the world, yields it, and always deletes every namespace it made."""
    prefix = f"vw{os.getpid() % 100000}"
    key = TokenKey(1, secrets.token_bytes(32))
    env = {"VOICE_FLEET_KEYS": f"{key.key_id}:{key.secret.hex()}"}
    regions = [Region(n, i, f"{prefix}-{n}", region_address(i)) for i, n in enumerate(REGIONS)]
    callers = [CallerSite(n, f"{prefix}-c{n}", caller_address(i)) for i, n in enumerate(REGIONS)]
    made: list[str] = []
    try:
        async with trio.open_nursery() as inner:
            world = World(prefix, regions, callers, env, inner, interval, capacity=capacity or {})
            for ns, address in [(r.namespace, r.address) for r in regions] + [
                (c.namespace, c.address) for c in callers
            ]:
                _ip("netns", "add", ns)
                made.append(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
                if ns.endswith(tuple(f"-{r.name}" for r in regions)):
                    _ip("-n", ns, "addr", "add", f"{address}/32", "dev", "lo")
            a, b = regions
            ca, cb = callers
            await _link(world, ca.namespace, a.namespace, access_delay, loss)
            await _link(world, cb.namespace, b.namespace, access_delay, loss)
            await _link(world, a.namespace, b.namespace, backbone_delay, loss)
            for site, near in ((ca, a), (cb, b)):
                # A caller's address is on its link, not on lo: browsers gather candidates
                # from real interfaces only (lo's addresses count as loopback).
                _ip("-n", site.namespace, "addr", "add", f"{site.address}/32",
                    "dev", f"to-{near.name}")  # fmt: skip
                _ip("-n", site.namespace, "route", "add", "10.91.0.0/16",
                    "dev", f"to-{near.name}", "src", site.address)  # fmt: skip
            for region, site, other, far_site in ((a, ca, b, cb), (b, cb, a, ca)):
                ns = region.namespace
                subprocess.run(
                    ["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
                    check=True,
                )
                _ip("-n", ns, "route", "add", f"{site.address}/32", "dev", f"to-c{region.name}",
                    "src", region.address)  # fmt: skip
                for dest in (other.address, far_site.address):
                    _ip("-n", ns, "route", "add", f"{dest}/32", "dev", f"to-{other.name}",
                        "src", region.address)  # fmt: skip
            for region in regions:
                await world.start_relay(region)
                for k in range(2):
                    t = VoiceProcess(
                        "transceiver",
                        f"--transceiver-id={k + 1}",
                        f"--cluster={region.cluster}",
                        f"--http-host={region.address}",
                        f"--http-port={8081 + k}",
                        f"--relay-input={region.address}:{4001 + k}",
                        "--relay-network=10.91.0.0/16",
                        f"--advertise={region.address}:{RELAY_PORT}",
                        *(f"--ingress={r.name}={r.address}:{RELAY_PORT}" for r in regions),
                        "--cors-origin=*",
                        "--client-rate=1000",
                        "--client-burst=1000",
                        "--max-pending-per-client=100",
                        "--log-level=warning",
                        env=env,
                    )
                    t.argv = ["ip", "netns", "exec", region.namespace, *t.argv]
                    await t.start(inner, URL_LINE)
                    region.transceivers.append(t)
            table = world.steer_file(workdir / "regions.toml")
            for site in callers:
                steer = VoiceProcess(
                    "steer",
                    f"--host={site.address}",
                    f"--http-port={STEER_PORT}",
                    f"--regions={table}",
                    f"--interval={interval}",
                    "--client-rate=1000",
                    "--client-burst=1000",
                    "--log-level=warning",
                )
                steer.argv = ["ip", "netns", "exec", site.namespace, *steer.argv]
                await steer.start(inner, URL_LINE)
                site.steer = steer
                await _sees_every_region(site)
            yield world
            inner.cancel_scope.cancel()
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
