"""The ``bridge`` agent: a call's audio and turn events to a speech backend over WebSocket.

This is the edge's half of VOICE-AGENT (``spec/voice-agent.md``); :mod:`voice.agents.backend`
is a reference backend. The bridge is a conversing agent (:mod:`voice.agents.conversation`),
so turn detection and barge-in happen at the edge, within a frame, whatever the backend's
latency; the backend is told and only has to stop producing.

Nothing the backend does ends the call (VOICE-AGENT §9): a backend that is down, refuses,
disconnects or stalls costs the caller a short notice and silence while the bridge
reconnects with back-off, and the call goes on.
"""

from __future__ import annotations

import json
import logging
import math
import os
from array import array
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import h11
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, open_websocket_url

from voice.agents.conversation import Call, ConversationalAgent, turn_settings
from voice.agents.events import (
    AgentEvent,
    CallEnded,
    OutputCleared,
    OutputFinished,
    SpeechStarted,
    SpeechStopped,
)
from voice.opus import FRAME_BYTES, SAMPLE_RATE
from voice.transceiver.agents import AgentError, AgentFunction

log = logging.getLogger(__name__)

#: The WebSocket subprotocol both ends name (VOICE-AGENT §3).
SUBPROTOCOL = "voice-agent.v1"
#: Where the operator names the backend; never a caller's parameter (VOICE-AGENT §11).
BACKEND_ENV = "VOICE_AGENT_BACKEND"
#: What a backend that is down, refuses, misbehaves or goes away makes the link raise.
#: h11's LocalProtocolError is what trio-websocket (0.12) raises when the answer to the
#: upgrade is not a WebSocket handshake at all (not HTTP, a bad header, a subprotocol we did
#: not offer): it tries to reply with a server's rejection and h11 refuses, so the backend's
#: bad answer surfaces as that error rather than as a HandshakeError.
_LINK_ERRORS = (HandshakeError, ConnectionClosed, OSError, h11.LocalProtocolError)


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    url: str
    connect_timeout: float = 2.0
    #: Seconds of the caller's audio held for a backend that reads slowly (VOICE-AGENT §7).
    uplink_seconds: float = 1.0
    retry_first: float = 0.5
    retry_max: float = 5.0
    #: Kept under the conversation's end grace, so ``call.ended`` and the close both fit.
    close_timeout: float = 0.3


def notice_pcm() -> bytes:
    """Two short 660 Hz beeps: the caller's sign that the backend is unreachable."""
    beep = array(
        "h", (round(6000 * math.sin(2 * math.pi * 660 * n / SAMPLE_RATE)) for n in range(5760))
    ).tobytes()  # 120 ms
    gap = bytes(2 * 2880)  # 60 ms
    return beep + gap + beep + gap


class _Uplink:
    """What goes to the backend, in order: events always, audio while there is room."""

    def __init__(self, audio_frames: int) -> None:
        self.items: deque[str | bytes] = deque()
        self.audio_frames = audio_frames
        self.audio_queued = 0
        self.audio_dropped = 0
        self.events_dropped = 0
        self.connected = False
        self._ready = trio.Event()

    def audio(self, frame: bytes) -> None:
        if not self.connected or self.audio_queued >= self.audio_frames:
            self.audio_dropped += 1  # VOICE-AGENT §7: the caller's audio is never waited for
            return
        self.items.append(frame)
        self.audio_queued += 1
        self._ready.set()

    def event(self, message: dict[str, Any], *, always: bool = False) -> None:
        if not self.connected and not always:
            self.events_dropped += 1
            return
        self.items.append(json.dumps(message, separators=(",", ":")))
        self._ready.set()

    def reset(self) -> None:
        self.items.clear()
        self.audio_queued = 0

    async def get(self) -> str | bytes:
        while not self.items:
            await self._ready.wait()
            self._ready = trio.Event()
        item = self.items.popleft()
        if isinstance(item, bytes):
            self.audio_queued -= 1
        return item


class Bridge:
    """One call's link to the backend; :meth:`run` is the conversing agent."""

    def __init__(self, settings: BridgeSettings) -> None:
        self.settings = settings
        self.connects = 0
        self.failures = 0
        self.notices = 0
        self.bad_messages = 0
        self.audio_discarded = 0  # backend audio after a barge-in, before its output.clear
        self.uplink = _Uplink(max(1, round(settings.uplink_seconds * 50)))
        self._call: Call | None = None
        self._start = 0.0
        self._ended = False
        self._hung_up = False
        self._muted = False
        self._remainder = b""
        self._ended_event = trio.Event()

    def _over(self) -> bool:
        """The call ended, or the backend hung up: no more connecting."""
        return self._ended or self._hung_up

    def _ms(self, at: float) -> int:
        return round((at - self._start) * 1000)

    async def run(self, call: Call) -> None:
        self._call = call
        self._start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._collect_audio, call)
            nursery.start_soon(self._collect_events, call)
            await self._connect_forever(call)
            nursery.cancel_scope.cancel()

    # -- from the call to the uplink -----------------------------------------------------

    async def _collect_audio(self, call: Call) -> None:
        async for frame in call.audio:
            self.uplink.audio(frame)

    async def _collect_events(self, call: Call) -> None:
        async for event in call.events:
            message = self._describe(event)
            if isinstance(event, OutputCleared) and event.reason == "barge-in":
                self._muted = True  # VOICE-AGENT §8
                self._remainder = b""
            elif isinstance(event, SpeechStopped):
                self._muted = False
            if isinstance(event, CallEnded):
                self._ended = True
                self.uplink.event(message)
                self._ended_event.set()
                return
            self.uplink.event(message)

    def _describe(self, event: AgentEvent) -> dict[str, Any]:
        """VOICE-AGENT §5: an event as the backend reads it."""
        if isinstance(event, SpeechStarted):
            return {"type": "input.speech_started", "at_ms": self._ms(event.at)}
        if isinstance(event, SpeechStopped):
            return {
                "type": "input.speech_stopped",
                "at_ms": self._ms(event.at),
                "started_ms": self._ms(event.started_at),
            }
        if isinstance(event, OutputCleared):
            return {"type": "output.cleared", "reason": event.reason, "frames": event.frames}
        if isinstance(event, OutputFinished):
            return {"type": "output.finished", "frames": event.frames}
        return {"type": "call.ended"}

    # -- the connection ------------------------------------------------------------------

    async def _connect_forever(self, call: Call) -> None:
        """VOICE-AGENT §9: connect, and reconnect with back-off, until the call ends."""
        delay = self.settings.retry_first
        notified = False
        while not self._over():
            try:
                async with open_websocket_url(
                    self.settings.url,
                    subprotocols=[SUBPROTOCOL],
                    connect_timeout=self.settings.connect_timeout,
                    disconnect_timeout=self.settings.close_timeout,
                    message_queue_size=1,
                ) as ws:
                    self.connects += 1
                    delay = self.settings.retry_first
                    notified = False
                    try:
                        await self._converse(ws, call)
                    finally:
                        self.uplink.connected = False
                        self.uplink.reset()
            except (*_LINK_ERRORS, BaseExceptionGroup) as exc:
                # Trio nurseries (ours and trio-websocket's) wrap what they raise in groups.
                if isinstance(exc, BaseExceptionGroup):
                    _, rest = exc.split(_LINK_ERRORS)
                    if rest is not None:
                        raise
                if self._over():
                    return  # a close that went badly after the call ended is no failure
                self.failures += 1
                log.info("bridge %s: backend unreachable or gone: %r", call.info.session_id, exc)
            else:
                if self._over():
                    return
            if not notified:
                notified = True
                self.notices += 1
                call.clear_output()
                await call.play(notice_pcm())
            with trio.move_on_after(delay):
                await self._ended_event.wait()
            delay = min(delay * 2, self.settings.retry_max)

    async def _converse(self, ws: WebSocketConnection, call: Call) -> None:
        self.uplink.reset()
        self.uplink.connected = True
        # VOICE-AGENT §3: the first message names the session and the audio format.
        self.uplink.event(
            {
                "type": "session.start",
                "session": call.info.session_id,
                "agent": call.info.agent,
                "sample_rate": SAMPLE_RATE,
                "frame_ms": 20,
                "format": "pcm_s16le",
                "resumed": self.connects > 1,
            }
        )
        async with trio.open_nursery() as nursery:

            async def send() -> None:
                while True:
                    item = await self.uplink.get()
                    await ws.send_message(item)
                    if isinstance(item, str) and '"call.ended"' in item:
                        nursery.cancel_scope.cancel()
                        return

            nursery.start_soon(send)
            while True:
                message = await ws.get_message()
                if isinstance(message, bytes):
                    await self._play(call, message)
                elif self._control(call, message):
                    nursery.cancel_scope.cancel()
                    return

    async def _play(self, call: Call, data: bytes) -> None:
        """VOICE-AGENT §4, §7: the backend's audio, in whole frames; waiting for queue room
        is what holds a fast backend back (we stop reading its socket)."""
        if self._muted:
            self.audio_discarded += len(data)
            return
        data = self._remainder + data
        whole = len(data) // FRAME_BYTES * FRAME_BYTES
        self._remainder = data[whole:]
        if whole:
            await call.play(data[:whole])

    def _control(self, call: Call, text: str) -> bool:
        """VOICE-AGENT §6: a backend's event; True when the backend hangs up."""
        try:
            message = json.loads(text)
            kind = message["type"]
        except (ValueError, TypeError, KeyError, RecursionError):
            # RecursionError: deeply nested JSON ("[[[[..."), which json.loads does not
            # turn into a ValueError.
            self.bad_messages += 1
            return False
        if kind == "output.clear":
            self._muted = False
            self._remainder = b""
            call.clear_output()
        elif kind == "transcript":
            role, words = message.get("role"), message.get("text")
            # The type test comes first: a list or object as the role is unhashable.
            if isinstance(role, str) and role in {"caller", "agent"} and isinstance(words, str):
                call.say(role, words[:500])
            else:
                self.bad_messages += 1
        elif kind == "call.end":
            self._hung_up = True
            return True
        else:
            self.bad_messages += 1  # unknown types are ignored (a newer backend)
        return False


def make_bridge(params: Mapping[str, str], backend_url: str | None = None) -> AgentFunction:
    """``bridge``: the call talks to the backend the operator configured (VOICE-AGENT §11)."""
    url = backend_url or os.environ.get(BACKEND_ENV)
    if not url:
        raise AgentError(f"the bridge agent needs a backend: set {BACKEND_ENV}=ws://host:port/")
    if not url.startswith(("ws://", "wss://")):
        raise AgentError("the backend URL must be ws:// or wss://")
    settings, barge_in = turn_settings(params)
    bridge = Bridge(BridgeSettings(url))
    return ConversationalAgent(bridge.run, settings, barge_in=barge_in, detail=bridge)
