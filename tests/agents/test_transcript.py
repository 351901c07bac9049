"""Transcripts: lines as they come, and the long-poll route the demo page reads."""

from __future__ import annotations

import trio
import trio.testing
from quart_trio import QuartTrio

from voice.agents.transcript import TRANSCRIPTS, WAIT, Transcript, blueprint


async def test_after_waits_for_a_new_line_or_gives_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    transcript = Transcript()
    transcript.add("caller", "hello")
    assert [ln.text for ln in await transcript.after(0)] == ["hello"]
    start = trio.current_time()
    assert await transcript.after(1) == []
    assert trio.current_time() - start == WAIT
    async with trio.open_nursery() as nursery:

        async def later() -> None:
            await trio.sleep(1)
            transcript.add("agent", "you said hello")

        nursery.start_soon(later)
        lines = await transcript.after(1)
    assert [(ln.index, ln.role) for ln in lines] == [(2, "agent")]


async def test_the_route_serves_a_running_calls_lines() -> None:
    app = QuartTrio(__name__)
    app.register_blueprint(blueprint())
    client = app.test_client()
    response = await client.get("/v1/sessions/nope/transcript")
    assert response.status_code == 404
    transcript = TRANSCRIPTS["abc"] = Transcript()
    try:
        transcript.add("caller", "hi")
        transcript.add("agent", "you said hi")
        response = await client.get("/v1/sessions/abc/transcript?after=1")
        assert response.status_code == 200
        body = await response.get_json()
        assert body == {"lines": [{"index": 2, "role": "agent", "text": "you said hi"}], "next": 2}
        response = await client.get("/v1/sessions/abc/transcript?after=x")
        assert response.status_code == 400
    finally:
        del TRANSCRIPTS["abc"]
