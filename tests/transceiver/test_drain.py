"""Draining: what a transceiver does when its pod is deleted or scaled away.

``Transceiver.drain`` refuses new sessions (503 through signaling, /healthz 503 so a
readiness probe takes the pod out of the signaling Service) and waits for the calls in
progress to end by themselves, up to a timeout. ``voice transceiver --drain-timeout`` does
it on SIGTERM, as a real process: the test holds a session open, sends SIGTERM, sees the
refusals while the session lives, and sees the process exit once it has ended.
"""

from __future__ import annotations

import json
import secrets
import signal
import urllib.error
import urllib.request
from pathlib import Path

import trio

from tests.support.processes import URL_LINE, VoiceProcess, http_get
from voice.signaling.app import create_app
from voice.transceiver.service import Transceiver, TransceiverConfig

OFFER = (Path(__file__).parents[1] / "data" / "chromium-156-audio-offer.sdp").read_text()
SDP = {"Content-Type": "application/sdp"}
#: Hang guard on a loaded machine, not a measurement.
HANG = 30


async def test_drain_refuses_new_calls_and_waits_for_the_others(nursery: trio.Nursery) -> None:
    transceiver = Transceiver(TransceiverConfig(check_timeout=60))
    await nursery.start(transceiver.run)
    client = create_app(transceiver).test_client()
    created = await client.post("/v1/sessions", data=OFFER, headers=SDP)
    assert created.status_code == 201
    (session,) = transceiver.sessions.values()

    outcome: list[bool] = []

    async def drain() -> None:
        outcome.append(await transceiver.drain(timeout=HANG))

    nursery.start_soon(drain)
    await trio.testing.wait_all_tasks_blocked()
    refused = await client.post("/v1/sessions", data=OFFER, headers=SDP)
    assert refused.status_code == 503 and "Retry-After" in refused.headers
    assert "shutting down" in await refused.get_data(as_text=True)
    assert transceiver.m_rejected.get(reason="draining") == 1
    health = await client.get("/healthz")
    assert health.status_code == 503
    assert json.loads(await health.get_data(as_text=True))["status"] == "draining"
    alive = await client.get("/healthz?probe=liveness")  # draining is not being stuck
    assert alive.status_code == 200
    assert outcome == []  # the call is still up, so the drain goes on

    session.end("caller hung up")
    with trio.fail_after(HANG):
        while not outcome:
            await trio.testing.wait_all_tasks_blocked()
    assert outcome == [True]


async def test_drain_gives_up_at_its_timeout(nursery: trio.Nursery) -> None:
    transceiver = Transceiver(TransceiverConfig(check_timeout=60))
    await nursery.start(transceiver.run)
    created = (
        await create_app(transceiver).test_client().post("/v1/sessions", data=OFFER, headers=SDP)
    )
    assert created.status_code == 201
    assert await transceiver.drain(timeout=0.05) is False
    assert len(transceiver.sessions) == 1  # ending what is left is the caller's next step


async def post_offer(url: str) -> tuple[int, str]:
    def post() -> tuple[int, str]:
        request = urllib.request.Request(url, data=OFFER.encode(), headers=SDP, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    return await trio.to_thread.run_sync(post)


async def test_voice_transceiver_drains_on_sigterm(nursery: trio.Nursery) -> None:
    keys = {"VOICE_FLEET_KEYS": f"1:{secrets.token_hex(32)}"}
    process = VoiceProcess(
        "transceiver",
        "--transceiver-id=transceiver-4",  # a StatefulSet pod's name: id 4
        "--http-port=0",
        "--relay-input=127.0.0.1:0",
        "--advertise=127.0.0.1:50000",
        # The held session is an offer nobody follows up: it ends at its check timeout,
        # which stands in for a caller hanging up.
        "--check-timeout=3",
        "--drain-timeout=60",
        env=keys,
    )
    url = (await process.start(nursery, URL_LINE)).group(1).rstrip("/")
    assert any("transceiver 4 of cluster 0" in line for line in process.lines)
    with trio.fail_after(HANG):
        status, _ = await post_offer(url + "/v1/sessions")
        assert status == 201
        mark = process.mark()
        assert process.process is not None
        process.process.send_signal(signal.SIGTERM)
        await process.wait_for(r"draining: no new calls; waiting up to 60 s for 1 calls", mark)
        status, reason = await post_offer(url + "/v1/sessions")
        assert status == 503 and "shutting down" in reason
        status, body = await http_get(url + "/healthz")
        assert status == 503 and json.loads(body)["sessions"] == 1
        await process.wait_for(r"session \S+: ended \(no ICE check\)", mark)
        await process.wait_for(r"drained, stopping$", mark)
        assert await process.process.wait() == 0
