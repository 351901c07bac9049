"""The steering front's HTTP side and its health poller (VOICE-STEER §2, §3, §5).

The front never reads an offer: it answers the WHIP POST with ``307 Temporary Redirect`` to
the session resource of the region :func:`voice.steer.table.choose` picks, and the client
sends its offer again there (RFC 9725 §4.5). It also serves the demo page, so a browser page
on the front's own origin can place a call that ends in another region.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import trio
from prometheus_client import CollectorRegistry, Counter, Gauge
from quart import Response, request
from quart_trio import QuartTrio

from voice import __version__
from voice.metrics import CONTENT_TYPE, new_registry, render
from voice.signaling.ratelimit import ClientBuckets, client_key
from voice.steer.table import (
    RegionHealth,
    SteeringTable,
    choose,
    parse_sessions,
    redirect_url,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parents[1] / "signaling" / "static"


@dataclass
class SteerState:
    """The table and what the poller last saw; shared by the poller and the app."""

    table: SteeringTable
    #: Seconds between polls; a probe that takes longer than this counts as down.
    interval: float = 2.0
    health: dict[str, RegionHealth] = field(default_factory=dict)
    #: The front's own registry (not the library's global one: see :mod:`voice.metrics`).
    registry: CollectorRegistry = field(default_factory=new_registry)
    #: Set after every completed round of polls (tests wait on it).
    polled: trio.Event = field(default_factory=trio.Event)

    def __post_init__(self) -> None:
        # Region names come from the operator's file: prometheus_client escapes them.
        self.m_steered = Counter(
            "voice_steer_redirects_total",
            "Offers redirected, by region.",
            ["region"],
            registry=self.registry,
        )
        self.m_refused = Counter(
            "voice_steer_refused_total",
            "Offers refused, by reason (no_region, rate).",
            ["reason"],
            registry=self.registry,
        )
        self.m_up = Gauge(
            "voice_steer_region_up",
            "1 when the region's signaling and ingress answered.",
            ["region"],
            registry=self.registry,
        )


def _probe(url: str, timeout: float) -> tuple[bool, dict[str, object]]:
    """GET ``url`` (blocking, run in a thread): 2xx or not, and its JSON body if any."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            ok = 200 <= response.status < 300
            raw = response.read(64 * 1024)
    except (OSError, http.client.HTTPException, ValueError):
        # HTTPException: a reply that is not HTTP, or cut short (urllib passes those on as
        # they are, not as URLError, which is an OSError); ValueError: a URL it refuses.
        return False, {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[...", nested too deep
        body = {}
    return ok, body if isinstance(body, dict) else {}


async def poll_once(state: SteerState) -> None:
    """VOICE-STEER §5: one round of probes of every region, at most ``interval`` long."""
    results: dict[str, RegionHealth] = {}

    async def one(name: str, signaling: str, extra: tuple[str, ...]) -> None:
        ok, body = await trio.to_thread.run_sync(
            _probe, f"{signaling}/healthz", state.interval, abandon_on_cancel=True
        )
        extra_ok = True
        for url in extra:
            up, _ = await trio.to_thread.run_sync(
                _probe, url, state.interval, abandon_on_cancel=True
            )
            extra_ok = extra_ok and up
        # The ingress is the region's relay: down when its own probe fails, and also when
        # the whole region is (a relay whose region is gone has nobody to forward to).
        results[name] = RegionHealth(
            signaling_up=ok, ingress_up=ok and extra_ok, sessions=parse_sessions(body)
        )

    with trio.move_on_after(state.interval):
        async with trio.open_nursery() as nursery:
            for region in state.table.regions:
                nursery.start_soon(one, region.name, region.signaling, region.health)
    for region in state.table.regions:
        health = results.get(region.name, RegionHealth())
        was = state.health.get(region.name)
        if was is not None and (was.signaling_up, was.ingress_up) != (
            health.signaling_up,
            health.ingress_up,
        ):
            log.warning(
                "region %s: signaling %s, ingress %s",
                region.name,
                "up" if health.signaling_up else "DOWN",
                "up" if health.ingress_up else "DOWN",
            )
        state.health[region.name] = health
        state.m_up.labels(region=region.name).set(
            1 if health.signaling_up and health.ingress_up else 0
        )
    state.polled.set()
    state.polled = trio.Event()


async def poll_forever(
    state: SteerState, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Polls every ``interval``; started() after the first round, so that the front never
    answers from an empty picture."""
    await poll_once(state)
    task_status.started()
    while True:
        await trio.sleep(state.interval)
        await poll_once(state)


def _text(status: int, message: str, **headers: str) -> Response:
    return Response(message + "\n", status=status, content_type="text/plain", headers=headers)


def create_steer_app(
    state: SteerState, client_rate: float = 5.0, client_burst: float = 20.0
) -> QuartTrio:
    app = QuartTrio(__name__, static_folder=str(STATIC), static_url_path="/static")
    per_client = ClientBuckets(client_rate, client_burst)
    index_html = (STATIC / "index.html").read_text()

    @app.get("/")
    async def index() -> Response:
        return Response(index_html, content_type="text/html")

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {
            "status": "ok",
            "version": __version__,
            "regions": {
                name: {"signaling": h.signaling_up, "ingress": h.ingress_up, "sessions": h.sessions}
                for name, h in state.health.items()
            },
        }

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(render(state.registry), content_type=CONTENT_TYPE)

    @app.route("/v1/sessions", methods=["OPTIONS"])
    async def options() -> Response:
        # Same-origin pages never preflight; a plain OPTIONS learns what the resource takes.
        return Response("", status=204, headers={"Allow": "POST, OPTIONS"})

    @app.post("/v1/sessions")
    async def steer() -> Response:
        client = request.remote_addr or ""
        if wait := per_client.take(client_key(client), trio.current_time()):
            state.m_refused.labels(reason="rate").inc()
            seconds = str(max(1, math.ceil(wait)))
            return _text(429, "too many offers from your address", **{"Retry-After": seconds})
        decision = choose(state.table, client, state.health)
        if decision is None:
            state.m_refused.labels(reason="no_region").inc()
            # RFC 9725 §4.5: no region can take the session now; the client may retry.
            retry = str(max(1, math.ceil(state.interval)))
            return _text(503, "no region can take a call right now", **{"Retry-After": retry})
        state.m_steered.labels(region=decision.region.name).inc()
        target = redirect_url(decision, list(request.args.items(multi=True)))
        log.info("steered %s to %s (ingress %s)", client, decision.region.name, decision.ingresses)
        # RFC 9725 §4.5: 307 keeps the method and the body (301/302 may turn a POST into
        # a GET). The choice depends on health that changes, so nobody may cache it.
        return Response(
            f"steered to region {decision.region.name}\n",
            status=307,
            content_type="text/plain",
            headers={"Location": target, "Cache-Control": "no-store"},
        )

    return app
