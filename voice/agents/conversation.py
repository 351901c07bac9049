"""The Trio side of a conversing agent: the call it is handed, barge-in, its output queue.

A conversing agent is an async function of one :class:`Call`::

    async def agent(call: Call) -> None:
        async for event in call.events:
            if isinstance(event, SpeechStopped):
                await call.play(answer_pcm)

:func:`conversational` wraps it into the session's ordinary
:data:`~voice.transceiver.agents.AgentFunction` (frames in, frames out), so the session does
not change for it and ``echo``/``tone`` keep their plain channels. The wrapper:

* runs a :class:`~voice.agents.turns.TurnDetector` on every frame the caller sends, in the
  task that receives it (no extra hop: the decision is made within the frame's own
  scheduling tick) and hands the agent both the frames (``call.audio``) and the events
  (``call.events``);
* keeps the agent's audio in its **own queue**, not in the session's channel. The session is
  asked (``output_frames = 0``) for an unbuffered channel, so at any moment at most one
  agent frame is on offer to the send loop, held by the pump task; dropping the queue and
  cancelling that one ``send`` means the very next 20 ms tick sends silence. That is how
  barge-in stops the agent's audio leaving the server within one frame of the decision;
* on a speech start while the agent is talking (frames queued, or one sent in the last
  ``TALKING_WINDOW``), drops the queue and tells the agent (:class:`OutputCleared`,
  reason ``"barge-in"``) so it can cancel its response; :meth:`Call.clear_output` does the
  same on the agent's own request;
* when the call ends, gives the agent :data:`END_GRACE` seconds, shielded, after a
  :class:`CallEnded` event to tidy up (tell its backend), then cancels it.

Neither the caller's frames nor the events ever wait for the agent: both channels are
bounded and a full one drops (and counts) what does not fit, as the session does.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

import trio

from voice.agents.events import (
    AgentEvent,
    CallEnded,
    OutputCleared,
    OutputFinished,
    SpeechStarted,
)
from voice.agents.transcript import TRANSCRIPTS, Transcript
from voice.agents.turns import Classifier, TurnDetector, TurnSettings
from voice.opus import FRAME_BYTES
from voice.transceiver.agents import AgentError, SessionInfo

log = logging.getLogger(__name__)

#: Seconds a call's agent may keep running, shielded, after the call ended.
END_GRACE = 0.5
#: An agent frame sent this recently still counts as the agent talking (a streaming backend
#: leaves the queue empty between its chunks).
TALKING_WINDOW = 0.2


class Call:
    """What a conversing agent gets: the caller's audio and events, and its own output."""

    def __init__(
        self,
        info: SessionInfo,
        *,
        output_capacity: int = 250,
        barge_in: bool = True,
        queue_frames: int = 64,
    ) -> None:
        self.info = info
        self.barge_in = barge_in
        self._audio_send, self.audio = trio.open_memory_channel[bytes](queue_frames)
        self._events_send, self.events = trio.open_memory_channel[AgentEvent](queue_frames)
        self._queue: deque[bytes] = deque()
        self._capacity = output_capacity
        self._room = trio.Event()
        self._queued = trio.Event()
        self._drained = trio.Event()
        self._generation = 0
        self._offer_scope: trio.CancelScope | None = None
        self._last_sent_at = -1e9
        self._played_since_finish = 0
        #: (role, text) lines of the conversation, for the demo page's transcript.
        self.transcript: list[tuple[str, str]] = []
        self.on_transcript: Callable[[str, str], None] | None = None
        self.audio_dropped = 0
        self.events_dropped = 0
        self.frames_played = 0
        self.frames_cleared = 0

    # -- for the agent -------------------------------------------------------------------

    @property
    def talking(self) -> bool:
        """Whether the agent has audio queued or was heard within the last instants."""
        return (
            bool(self._queue)
            or self._offer_scope is not None
            or trio.current_time() - self._last_sent_at < TALKING_WINDOW
        )

    @property
    def queued_frames(self) -> int:
        return len(self._queue)

    async def play(self, pcm: bytes) -> bool:
        """Queues audio (any whole number of samples; the last frame is padded with silence).

        Waits while the queue holds ``output_capacity`` frames, so an agent that synthesizes
        faster than real time is held back. Returns False, dropping what was not queued yet,
        if the output was cleared while waiting: a response interrupted by the caller does
        not resume after the interruption.
        """
        generation = self._generation
        for i in range(0, len(pcm), FRAME_BYTES):
            frame = pcm[i : i + FRAME_BYTES]
            if len(frame) < FRAME_BYTES:
                frame += bytes(FRAME_BYTES - len(frame))
            while len(self._queue) >= self._capacity:
                await self._room.wait()
                self._room = trio.Event()
            if generation != self._generation:
                return False
            self._queue.append(frame)
            self._queued.set()
        await trio.lowlevel.checkpoint()
        return generation == self._generation

    def clear_output(self) -> int:
        """Drops the agent's queued audio (e.g. before a new response); returns frames dropped."""
        return self._clear("agent")

    def say(self, role: str, text: str) -> None:
        """Records a transcript line (``role`` is ``"caller"`` or ``"agent"``)."""
        self.transcript.append((role, text))
        if self.on_transcript is not None:
            self.on_transcript(role, text)

    # -- the wrapper's side --------------------------------------------------------------

    async def _play_out(self) -> None:
        """Waits until everything queued has left (a goodbye is heard before hanging up)."""
        while self._queue or self._offer_scope is not None:
            await self._drained.wait()

    def _emit(self, event: AgentEvent) -> None:
        try:
            self._events_send.send_nowait(event)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            self.events_dropped += 1

    def _clear(self, reason: str) -> int:
        dropped = len(self._queue)
        self._queue.clear()
        self._generation += 1
        if self._offer_scope is not None:
            # The frame on offer to the send loop is withdrawn (unless it was just taken).
            self._offer_scope.cancel()
            dropped += 1
        self.frames_cleared += dropped
        self._played_since_finish = 0
        self._room.set()
        self._drained.set()
        self._drained = trio.Event()
        self._emit(OutputCleared(at=trio.current_time(), reason=reason, frames=dropped))
        return dropped

    async def _listen(
        self, audio_in: trio.MemoryReceiveChannel[bytes], detector: TurnDetector
    ) -> None:
        async for frame in audio_in:
            now = trio.current_time()
            detector.feed(frame, now)
            while (event := detector.next_event()) is not None:
                self._emit(event)
                if isinstance(event, SpeechStarted) and self.barge_in and self.talking:
                    self._clear("barge-in")
            try:
                self._audio_send.send_nowait(frame)
            except trio.WouldBlock:
                self.audio_dropped += 1

    async def _pump(self, audio_out: trio.MemorySendChannel[bytes]) -> None:
        """Offers the queued frames one at a time to the session's (unbuffered) channel."""
        async with audio_out:
            while True:
                while not self._queue:
                    await self._queued.wait()
                    self._queued = trio.Event()
                frame = self._queue.popleft()
                self._room.set()
                with trio.CancelScope() as scope:
                    self._offer_scope = scope
                    await audio_out.send(frame)
                self._offer_scope = None
                if scope.cancelled_caught:
                    continue
                self._last_sent_at = trio.current_time()
                self.frames_played += 1
                self._played_since_finish += 1
                if not self._queue:
                    self._drained.set()
                    self._drained = trio.Event()
                    self._emit(
                        OutputFinished(at=self._last_sent_at, frames=self._played_since_finish)
                    )
                    self._played_since_finish = 0


ConversationFunction = Callable[[Call], Awaitable[None]]


class ConversationalAgent:
    """A conversing agent as the session's :data:`AgentFunction` (see the module text)."""

    #: The session reads this: an unbuffered output channel, so barge-in drops everything.
    output_frames = 0

    def __init__(
        self,
        agent: ConversationFunction,
        settings: TurnSettings | None = None,
        *,
        barge_in: bool = True,
        classifier: Classifier | None = None,
        detail: object = None,
    ) -> None:
        self.agent = agent
        #: The object behind the agent (a Bridge, a Talker), for tests and benchmarks.
        self.detail = detail
        self.settings = settings or TurnSettings()
        self.barge_in = barge_in
        self._classifier = classifier
        self.call: Call | None = None

    async def __call__(
        self,
        info: SessionInfo,
        audio_in: trio.MemoryReceiveChannel[bytes],
        audio_out: trio.MemorySendChannel[bytes],
    ) -> None:
        call = self.call = Call(info, barge_in=self.barge_in)
        detector = TurnDetector(self.settings, self._classifier)
        agent_scope = trio.CancelScope(shield=True)
        lines = TRANSCRIPTS[info.session_id] = Transcript()
        call.on_transcript = lines.add
        try:
            await self._converse(call, detector, agent_scope, audio_in, audio_out)
        finally:
            if TRANSCRIPTS.get(info.session_id) is lines:
                del TRANSCRIPTS[info.session_id]

    async def _converse(
        self,
        call: Call,
        detector: TurnDetector,
        agent_scope: trio.CancelScope,
        audio_in: trio.MemoryReceiveChannel[bytes],
        audio_out: trio.MemorySendChannel[bytes],
    ) -> None:

        async with trio.open_nursery() as nursery:

            async def run_agent() -> None:
                with agent_scope:
                    await self.agent(call)
                    await call._play_out()
                nursery.cancel_scope.cancel()  # the agent hung up: the call ends

            nursery.start_soon(run_agent)
            nursery.start_soon(call._pump, audio_out)
            try:
                await call._listen(audio_in, detector)
            finally:
                # The call is ending (or the caller's audio ended): tell the agent, and let
                # it finish within the grace; its scope is shielded from ours until then.
                call._emit(CallEnded(at=trio.current_time()))
                agent_scope.deadline = trio.current_time() + END_GRACE
            nursery.cancel_scope.cancel()


def turn_settings(params: Mapping[str, str]) -> tuple[TurnSettings, bool]:
    """Reads ``vad``, ``min_speech``, ``hangover`` and ``barge_in`` from an agent's params."""
    from voice.transceiver.agents import _float_param

    aggressiveness = round(_float_param(params, "vad", 2, 0, 3))
    min_speech = _float_param(params, "min_speech", 0.06, 0.02, 2.0)
    hangover = _float_param(params, "hangover", 0.5, 0.02, 5.0)
    barge_in = params.get("barge_in", "1")
    if barge_in not in {"0", "1"}:
        raise AgentError(f"barge_in={barge_in!r} is not 0 or 1")
    return TurnSettings(aggressiveness, min_speech, hangover), barge_in == "1"
