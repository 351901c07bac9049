"""Echo calls to ``voice serve`` (through its relay) over a bad network: spoken speech goes
through the userspace impairment link, and what comes back must be the caller's own words,
audible and intelligible (wideband PESQ above a modest floor), with no call lost.

This speech through two Opus encodings scores about 2.6 on a clean path; PESQ's floor is
about 1, where a silent or garbled echo lands. ``bench/impair.py`` has the full matrix and
the aiortc baseline; these two cases guard the behaviour.
"""

from __future__ import annotations

import re
from functools import cache, partial

import pytest
import trio

from tests.conftest import require_program
from tests.support.server import RunningServer, voice_serve
from voice.loadgen.echo_quality import EchoCallReport, speech_echo_call
from voice.loadgen.impair import Impairment
from voice.loadgen.speech import SpeechSource, synthesize

pytestmark = pytest.mark.slow

#: Intelligible but clearly degraded speech; a silent or garbled echo scores near 1.
PESQ_FLOOR = 1.4


@cache
def source() -> SpeechSource:
    require_program("espeak-ng")
    return SpeechSource(synthesize("The birch canoe slid on the smooth planks."))


def call(server: RunningServer, impairment: Impairment, seed: int) -> EchoCallReport:
    return trio.run(partial(speech_echo_call, server.url, source(), impairment, seed=seed))


def assert_heard(server: RunningServer, report: EchoCallReport) -> re.Match[str]:
    assert report.call.failed is None
    played = server.wait_for_log(r"ended \(deleted by signaling\).*frames played (\d+)")
    assert int(played.group(1)) > 100  # the server heard the caller for the whole call
    media = server.wait_for_log(r"media: fec recovered (\d+), concealed (\d+)")
    score = report.score
    assert score.level > 0.5, f"the echo is nearly silent: {score}"
    assert score.pesq > PESQ_FLOOR, f"the echo is not intelligible: {score}"
    # The echo is the caller's speech, back after a round trip, not something else.
    assert 0.0 < score.echo_delay < 1.0
    return media


def test_echo_at_10_percent_random_loss_is_intelligible() -> None:
    with voice_serve() as server:
        report = call(server, Impairment(loss=0.10), seed=11)
        media = assert_heard(server, report)
    assert report.up.lost > 0 and report.down.lost > 0
    # Losses toward the server were rebuilt from FEC or concealed there.
    assert int(media.group(1)) + int(media.group(2)) > 0


def test_echo_through_40_ms_jitter_is_intelligible() -> None:
    with voice_serve() as server:
        report = call(server, Impairment(delay=0.040, jitter=0.020), seed=12)
        assert_heard(server, report)
    assert report.up.lost == 0 and report.down.lost == 0
    assert report.score.echo_delay > 0.080  # 40 ms each way at least
