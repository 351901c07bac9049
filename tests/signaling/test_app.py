"""The signaling endpoint's HTTP contract: answers, Location, and a readable refusal for every
kind of bad request (RFC 9725 shapes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from voice.agents.transcript import TRANSCRIPTS, Transcript
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
    session = transceiver.sessions[location.split("?")[0].rsplit("/", 1)[1]]

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
    assert (await client.delete("/v1/sessions/nope?key=x")).status_code == 404  # type: ignore[attr-defined]
    created = await client.post("/v1/sessions", data=OFFER, headers=SDP)  # type: ignore[attr-defined]
    location = created.headers["Location"]
    patched = await client.patch(location, data="a=candidate:x")  # type: ignore[attr-defined]
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


# -- issue 11: authorisation, CORS, rate limits, bounded offers, abandoned offers ---------


def session_id(location: str) -> str:
    return location.split("?", maxsplit=1)[0].rsplit("/", 1)[1]


async def test_delete_needs_the_session_key_from_location(nursery: trio.Nursery) -> None:
    transceiver, client = await start(nursery)
    created = await client.post("/v1/sessions", data=OFFER, headers=SDP)  # type: ignore[attr-defined]
    location = created.headers["Location"]
    assert "?key=" in location
    sid = session_id(location)
    # Knowing the id (it is in the logs) is not enough to end someone's call.
    bare = await client.delete(f"/v1/sessions/{sid}")  # type: ignore[attr-defined]
    assert bare.status_code == 401
    assert "Location" in await bare.get_data(as_text=True)
    wrong = await client.delete(f"/v1/sessions/{sid}?key=guess")  # type: ignore[attr-defined]
    assert wrong.status_code == 404
    assert (await client.patch(f"/v1/sessions/{sid}")).status_code == 401  # type: ignore[attr-defined]
    session = transceiver.sessions[sid]
    assert (await client.delete(location)).status_code == 200  # type: ignore[attr-defined]
    await session.ended.wait()
    assert session.end_reason == "deleted by signaling"


async def test_a_transcript_needs_the_session_key_too(nursery: trio.Nursery) -> None:
    _transceiver, client = await start(nursery)
    created = await client.post("/v1/sessions", data=OFFER, headers=SDP)  # type: ignore[attr-defined]
    location = created.headers["Location"]
    sid = session_id(location)
    TRANSCRIPTS[sid] = Transcript()
    try:
        TRANSCRIPTS[sid].add("caller", "my card number is")
        bare = await client.get(f"/v1/sessions/{sid}/transcript")  # type: ignore[attr-defined]
        assert bare.status_code == 401
        wrong = await client.get(f"/v1/sessions/{sid}/transcript?key=guess")  # type: ignore[attr-defined]
        assert wrong.status_code == 404
        path, query = location.split("?", 1)
        right = await client.get(f"{path}/transcript?{query}&after=0")  # type: ignore[attr-defined]
        assert right.status_code == 200
        assert (await right.get_json())["lines"][0]["text"] == "my card number is"
    finally:
        del TRANSCRIPTS[sid]
    assert (await client.delete(location)).status_code == 200  # type: ignore[attr-defined]


async def test_bearer_token_guards_every_route_that_changes_or_reveals_state(
    nursery: trio.Nursery,
) -> None:
    transceiver, client = await start(nursery, signaling=SignalingConfig(bearer_token="s3cret"))
    auth = {"Authorization": "Bearer s3cret"}
    metrics = await client.get("/metrics")  # type: ignore[attr-defined]
    assert metrics.status_code == 401
    assert metrics.headers["WWW-Authenticate"] == "Bearer"
    assert (await client.get("/metrics", headers=auth)).status_code == 200  # type: ignore[attr-defined]
    created = await client.post("/v1/sessions", data=OFFER, headers={**SDP, **auth})  # type: ignore[attr-defined]
    sid = session_id(created.headers["Location"])
    session = transceiver.sessions[sid]
    refused = await client.delete(f"/v1/sessions/{sid}")  # type: ignore[attr-defined]
    assert refused.status_code == 401
    assert "bearer token" in await refused.get_data(as_text=True)
    # The bearer token stands in for the session key (a WHIP client sends it everywhere).
    deleted = await client.delete(f"/v1/sessions/{sid}", headers=auth)  # type: ignore[attr-defined]
    assert deleted.status_code == 200
    await session.ended.wait()
    # Public on purpose: liveness (without the session count) and the demo page.
    health = await client.get("/healthz")  # type: ignore[attr-defined]
    assert health.status_code == 200
    assert "sessions" not in json.loads(await health.get_data(as_text=True))
    assert (await client.get("/")).status_code == 200  # type: ignore[attr-defined]
    assert (await client.get("/static/demo.js")).status_code == 200  # type: ignore[attr-defined]


async def test_cors_is_off_by_default(nursery: trio.Nursery) -> None:
    _, client = await start(nursery)
    preflight = await client.options(  # type: ignore[attr-defined]
        "/v1/sessions",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403
    assert "--cors-origin" in await preflight.get_data(as_text=True)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    created = await client.post(  # type: ignore[attr-defined]
        "/v1/sessions", data=OFFER, headers={**SDP, "Origin": "https://app.example"}
    )
    assert "Access-Control-Allow-Origin" not in created.headers


async def test_cors_allow_list_answers_preflight_and_exposes_whip_headers(
    nursery: trio.Nursery,
) -> None:
    _, client = await start(
        nursery,
        signaling=SignalingConfig(bearer_token="t", cors_origins=("https://app.example",)),
    )
    origin = {"Origin": "https://app.example"}
    preflight = await client.options(  # type: ignore[attr-defined]
        "/v1/sessions",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    # The preflight carries no credentials and must pass without the bearer token.
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "DELETE" in preflight.headers["Access-Control-Allow-Methods"]
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    created = await client.post(  # type: ignore[attr-defined]
        "/v1/sessions", data=OFFER, headers={**SDP, **origin, "Authorization": "Bearer t"}
    )
    assert created.status_code == 201
    assert created.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Location" in created.headers["Access-Control-Expose-Headers"]
    assert "Origin" in created.headers.get_all("Vary")
    other = await client.options(  # type: ignore[attr-defined]
        "/v1/sessions",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert other.status_code == 403
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_not_found_echoes_only_a_short_path(nursery: trio.Nursery) -> None:
    _, client = await start(nursery)
    response = await client.get("/" + "x" * 5000)  # type: ignore[attr-defined]
    assert response.status_code == 404
    text = await response.get_data(as_text=True)
    assert "no such resource" in text
    assert len(text) < 200


def client_at(address: str) -> dict[str, object]:
    return {"scope_base": {"client": (address, 40000)}}


async def post_from(client: object, address: str, body: str) -> Any:
    """POSTs ``body`` as an offer from a client at ``address``."""
    return await client.post("/v1/sessions", data=body, headers=SDP, **client_at(address))  # type: ignore[attr-defined]


async def test_requests_over_a_clients_rate_get_429_with_retry_after(
    nursery: trio.Nursery,
) -> None:
    transceiver, client = await start(
        nursery, signaling=SignalingConfig(client_rate=0.01, client_burst=3)
    )
    bad = "v=0\r\nnot sdp\r\n"
    for _ in range(3):
        response = await client.post(
            "/v1/sessions", data=bad, headers=SDP, **client_at("192.0.2.1")
        )  # type: ignore[attr-defined]
        assert response.status_code == 400
    limited = await client.post("/v1/sessions", data=OFFER, headers=SDP, **client_at("192.0.2.1"))  # type: ignore[attr-defined]
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert "too many requests" in await limited.get_data(as_text=True)
    # DELETE spends from the same bucket (RFC 9725 §5: rate-limit requests to sessions too).
    churn = await client.delete("/v1/sessions/x?key=y", **client_at("192.0.2.1"))  # type: ignore[attr-defined]
    assert churn.status_code == 429
    # Another address has its own bucket; an IPv6 host is one client per /64.
    other = await client.post("/v1/sessions", data=OFFER, headers=SDP, **client_at("192.0.2.2"))  # type: ignore[attr-defined]
    assert other.status_code == 201
    for n in range(3):
        await client.post("/v1/sessions", data=bad, headers=SDP, **client_at(f"2001:db8::{n + 1}"))  # type: ignore[attr-defined]
    v6 = await client.post("/v1/sessions", data=bad, headers=SDP, **client_at("2001:db8::99"))  # type: ignore[attr-defined]
    assert v6.status_code == 429
    assert transceiver.m_rejected.get(reason="rate_client") == 3


async def test_offers_over_the_global_rate_get_429(nursery: trio.Nursery) -> None:
    transceiver, client = await start(
        nursery, signaling=SignalingConfig(global_rate=0.01, global_burst=2)
    )
    bad = "v=0\r\nnot sdp\r\n"
    codes = [
        (
            await client.post("/v1/sessions", data=bad, headers=SDP, **client_at(f"192.0.2.{n}"))
        ).status_code  # type: ignore[attr-defined]
        for n in range(1, 5)
    ]
    assert codes == [400, 400, 429, 429]
    assert transceiver.m_rejected.get(reason="rate_global") == 2


def huge_offer(media: int) -> str:
    head, _, rest = OFFER.partition("m=audio")
    section = "m=audio" + rest
    return head + section * media


async def test_oversized_offers_are_refused_before_parsing(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    transceiver, client = await start(nursery)
    parsed: list[str] = []

    def watched_parse(text: str) -> object:
        parsed.append(text)
        return parse(text)

    monkeypatch.setattr("voice.transceiver.service.parse", watched_parse)
    m_lines = "".join(f"m=audio 9 UDP/TLS/RTP/SAVPF {n}\r\n" for n in range(1000))
    cases = [
        (huge_offer(20), "media sections"),
        (OFFER.replace("\r\n", "\n") + m_lines, "lines"),
        (OFFER.replace("111 63", " ".join(str(n) for n in range(100)) + " 111 63"), "formats"),
        (OFFER.replace("a=rtcp-mux", "a=rtcp-mux\r\n" + "a=x\r\n" * 300), "attributes"),
        (OFFER.replace("a=rtcp-mux", "a=rtcp-mux\r\na=x:" + "y" * 5000), "characters"),
    ]
    for text, says in cases:
        response = await client.post("/v1/sessions", data=text, headers=SDP)  # type: ignore[attr-defined]
        assert response.status_code == 400, says
        assert says in await response.get_data(as_text=True)
    assert parsed == []
    assert not transceiver.sessions
    # A real offer still passes, and is parsed.
    ok = await client.post("/v1/sessions", data=OFFER, headers=SDP)  # type: ignore[attr-defined]
    assert ok.status_code == 201
    assert len(parsed) == 1


async def test_pending_sessions_are_bounded_per_client_and_in_all(
    nursery: trio.Nursery,
) -> None:
    transceiver, client = await start(nursery, max_pending=3, max_pending_per_client=2)
    codes = []
    for address in ("192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.3"):
        response = await client.post("/v1/sessions", data=OFFER, headers=SDP, **client_at(address))  # type: ignore[attr-defined]
        codes.append(response.status_code)
        if response.status_code != 201:
            assert "Retry-After" in response.headers
    assert codes == [201, 201, 429, 201, 503]
    assert len(transceiver.sessions) == 3
    assert transceiver.m_rejected.get(reason="pending_client") == 1
    assert transceiver.m_rejected.get(reason="pending") == 1


async def test_an_offer_nobody_follows_up_ends_at_the_check_timeout(
    nursery: trio.Nursery,
) -> None:
    transceiver, client = await start(nursery, check_timeout=0.2)
    created = await client.post("/v1/sessions", data=OFFER, headers=SDP)  # type: ignore[attr-defined]
    session = transceiver.sessions[session_id(created.headers["Location"])]
    with trio.fail_after(5):  # the handshake timeout (10 s) would be too late
        await session.ended.wait()
    assert session.end_reason == "no ICE check"


async def test_posts_without_the_token_do_not_spend_the_global_rate(
    nursery: trio.Nursery,
) -> None:
    _, client = await start(
        nursery, signaling=SignalingConfig(bearer_token="t", global_rate=0.01, global_burst=1)
    )
    for n in range(3):
        assert (await post_from(client, f"192.0.2.{n + 1}", OFFER)).status_code == 401
    accepted = await client.post(  # type: ignore[attr-defined]
        "/v1/sessions", data=OFFER, headers={**SDP, "Authorization": "Bearer t"}
    )
    assert accepted.status_code == 201
