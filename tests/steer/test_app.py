"""The steering front over HTTP: 307 to the chosen region, 503 when none can take a call,
health polling, and a whole call steered through it (VOICE-STEER §2-§5)."""

from __future__ import annotations

import socket
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from voice.loadgen.caller import Caller
from voice.metrics import sample_value
from voice.sdp import parse
from voice.server import ServerConfig, ServerInfo, run_server
from voice.steer.app import SteerState, create_steer_app, poll_once
from voice.steer.table import Region, RegionHealth, SteeringTable, parse_table

UP = RegionHealth(signaling_up=True, ingress_up=True)


def closed_port() -> int:
    """A loopback TCP port nothing listens on (connections to it are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def two_regions(near: str, far: str) -> SteeringTable:
    return parse_table(
        {
            "region": [
                {"name": "near", "signaling": near, "ingress": "near"},
                {"name": "far", "signaling": far, "ingress": "far"},
            ],
            "prefix": [{"network": "127.0.0.0/8", "regions": ["near", "far"]}],
        }
    )


async def test_post_is_307_to_the_nearest_region_and_503_when_none_is_up() -> None:
    state = SteerState(table=two_regions("http://10.1.0.2:8080", "http://10.2.0.2:8080"))
    client: Any = create_steer_app(state).test_client()
    # Nothing polled yet: no region is known to be up.
    refused = await client.post(
        "/v1/sessions?agent=echo", data="v=0", scope_base={"client": ("127.0.0.5", 1)}
    )
    assert refused.status_code == 503 and "Retry-After" in refused.headers
    state.health.update(near=UP, far=UP)
    steered = await client.post(
        "/v1/sessions?agent=echo", data="v=0", scope_base={"client": ("127.0.0.5", 1)}
    )
    assert steered.status_code == 307
    assert steered.headers["Location"] == (
        "http://10.1.0.2:8080/v1/sessions?agent=echo&ingress=near%2Cfar"
    )
    assert steered.headers["Cache-Control"] == "no-store"
    state.health["near"] = RegionHealth(signaling_up=False)
    away = await client.post("/v1/sessions", data="v=0", scope_base={"client": ("127.0.0.5", 1)})
    assert away.headers["Location"] == "http://10.2.0.2:8080/v1/sessions?ingress=far"
    assert sample_value(state.registry, "voice_steer_redirects_total", region="near") == 1
    assert sample_value(state.registry, "voice_steer_redirects_total", region="far") == 1
    page = await client.get("/")
    assert page.status_code == 200 and "voice" in await page.get_data(as_text=True)


async def test_poller_marks_a_region_down_when_its_signaling_or_relay_probe_fails(
    nursery: trio.Nursery,
) -> None:
    info: ServerInfo = await nursery.start(run_server, ServerConfig(http_port=0))
    live = info.url.rstrip("/")
    dead = f"http://127.0.0.1:{closed_port()}"
    table = SteeringTable(
        regions=(
            Region("live", live, ingress="live"),
            Region("relay-gone", live, ingress="gone", health=(f"{dead}/healthz",)),
            Region("dead", dead, ingress="dead"),
        )
    )
    state = SteerState(table=table, interval=2.0)
    await poll_once(state)
    assert state.health["live"] == RegionHealth(signaling_up=True, ingress_up=True, sessions=0)
    assert state.health["relay-gone"] == RegionHealth(signaling_up=True, ingress_up=False)
    assert state.health["dead"] == RegionHealth()


async def test_a_call_steered_to_its_region_uses_the_ingress_the_front_named(
    nursery: trio.Nursery,
) -> None:
    region: ServerInfo = await nursery.start(run_server, ServerConfig(http_port=0))
    # The region's transceiver knows two ingresses: its own socket ("near") and one
    # nobody listens on ("far"), which the answer must list second, at lower priority.
    region.transceiver.config.ingresses = {"near": region.media, "far": ("127.0.0.1", 9)}
    state = SteerState(table=two_regions(region.url.rstrip("/"), "http://127.0.0.1:9"))
    state.health.update(near=UP, far=UP)
    hconfig = HypercornConfig()
    hconfig.bind = ["127.0.0.1:0"]
    binds = await nursery.start(serve, create_steer_app(state), hconfig)
    caller = Caller(binds[0] + "/")
    result = await caller.run(duration=1.5)
    assert result.failed is None
    assert result.round_trips
    assert caller.answered_by.startswith(region.url.rstrip("/") + "/v1/sessions?")
    assert "ingress=near%2Cfar" in caller.answered_by
    assert sample_value(state.registry, "voice_steer_redirects_total", region="near") == 1
    assert not region.transceiver.sessions  # the DELETE went to the region's session URL


async def test_region_refuses_an_ingress_it_does_not_know(nursery: trio.Nursery) -> None:
    from pathlib import Path

    offer = (Path(__file__).parents[1] / "data" / "chromium-156-audio-offer.sdp").read_text()
    region: ServerInfo = await nursery.start(run_server, ServerConfig(http_port=0))
    region.transceiver.config.ingresses = {"a": ("192.0.2.1", 3478), "b": ("192.0.2.2", 3478)}
    from voice.signaling.app import create_app

    client: Any = create_app(region.transceiver).test_client()
    headers = {"Content-Type": "application/sdp"}
    bad = await client.post("/v1/sessions?ingress=a,evil", data=offer, headers=headers)
    assert bad.status_code == 400
    assert "unknown ingress 'evil'" in await bad.get_data(as_text=True)
    assert not region.transceiver.sessions
    good = await client.post("/v1/sessions?ingress=b,a", data=offer, headers=headers)
    assert good.status_code == 201
    answer = parse(await good.get_data(as_text=True))
    lines = [a for a in (await good.get_data(as_text=True)).splitlines() if "candidate" in a]
    assert "192.0.2.2 3478" in lines[0] and "192.0.2.1 3478" in lines[1]
    assert answer is not None


async def test_a_region_that_answers_garbage_is_down_and_the_poller_goes_on(
    nursery: trio.Nursery,
) -> None:
    """Whatever a region's /healthz sends back, the poll round finishes and marks it: a
    status line that is not HTTP, more headers than http.client takes, JSON nested past the
    parser's limit."""
    replies = {
        "/garbled/": b"nonsense\r\n\r\n",
        "/headers/": b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n",
        "/nested/": b"HTTP/1.1 200 OK\r\nContent-Length: 60000\r\n\r\n" + b"[" * 60000,
    }

    async def answer(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request and (chunk := await stream.receive_some()):
            request += chunk
        path = request.split(b" ")[1].decode().removesuffix("healthz")
        await stream.send_all(replies[path])
        await stream.aclose()

    listeners = await nursery.start(partial(trio.serve_tcp, answer, 0, host="127.0.0.1"))
    base = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
    # Each region's signaling URL is its reply's path.
    table = SteeringTable(
        regions=tuple(Region(p.strip("/"), f"{base}{p}".rstrip("/")) for p in replies)
    )
    state = SteerState(table=table, interval=2.0)
    await poll_once(state)
    assert state.health["garbled"] == RegionHealth()
    assert state.health["headers"] == RegionHealth()
    assert state.health["nested"] == RegionHealth(signaling_up=True, ingress_up=True)
