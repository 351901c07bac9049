"""A live trace of one session as server-sent events: what the demo page's ladder reads."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import trio

from voice.cli import main
from voice.loadgen.caller import Caller
from voice.server import ServerConfig, ServerInfo, run_server


def read_feed(url: str) -> tuple[list[str], list[dict[str, object]]]:
    """Reads the event stream to its end: the named events, and the records."""
    names: list[str] = []
    records: list[dict[str, object]] = []
    with urllib.request.urlopen(url, timeout=20) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                names.append(line[7:])
                if names[-1] == "end":
                    break
            elif line.startswith("data: ") and line != "data: {}":
                records.append(json.loads(line[6:]))
    return names, records


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_a_watched_call_streams_its_decoded_datagrams_until_it_ends(
    nursery: trio.Nursery,
) -> None:
    info: ServerInfo = await nursery.start(run_server, ServerConfig(http_port=0))
    caller = Caller(info.url)
    nursery.start_soon(caller.run, 1.5)
    await caller.connected.wait()
    assert caller.location is not None
    base = info.url.rstrip("/")
    path, _, key = caller.location.partition("?")
    # Without the session's key there is nothing to see; an unknown session is 404.
    assert await trio.to_thread.run_sync(status_of, f"{base}{path}/trace") == 401
    assert await trio.to_thread.run_sync(status_of, f"{base}/v1/sessions/nope/trace?key=x") == 404
    names, records = await trio.to_thread.run_sync(read_feed, f"{base}{path}/trace?{key}")
    assert names[0] == "ready" and names[-1] == "end"  # the feed ends with the call
    kinds = {(r["dir"], r["kind"]) for r in records}
    assert {("in", "rtp"), ("out", "rtp")} <= kinds
    # Tracing began after the handshake: the headers are read, the payloads stay encrypted
    # (the demo page starts watching before ICE, and sees it all).
    rtp = [r for r in records if r["kind"] == "rtp"]
    assert all("opus" not in str(r["summary"]) and "ssrc=" in str(r["summary"]) for r in rtp)
    assert records[-1]["kind"] in ("dtls", "rtcp")  # the goodbye: BYE, close_notify
    assert info.transceiver.watchers.dropped == 0


async def test_voice_trace_follows_a_live_session(
    nursery: trio.Nursery, capsys: pytest.CaptureFixture[str]
) -> None:
    info: ServerInfo = await nursery.start(run_server, ServerConfig(http_port=0))
    caller = Caller(info.url)
    nursery.start_soon(caller.run, 1.0)
    await caller.connected.wait()
    assert caller.location is not None
    url = f"{info.url.rstrip('/')}{caller.location.replace('?', '/trace?', 1)}"
    status = await trio.to_thread.run_sync(main, ["trace", url, "--kind", "rtp,rtcp"])
    assert status == 0  # returned: the feed ended with the call
    lines = capsys.readouterr().out.splitlines()
    assert any(" rtp " in line and "SRTP pt=" in line for line in lines)
    assert not any(" stun " in line for line in lines)


async def test_the_last_watcher_leaving_turns_tracing_off(nursery: trio.Nursery) -> None:
    info: ServerInfo = await nursery.start(run_server, ServerConfig(http_port=0))
    caller = Caller(info.url)
    nursery.start_soon(caller.run, 1.0)
    await caller.connected.wait()
    [session] = info.transceiver.sessions.values()
    feed = info.transceiver.watch(session.id)
    assert feed is not None and session.peer.tracer is not None
    await feed.receive()  # a record arrives while watched
    await feed.aclose()
    # The next datagram finds no watcher left and detaches the tracer.
    while session.peer.tracer is not None:
        await caller.rtp_after(caller.last_rtp_at)  # the echo of a datagram the server got
    assert not session.peer.closed
