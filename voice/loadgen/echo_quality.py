"""One echo call through an impairment link, with speech, scored: the unit of
``bench/impair.py`` and of the impaired-call tests.

The synthetic caller (:class:`~voice.loadgen.caller.Caller`) sends a sentence
(:class:`~voice.loadgen.speech.SpeechSource`) to the server's ``echo`` agent through an
:class:`~voice.loadgen.impair.ImpairmentLink`, records what comes back
(:class:`~voice.loadgen.speech.Recorder`), and the echo is aligned and scored with wideband
PESQ once the call is over, so scoring costs the call nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio

from voice.loadgen.caller import Caller, CallResult
from voice.loadgen.impair import Impairment, ImpairmentLink, PathStats
from voice.loadgen.speech import Recorder, Score, SpeechSource, score_echo


@dataclass
class EchoCallReport:
    """Everything one impaired echo call measured."""

    call: CallResult
    score: Score
    #: What the link did toward the server (``up``) and back to the caller (``down``).
    up: PathStats
    down: PathStats


async def speech_echo_call(
    base_url: str,
    source: SpeechSource,
    up: Impairment,
    down: Impairment | None = None,
    *,
    seed: int = 0,
    tail: float = 1.0,
    setup_timeout: float = 15.0,
) -> EchoCallReport:
    """Places one echo call through a fresh link impairing ``up`` (caller to server) and
    ``down`` (server to caller; same as ``up`` when None), speaks ``source`` and listens
    ``tail`` seconds more for the end of the echo, hangs up and scores the echo."""
    link = ImpairmentLink(up, down, seed=seed)
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        caller = Caller(
            base_url,
            route=link.route,
            payloads=source,
            on_rtp=recorder.on_rtp,
            setup_timeout=setup_timeout,
        )
        result = await caller.run(source.duration + tail)
        nursery.cancel_scope.cancel()
    return EchoCallReport(result, score_echo(source, recorder), link.up.stats, link.down.stats)
