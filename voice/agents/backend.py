"""A reference speech backend for VOICE-AGENT: what the tests and the benchmark talk to.

It does what a real backend does around its model, with the model replaced by something
plain: it collects the caller's audio between ``input.speech_started`` and
``input.speech_stopped`` and, after an optional think time, answers by sending that
utterance back (``repeat``) or a steady tone (``tone``), preceded by ``output.clear`` and a
``transcript`` line, as VOICE-AGENT §6 describes. It stops talking when the edge reports a
barge-in. It can also misbehave on purpose (stall, hang up) so the edge's handling of a bad
backend is tested against a real socket.

Run one by hand: ``python -m voice.agents.backend --port 8765`` and start the edge with
``VOICE_AGENT_BACKEND=ws://127.0.0.1:8765/ voice serve --agent bridge``.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

from voice.agents.bridge import SUBPROTOCOL
from voice.cli.logs import add_log_option, configure_logging
from voice.opus import FRAME_BYTES
from voice.transceiver.agents import tone_frames

log = logging.getLogger(__name__)


@dataclass
class BackendSettings:
    mode: str = "repeat"  # "repeat" the caller's utterance, or answer with a "tone"
    think: float = 0.0  # seconds between the end of a turn and the answer
    tone_seconds: float = 1.0
    #: Send the answer as fast as the socket takes it (back-pressure is the edge's) or paced.
    burst: bool = True
    hang_up_after: int = 0  # answers before sending call.end; 0 for never
    stall: bool = False  # never read anything after session.start (a stuck backend)


@dataclass
class SessionRecord:
    """What one connection saw, for tests."""

    start: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    frames: int = 0
    answers: int = 0
    bad: int = 0


def _event(message: str | bytes) -> dict[str, Any] | None:
    """An event from the edge (VOICE-AGENT §5), or None for a message that is not a JSON
    object: whatever one connection sends ends at most that connection, never the server
    (an exception out of a handler would end serve_websocket and every other session)."""
    if not isinstance(message, str):
        return None
    try:
        event = json.loads(message)
    except (ValueError, RecursionError):  # RecursionError: "[[[[...", nested too deep
        return None
    return event if isinstance(event, dict) else None


class ReferenceBackend:
    def __init__(self, settings: BackendSettings | None = None) -> None:
        self.settings = settings or BackendSettings()
        self.sessions: list[SessionRecord] = []
        self.connected = trio.Event()
        self.ended = trio.Event()

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, self.handle, host, port, None)
            task_status.started(server.port)

    async def handle(self, request: WebSocketRequest) -> None:
        if SUBPROTOCOL not in request.proposed_subprotocols:
            await request.reject(400, body=b"the voice-agent.v1 subprotocol is required")
            return
        ws = await request.accept(subprotocol=SUBPROTOCOL)
        record = SessionRecord()
        self.sessions.append(record)
        try:
            await self._session(ws, record)
        except* ConnectionClosed:
            pass  # the edge went away: this session is over
        finally:
            self.ended.set()

    async def _session(self, ws: WebSocketConnection, record: SessionRecord) -> None:
        start = _event(await ws.get_message())
        if start is None or start.get("type") != "session.start":
            await ws.aclose(1002, "expected session.start")
            return
        record.start = start
        self.connected.set()
        if self.settings.stall:
            await trio.sleep_forever()
        utterance: list[bytes] = []
        listening = False
        async with trio.open_nursery() as nursery:
            answer_scope: trio.CancelScope | None = None
            while True:
                message = await ws.get_message()
                if isinstance(message, bytes):
                    record.frames += 1
                    utterance.append(message)
                    if not listening:
                        # The edge decides a start a few frames into the speech: keep those.
                        del utterance[:-10]
                    continue
                event = _event(message)
                if event is None or "type" not in event:
                    record.bad += 1
                    continue
                kind = event["type"]
                record.events.append(event)
                if kind == "input.speech_started":
                    listening = True
                elif kind == "input.speech_stopped":
                    listening = False
                    if answer_scope is not None:
                        answer_scope.cancel()
                    answer_scope = trio.CancelScope()
                    nursery.start_soon(self._answer, ws, record, utterance, answer_scope)
                    utterance = []
                elif kind == "output.cleared" and event.get("reason") == "barge-in":
                    if answer_scope is not None:
                        answer_scope.cancel()  # the caller interrupted: stop talking
                elif kind == "call.ended":
                    nursery.cancel_scope.cancel()
                    return

    async def _answer(
        self,
        ws: WebSocketConnection,
        record: SessionRecord,
        utterance: list[bytes],
        scope: trio.CancelScope,
    ) -> None:
        with scope:
            await trio.sleep(self.settings.think)
            if self.settings.mode == "tone":
                frames = tone_frames(523, 0.3) * max(1, round(self.settings.tone_seconds))
                frames = frames[: max(1, round(self.settings.tone_seconds * 50))]
                words = "(a tone)"
            else:
                frames = [f for f in utterance if len(f) == FRAME_BYTES]
                words = f"({len(frames) * 20} ms of your voice)"
            record.answers += 1
            await ws.send_message(json.dumps({"type": "output.clear"}))
            await ws.send_message(
                json.dumps({"type": "transcript", "role": "agent", "text": words})
            )
            start = trio.current_time()
            for i, frame in enumerate(frames):
                if not self.settings.burst:
                    await trio.sleep_until(start + 0.02 * i - 0.1)  # 100 ms ahead of real time
                await ws.send_message(frame)
            if self.settings.hang_up_after and record.answers >= self.settings.hang_up_after:
                await ws.send_message(json.dumps({"type": "call.end"}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a reference VOICE-AGENT speech backend")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--mode", choices=["repeat", "tone"], default="repeat")
    parser.add_argument("--think", type=float, default=0.0)
    add_log_option(parser)
    args = parser.parse_args(argv)
    configure_logging(args)
    backend = ReferenceBackend(BackendSettings(mode=args.mode, think=args.think))
    trio.run(backend.serve, args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
