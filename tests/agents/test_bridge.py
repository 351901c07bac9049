"""The bridge against the reference backend, over real loopback WebSockets (VOICE-AGENT)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, open_websocket_url, serve_websocket

from tests.agents.line import Line
from voice.agents.backend import BackendSettings, ReferenceBackend
from voice.agents.bridge import SUBPROTOCOL, Bridge, BridgeSettings, make_bridge, notice_pcm
from voice.agents.conversation import ConversationalAgent
from voice.agents.turns import TurnSettings
from voice.opus import FRAME_BYTES, SILENCE
from voice.transceiver.agents import AgentError, SessionInfo

VOICED = b"\x01" * FRAME_BYTES
SETTINGS = TurnSettings(min_speech=0.06, hangover=0.2)
NOTICE = notice_pcm()[:FRAME_BYTES]


def fake(pcm: bytes) -> bool:
    return pcm == VOICED


def bridge_agent(url: str) -> tuple[ConversationalAgent, Bridge]:
    bridge = Bridge(BridgeSettings(url, retry_first=0.1, retry_max=0.2))
    return ConversationalAgent(bridge.run, SETTINGS, classifier=fake, detail=bridge), bridge


async def start_backend(
    nursery: trio.Nursery, settings: BackendSettings
) -> tuple[ReferenceBackend, str]:
    backend = ReferenceBackend(settings)
    port = await nursery.start(backend.serve)
    return backend, f"ws://127.0.0.1:{port}/"


def speaks(start: int, stop: int) -> Callable[[int], bytes]:
    return lambda tick: VOICED if start <= tick < stop else SILENCE


async def test_a_turn_goes_to_the_backend_and_its_answer_comes_back() -> None:
    async with trio.open_nursery() as nursery:
        backend, url = await start_backend(nursery, BackendSettings(mode="repeat"))
        agent, bridge = bridge_agent(url)
        line = Line(speaks(10, 25))  # 300 ms of speech
        await line.run(agent, lambda ln: ln.count(VOICED) >= 15)
        nursery.cancel_scope.cancel()
    record = backend.sessions[0]
    assert record.start["session"] == "call-7"
    assert record.start["sample_rate"] == 48_000 and record.start["format"] == "pcm_s16le"
    kinds = [e["type"] for e in record.events]
    assert kinds[:2] == ["input.speech_started", "input.speech_stopped"]
    assert record.frames > 25  # every frame goes up, silence included
    assert bridge.connects == 1 and bridge.failures == 0
    assert agent.call is not None
    [(role, text)] = agent.call.transcript
    assert role == "agent" and text.endswith("ms of your voice)")


async def test_barge_in_stops_the_backend_answer_and_tells_the_backend() -> None:
    async with trio.open_nursery() as nursery:
        backend, url = await start_backend(
            nursery, BackendSettings(mode="tone", tone_seconds=6, burst=False)
        )
        agent, _bridge = bridge_agent(url)
        # A first turn; the 6 s answer starts; the caller interrupts about 1 s into it.
        line = Line(lambda t: VOICED if 5 <= t < 15 or 75 <= t < 90 else SILENCE)
        # Stop before the interruption's own turn ends (tick 100) and gets its answer.
        await line.run(agent, lambda ln: ln.ticks >= 97)
        nursery.cancel_scope.cancel()
    cleared = [e for e in backend.sessions[0].events if e["type"] == "output.cleared"]
    # The backend's own output.clear before its answer is reported back as "agent".
    assert [c["reason"] for c in cleared] == ["agent", "barge-in"]
    # The tone was heard until the interruption (decided at its third frame), then not.
    heard = [i for i, (_, f) in enumerate(line.sent) if f not in (SILENCE, VOICED)]
    assert heard and heard[0] < 74
    assert max(heard) <= 77


async def test_a_backend_that_is_down_costs_a_notice_not_the_call() -> None:
    with trio.socket.socket() as probe:  # a port nobody listens on
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    agent, bridge = bridge_agent(f"ws://127.0.0.1:{port}/")
    line = Line(speaks(5, 20))
    await line.run(agent, lambda ln: ln.ticks >= 60)
    assert bridge.failures >= 2  # it kept trying
    assert bridge.notices == 1  # one notice per outage, not one per attempt
    assert line.count(NOTICE) == 2  # the notice's two beeps start alike
    assert len(line.sent) == 60  # and the call kept its pace


async def test_a_backend_that_answers_the_upgrade_with_garbage_costs_a_notice_not_the_call() -> (
    None
):
    """Not a WebSocket handshake (here, not HTTP at all): trio-websocket fails it with h11's
    LocalProtocolError rather than a HandshakeError; still an unreachable backend."""

    async def garbage(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request and (chunk := await stream.receive_some()):
            request += chunk
        await stream.send_all(b"garbage\r\n\r\n")
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, garbage, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        agent, bridge = bridge_agent(f"ws://127.0.0.1:{port}/")
        line = Line(speaks(5, 20))
        await line.run(agent, lambda ln: ln.ticks >= 60)
        nursery.cancel_scope.cancel()
    assert bridge.failures >= 2 and bridge.connects == 0
    assert bridge.notices == 1
    assert len(line.sent) == 60


async def test_a_backend_that_disconnects_is_reconnected_with_the_session_resumed() -> None:
    backend = ReferenceBackend(BackendSettings(mode="repeat"))
    first = True

    async def flaky(request: WebSocketRequest) -> None:
        nonlocal first
        if first:
            first = False
            ws = await request.accept(subprotocol=SUBPROTOCOL)
            await ws.get_message()
            await ws.aclose(1011, "going away")
            return
        await backend.handle(request)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, flaky, "127.0.0.1", 0, None)
        agent, bridge = bridge_agent(f"ws://127.0.0.1:{server.port}/")
        line = Line(speaks(50, 65))
        await line.run(agent, lambda ln: ln.count(VOICED) >= 15)
        nursery.cancel_scope.cancel()
    assert bridge.connects == 2 and bridge.notices == 1
    assert backend.sessions[0].start["resumed"] is True
    assert backend.sessions[0].start["session"] == "call-7"


async def test_a_stalled_backend_never_stalls_the_call() -> None:
    async with trio.open_nursery() as nursery:
        _backend, url = await start_backend(nursery, BackendSettings(stall=True))
        agent, bridge = bridge_agent(url)
        line = Line(speaks(5, 200))
        # Long enough to fill the socket buffers and the one-second uplink queue.
        await line.run(agent, lambda ln: bridge.uplink.audio_dropped > 0, limit=60)
        nursery.cancel_scope.cancel()
    assert bridge.uplink.audio_queued <= 50
    assert line.ticks == len(line.sent)


async def test_the_backend_hangs_up_after_its_answer_is_heard() -> None:
    async with trio.open_nursery() as nursery:
        backend, url = await start_backend(
            nursery, BackendSettings(mode="tone", tone_seconds=0.4, hang_up_after=1)
        )
        agent, _ = bridge_agent(url)
        in_send, in_recv = trio.open_memory_channel[bytes](100)
        out_send, out_recv = trio.open_memory_channel[bytes](0)
        for _ in range(5):
            in_send.send_nowait(SILENCE)
        for _ in range(10):
            in_send.send_nowait(VOICED)
        for _ in range(20):
            in_send.send_nowait(SILENCE)
        heard = 0
        with trio.fail_after(10):
            async with trio.open_nursery() as call:
                call.start_soon(agent, SessionInfo("s", "bridge"), in_recv, out_send)
                async for _ in out_recv:  # ends when the agent returns
                    heard += 1
        nursery.cancel_scope.cancel()
    assert heard == 20  # the whole answer, then the call ended
    assert backend.sessions[0].answers == 1


async def test_garbage_from_the_backend_is_counted_and_ignored() -> None:
    async def rude(request: WebSocketRequest) -> None:
        ws = await request.accept(subprotocol=SUBPROTOCOL)
        await ws.get_message()
        for text in [
            "not json",
            "[]",
            '{"no": "type"}',
            '{"type": "who knows"}',
            '{"type": "transcript", "role": ["agent"], "text": "hi"}',  # unhashable role
            '{"type": "transcript", "role": {}, "text": "hi"}',
            "[" * 100_000,  # nested past the parser's recursion limit
        ]:
            await ws.send_message(text)
        await ws.send_message(json.dumps({"type": "transcript", "role": "agent", "text": "hi"}))
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, rude, "127.0.0.1", 0, None)
        agent, bridge = bridge_agent(f"ws://127.0.0.1:{server.port}/")
        line = Line(lambda t: SILENCE)
        await line.run(agent, lambda ln: bool(agent.call and agent.call.transcript))
        nursery.cancel_scope.cancel()
    assert bridge.bad_messages == 7
    assert bridge.failures == 0


def test_the_backend_is_the_operators_choice_not_the_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VOICE_AGENT_BACKEND", raising=False)
    with pytest.raises(AgentError, match="VOICE_AGENT_BACKEND"):
        make_bridge({"backend": "ws://10.0.0.1/"})
    with pytest.raises(AgentError, match="ws://"):
        make_bridge({}, backend_url="http://127.0.0.1/")
    monkeypatch.setenv("VOICE_AGENT_BACKEND", "ws://127.0.0.1:1/")
    agent = make_bridge({"hangover": "0.3"})
    assert isinstance(agent, ConversationalAgent)
    assert agent.settings.hangover == 0.3


async def test_the_reference_backend_outlives_a_client_that_sends_garbage() -> None:
    """A first message that is not a JSON object closes that connection only; garbage later
    in a session is counted; the server goes on taking sessions."""
    async with trio.open_nursery() as nursery:
        backend, url = await start_backend(nursery, BackendSettings())
        for first in ["[]", "not json", "[" * 100_000, '{"type": "session.start"}']:
            async with open_websocket_url(url, subprotocols=[SUBPROTOCOL]) as ws:
                await ws.send_message(first)
                if first.startswith("{"):
                    await ws.send_message("[" * 100_000)
                    await ws.send_message("[]")
                    await ws.send_message(json.dumps({"type": "call.ended"}))
                with pytest.raises(ConnectionClosed):
                    await ws.get_message()
        nursery.cancel_scope.cancel()
    assert [record.bad for record in backend.sessions] == [0, 0, 0, 2]
    assert backend.sessions[-1].start == {"type": "session.start"}
