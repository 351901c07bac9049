"""``talk``: an offline agent that listens, waits for the end of your turn, and answers.

Recognition is pocketsphinx with the US English model its wheel ships; synthesis is
Debian's ``espeak-ng``. Nothing is downloaded at run time. The answer is deliberately
simple, it repeats what it understood, because the point is the edge's turn-taking: end of
turn detected at the edge, an answer that starts as soon as it exists, and barge-in that
silences it the moment the caller talks over it (the response in progress, recognition or
synthesis, is cancelled too).

**The work runs in worker processes, not threads.** pocketsphinx holds the GIL while it
decodes: in a thread, a recognition froze the event loop, and with it every call's 20 ms
media ticks, for 0.6 s (measured). So recognition, synthesis and the pure-Python sample-rate
conversions run in a pool of spawned processes, each loading the model once (about 90 MB of
resident memory each); the event loop only waits on the result.

**Concurrency is bounded.** Recognizing an utterance costs a fifth to a third of its
duration in CPU (a 2 s turn, 0.4-0.65 s; ``bench/agents.py`` prints it), all at the end of
the turn. Unbounded, a few dozen calls ending their turns together would take every core
from the media loops. So the pool has :data:`ENGINE_SLOTS` processes (one per core, less
the one the media loop needs, at least one) and a ``trio.CapacityLimiter`` of the same size
in front of it: past that, a call waits its turn for an answer (a longer pause) instead of
every call's audio breaking up.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import trio

from voice.agents.conversation import Call, ConversationalAgent, turn_settings
from voice.agents.events import OutputCleared, SpeechStarted, SpeechStopped
from voice.agents.speech import SpeechError, espeak_command, pcm48_to_16k, synthesize
from voice.opus import FRAME_DURATION
from voice.transceiver.agents import AgentError, AgentFunction

log = logging.getLogger(__name__)


def usable_cpus(cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """The CPUs this process may run on. In a container ``os.cpu_count()`` is the whole
    node's count, while the affinity mask (set by the CPU manager or ``taskset``) and the
    cgroup's CPU quota say what it really gets; each recognition worker holds ~90 MB, so
    sizing the pool by the node would overrun a pod's memory limit."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = count or 1
    try:
        with open(cpu_max) as limits:
            quota, period = limits.read().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota visible: the affinity count stands
    return count


#: Recognitions and syntheses running at once, process-wide (worker processes): one core is
#: left to the event loop that carries every call's media.
ENGINE_SLOTS = max(1, usable_cpus() - 1)
#: The longest turn kept for recognition; a caller who talks on is heard up to here.
MAX_TURN = 15.0
GREETING = "Hello. Say something, and I will repeat what I understood."

_limiter: trio.lowlevel.RunVar[trio.CapacityLimiter] = trio.lowlevel.RunVar("talk_limiter")
#: In a worker process: its own pocketsphinx decoder, under "decoder".
_worker: dict[str, Any] = {}


class _Engine:
    """The process-wide worker pool, started on first use."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Future[Any]:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(
                max_workers=ENGINE_SLOTS,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_start,
            )
        return self.pool.submit(fn, arg)

    def warm(self) -> None:
        """Starts the workers (and their model loading) ahead of the first turn that needs
        them; a spawned worker takes a second or two to be ready."""
        if self.pool is None:
            for _ in range(ENGINE_SLOTS):
                self.submit(_warm_in_worker, None)


_engine = _Engine()


def _slots() -> trio.CapacityLimiter:
    try:
        return _limiter.get()
    except LookupError:
        limiter = trio.CapacityLimiter(ENGINE_SLOTS)
        _limiter.set(limiter)
        return limiter


def _worker_start() -> None:
    """In each worker: ignore Ctrl-C (the server handles it) and load the model once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import pocketsphinx

    _worker["decoder"] = pocketsphinx.Decoder(logfn=os.devnull)


def _warm_in_worker(_: object) -> str:
    return _recognize_in_worker(bytes(9600))  # a first decode: caches filled, pages touched


def _recognize_in_worker(pcm48: bytes) -> str:
    decoder = _worker["decoder"]
    decoder.start_utt()
    decoder.process_raw(pcm48_to_16k(pcm48), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return hypothesis.hypstr if hypothesis is not None else ""


def _synthesize_in_worker(text: str) -> bytes:
    return synthesize(text)


async def _offload(fn: Callable[[Any], Any], arg: Any) -> Any:
    """Runs ``fn(arg)`` in the worker pool, holding a slot; the loop waits, never computes."""
    async with _slots():
        future = _engine.submit(fn, arg)
        try:
            return await trio.to_thread.run_sync(future.result, abandon_on_cancel=True)
        finally:
            future.cancel()  # a turn interrupted before its work started drops it


async def recognize(pcm48: bytes) -> str:
    """What pocketsphinx understood of 48 kHz speech ("" when nothing)."""
    text: str = await _offload(_recognize_in_worker, pcm48)
    return text


async def speak(text: str) -> bytes:
    """``text`` synthesized by espeak-ng, as 48 kHz PCM."""
    pcm: bytes = await _offload(_synthesize_in_worker, text)
    return pcm


def reply_to(heard: str) -> str:
    if not heard:
        return "Sorry, I did not catch that."
    return f"You said: {heard}."


class Talker:
    """One call's conversation; :meth:`run` is the conversing agent."""

    def __init__(self, greet: bool = True) -> None:
        self.greet = greet
        self.turns = 0
        self.interrupted = 0
        self._heard: deque[bytes] = deque(maxlen=round(MAX_TURN / FRAME_DURATION))
        self._listening = False
        self._response: trio.CancelScope | None = None

    async def run(self, call: Call) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._collect, call)
            if self.greet:
                nursery.start_soon(self._respond, call, None)
            async for event in call.events:
                log.debug("talk %s: %s", call.info.session_id, event)
                if isinstance(event, SpeechStarted):
                    self._listening = True
                elif isinstance(event, OutputCleared) and event.reason == "barge-in":
                    self.interrupted += 1
                    if self._response is not None:
                        self._response.cancel()  # stop thinking about the old turn too
                elif isinstance(event, SpeechStopped):
                    self._listening = False
                    utterance = b"".join(self._heard)
                    self._heard.clear()
                    if self._response is not None:
                        self._response.cancel()
                    nursery.start_soon(self._respond, call, utterance)

    async def _collect(self, call: Call) -> None:
        async for frame in call.audio:
            self._heard.append(frame)
            if not self._listening:
                # The detector decides a start a few frames in: keep a little before it.
                while len(self._heard) > 10:
                    self._heard.popleft()

    async def _respond(self, call: Call, utterance: bytes | None) -> None:
        with trio.CancelScope() as scope:
            self._response = scope
            try:
                if utterance is None:
                    answer = GREETING
                else:
                    heard = await recognize(utterance)
                    self.turns += 1
                    call.say("caller", heard or "(not understood)")
                    answer = reply_to(heard)
                pcm = await speak(answer)
            except SpeechError:
                log.exception("talk %s: synthesis failed", call.info.session_id)
                return
            call.clear_output()
            call.say("agent", answer)
            await call.play(pcm)
        if self._response is scope:
            self._response = None


def make_talk(params: Mapping[str, str]) -> AgentFunction:
    """``talk``: repeats what it understood; ``greet=0`` skips its opening line."""
    greet = params.get("greet", "1")
    if greet not in {"0", "1"}:
        raise AgentError(f"greet={greet!r} is not 0 or 1")
    try:
        espeak_command("")
    except SpeechError as exc:
        raise AgentError(str(exc)) from None
    settings, barge_in = turn_settings(params)
    _engine.warm()
    talker = Talker(greet=greet == "1")
    return ConversationalAgent(talker.run, settings, barge_in=barge_in, detail=talker)
