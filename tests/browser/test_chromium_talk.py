"""Chromium talks with the ``talk`` agent: turns answered, and barge-in heard in the page.

The fake microphone plays speech synthesized with espeak-ng, with pauses between phrases
(Chromium loops the file). The page records, every 10 ms, the level of its own microphone
track and of the agent's audio, so the test can see the agent stop when the caller talks
over it, and print how long that took as heard in the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_program
from tests.support.browser import CHROMIUM, chromium, place_call, write_wav
from tests.support.server import RunningServer, voice_serve
from voice.agents.speech import synthesize
from voice.agents.talk import GREETING
from voice.opus import SAMPLE_RATE

pytestmark = [pytest.mark.browser, pytest.mark.interop, pytest.mark.slow]

SAMPLER = """() => {
  voice.samples = [];
  const context = new AudioContext();
  const mic = voice.pc.getSenders()[0].track;
  const source = context.createMediaStreamSource(new MediaStream([mic]));
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const buffer = new Float32Array(analyser.fftSize);
  setInterval(() => {
    analyser.getFloatTimeDomainData(buffer);
    let sum = 0;
    for (const x of buffer) sum += x * x;
    voice.samples.push([performance.now(), Math.sqrt(sum / buffer.length), voice.level()]);
  }, 10);
}"""


def write_speech_wav(path: Path, parts: list[tuple[float, str]], tail: float) -> Path:
    """Each part is (seconds of silence, words); ``tail`` seconds of silence end the file."""
    pcm = b""
    for pause, words in parts:
        pcm += bytes(2 * round(pause * SAMPLE_RATE)) + synthesize(words)
    pcm += bytes(2 * round(tail * SAMPLE_RATE))
    return write_wav(path, pcm, SAMPLE_RATE)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    require_program("espeak-ng")
    with voice_serve("--log-level", "debug") as running:
        yield running


def place_sampled_call(server: RunningServer, browser: Any, query: str) -> Any:
    """A connected call whose page records its levels (``SAMPLER``) from then on."""
    page = place_call(server, browser, query)
    page.evaluate(SAMPLER)
    return page


def spans(
    samples: list[list[float]], column: int, on: float, off: float, hold: float = 600
) -> list[tuple[float, float]]:
    """Times (ms) where a level rose over ``on`` until it stayed under ``off`` for ``hold``
    ms (longer than espeak-ng's pauses between words and sentences)."""
    found: list[tuple[float, float]] = []
    start: float | None = None
    quiet_since: float | None = None
    for sample in samples:
        t, value = sample[0], sample[column]
        if start is None:
            if value > on:
                start, quiet_since = t, None
            continue
        if value < off:
            quiet_since = t if quiet_since is None else quiet_since
            if t - quiet_since >= hold:
                found.append((start, quiet_since))
                start = None
        else:
            quiet_since = None
    if start is not None:
        found.append((start, samples[-1][0]))
    return found


def test_talk_answers_each_turn(server: RunningServer, tmp_path: Path) -> None:
    require_program("chromium", CHROMIUM)
    # The greeting plays first (about 3.5 s); then two turns with pauses between them.
    mic = write_speech_wav(
        tmp_path / "turns.wav",
        [(5.0, "hello, how are you today"), (4.5, "what time is it")],
        tail=5.0,
    )
    with chromium(mic) as browser:
        page = place_sampled_call(server, browser, "agent=talk")
        try:
            page.wait_for_function(
                """() => {
                  const answers = voice.transcript.filter((line) => line.role === 'agent');
                  // ...and the last answer's audio has reached the page.
                  return answers.length >= 3 &&
                    voice.samples.some((s) => s[0] > answers[2].at && s[2] > 0.02);
                }""",
                timeout=45_000,
            )
        finally:
            print("transcript so far:", json.dumps(page.evaluate("voice.transcript")))
            print(
                "server log:",
                "\n".join(
                    entry
                    for entry in [*server.seen, *server.lines.queue]
                    if "talk" in entry or "conversation" in entry
                ),
            )
        transcript = page.evaluate("voice.transcript")
        samples = page.evaluate("voice.samples")
        page.evaluate("voice.hangup()")
        page.close()
    roles = [line["role"] for line in transcript]
    assert roles[:5] == ["agent", "caller", "agent", "caller", "agent"]
    assert transcript[0]["text"] == GREETING
    assert all(line["text"] for line in transcript)
    # Each answer was heard in the page: the agent's audio came back three times.
    heard = spans(samples, 2, 0.02, 0.003)
    assert len(heard) >= 3
    # Turn gap as heard: the caller's speech ends -> the agent's audio starts.
    mic_spans = spans(samples, 1, 0.02, 0.003)
    gaps = []
    for _, end in mic_spans:
        after = [start for start, _ in heard if start > end]
        if after:
            gaps.append(round(after[0] - end))
    print("talk turn gaps as heard in the page (ms, including recognition):", json.dumps(gaps))
    print("transcript:", json.dumps([[ln["role"], ln["text"]] for ln in transcript]))


def test_talking_over_the_agent_silences_it_in_the_page(
    server: RunningServer, tmp_path: Path
) -> None:
    require_program("chromium", CHROMIUM)
    greeting_ms = len(synthesize(GREETING)) / 2 / SAMPLE_RATE * 1000
    # The caller starts talking 2 s in, while the greeting (about 3.5 s) plays.
    mic = write_speech_wav(tmp_path / "barge.wav", [(2.0, "wait, stop, please")], tail=8.0)
    with chromium(mic) as browser:
        page = place_sampled_call(server, browser, "agent=talk")
        page.wait_for_function(
            "voice.transcript.filter((line) => line.role === 'caller').length >= 1",
            timeout=30_000,
        )
        samples = page.evaluate("voice.samples")
        page.evaluate("voice.hangup()")
        page.close()
    heard = spans(samples, 2, 0.02, 0.003)
    caller = spans(samples, 1, 0.02, 0.003)
    assert heard and caller
    greeting_start = heard[0][0]
    caller_start, caller_end = next(span for span in caller if span[0] > greeting_start)
    # The caller started while the greeting was still playing...
    assert caller_start < greeting_start + greeting_ms - 1000
    # ...and from shortly after, the agent was silent until the caller's turn was over.
    agent_during = [
        t for t, _, level in samples if caller_start <= t <= caller_end and level > 0.003
    ]
    stopped = max(agent_during, default=caller_start)
    # The bound covers both networks' jitter buffers and the page's level window; without
    # barge-in the greeting would go on for more than a second longer.
    assert stopped < caller_start + 1000
    assert stopped < greeting_start + greeting_ms - 500
    print(
        "barge-in as heard in the page: caller onset -> agent silent (ms):",
        round(stopped - caller_start),
        f"(greeting heard {round(stopped - greeting_start)} of {round(greeting_ms)} ms)",
    )
