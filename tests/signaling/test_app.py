"""The signaling endpoint's HTTP contract: answers, Location, and a readable refusal for every
kind of bad request (RFC 9725 shapes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from voice.sdp import parse
from voice.signaling.app import SignalingConfig, create_app
from voice.transceiver.service import Transceiver, TransceiverConfig

OFFER = (Path(__file__).parents[1] / "data" / "chromium-156-audio-offer.sdp").read_text()
SDP = {"Content-Type": "application/sdp"}


async def start(nursery: trio.Nursery, **config: object) -> tuple[Transceiver, object]:
    signaling = config.pop("signaling", None)
    transceiver = Transceiver(TransceiverConfig(**config))  # type: ignore[arg-type]
    await nursery.start(transceiver.run)
    app = create_app(transceiver, signaling)  # type: ignore[arg-type]
    return transceiver, app.test_client()


async def test_offer_gets_201_with_answer_and_location(nursery: trio.Nursery) -> None:
    transceiver, client = await start(nursery)
    response = await client.post("/v1/sessions?agent=echo", data=OFFER, headers=SDP)  # type: ignore[attr-defined]
    assert response.status_code == 201
    assert response.mimetype == "application/sdp"
    location = response.headers["Location"]
    assert location.startswith("/v1/sessions/")
    answer = parse(await response.get_data(as_text=True))
    assert answer.has_attribute("ice-lite")
    assert len(transceiver.sessions) == 1
    session = transceiver.sessions[location.rsplit("/", 1)[1]]

    deleted = await client.delete(location)  # type: ignore[attr-defined]
    assert deleted.status_code == 200
    await session.ended.wait()
    assert session.end_reason == "deleted by signaling"
    assert not transceiver.sessions
    again = await client.delete(location)  # type: ignore[attr-defined]
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("headers", "body", "status", "says"),
    [
        ({"Content-Type": "text/plain"}, OFFER, 415, "application/sdp"),
        ({}, OFFER, 415, "application/sdp"),
        (SDP, "", 400, "empty"),
        (SDP, "v=0\r\nthis is not sdp\r\n", 400, "cannot serve this offer"),
        (SDP, OFFER.replace("a=rtcp-mux\r\n", "").replace("a=rtcp-mux\n", ""), 400, "rtcp-mux"),
        (SDP, OFFER.replace("opus/48000/2", "speex/48000/2"), 400, "Opus"),
    ],
)
async def test_bad_offers_get_a_readable_4xx(
    nursery: trio.Nursery, headers: dict[str, str], body: str, status: int, says: str
) -> None:
    transceiver, client = await start(nursery)
    response = await client.post("/v1/sessions", data=body, headers=headers)  # type: ignore[attr-defined]
    assert response.status_code == status
    assert says in await response.get_data(as_text=True)
    assert not transceiver.sessions


async def test_oversized_offer_is_413(nursery: trio.Nursery) -> None:
    _, client = await start(nursery, signaling=SignalingConfig(max_offer_bytes=1000))
    response = await client.post("/v1/sessions", data=OFFER, headers=SDP)  # type: ignore[attr-defined]
    assert response.status_code == 413
    assert "1000 bytes" in await response.get_data(as_text=True)


async def test_unknown_agent_or_bad_parameter_is_400(nursery: trio.Nursery) -> None:
    _, client = await start(nursery)
    for query, says in (("agent=parrot", "unknown agent"), ("agent=echo&delay=99", "delay")):
        response = await client.post(f"/v1/sessions?{query}", data=OFFER, headers=SDP)  # type: ignore[attr-defined]
        assert response.status_code == 400
        assert says in await response.get_data(as_text=True)


async def test_capacity_is_503_with_retry_after(nursery: trio.Nursery) -> None:
    transceiver, client = await start(nursery, max_sessions=1)
    first = await client.post("/v1/sessions", data=OFFER, headers=SDP)  # type: ignore[attr-defined]
    assert first.status_code == 201
    second = await client.post("/v1/sessions", data=OFFER, headers=SDP)  # type: ignore[attr-defined]
    assert second.status_code == 503
    assert second.headers["Retry-After"] == "5"
    assert transceiver.m_rejected.get(reason="capacity") == 1


async def test_bearer_token_protects_session_creation(nursery: trio.Nursery) -> None:
    _, client = await start(nursery, signaling=SignalingConfig(bearer_token="s3cret"))
    refused = await client.post("/v1/sessions", data=OFFER, headers=SDP)  # type: ignore[attr-defined]
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    wrong = await client.post(  # type: ignore[attr-defined]
        "/v1/sessions", data=OFFER, headers={**SDP, "Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    accepted = await client.post(  # type: ignore[attr-defined]
        "/v1/sessions", data=OFFER, headers={**SDP, "Authorization": "Bearer s3cret"}
    )
    assert accepted.status_code == 201


async def test_unknown_session_and_patch(nursery: trio.Nursery) -> None:
    _, client = await start(nursery)
    assert (await client.delete("/v1/sessions/nope")).status_code == 404  # type: ignore[attr-defined]
    patched = await client.patch("/v1/sessions/nope", data="a=candidate:x")  # type: ignore[attr-defined]
    assert patched.status_code == 405
    assert "ICE-lite" in await patched.get_data(as_text=True)


async def test_health_metrics_and_demo_page(nursery: trio.Nursery) -> None:
    _, client = await start(nursery)
    health = await client.get("/healthz")  # type: ignore[attr-defined]
    assert health.status_code == 200
    assert json.loads(await health.get_data(as_text=True))["sessions"] == 0
    await client.post("/v1/sessions?agent=nobody", data=OFFER, headers=SDP)  # type: ignore[attr-defined]
    await client.post("/v1/sessions", data=OFFER, headers=SDP)  # type: ignore[attr-defined]
    response = await client.get("/metrics")  # type: ignore[attr-defined]
    assert response.status_code == 200
    metrics = await response.get_data(as_text=True)
    assert "voice_sessions_active 1\n" in metrics
    assert "# TYPE voice_sessions_active gauge" in metrics
    assert 'voice_sessions_rejected_total{reason="bad_agent"} 1' in metrics
    page = await client.get("/")  # type: ignore[attr-defined]
    assert "Talk" in await page.get_data(as_text=True)
    script = await client.get("/static/demo.js")  # type: ignore[attr-defined]
    assert script.status_code == 200
