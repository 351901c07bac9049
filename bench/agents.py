"""Turn-taking at the edge: what voice activity detection costs, and how fast turns move.

Part 1, CPU per 20 ms frame, all on the same frames of espeak-ng speech, timed in
alternating batches: webrtcvad's decision, the whole :class:`TurnDetector` step, and, as
the same-run baseline, the Opus decode of that frame (which every call already pays) and
the Opus encode (complexity 1, as sessions run). From these: a call's media CPU per frame
pair with and without VAD, and the share of one core per call.

Part 2, timings of the conversation layer in real time (Trio's clock), ``--calls``
conversations at once, each a scripted caller against an agent with no think time:

* **VAD onset delay**: speech onset in the signal (first frame over an energy threshold) to
  the detector's speech-started decision;
* **edge turn gap beyond the hangover**: the caller's last voiced frame to the agent's first
  frame leaving the send loop, minus the hangover (the VAD's own wait); target <= 40 ms;
* **barge-in stop**: the detector's decision that the caller talks over the agent to the
  first send tick that carries no agent audio; target <= 20 ms (one frame). Caller onset to
  that tick is printed too.

The send loop stands for the session's (one frame per 20 ms on absolute deadlines, taking
the agent's frame with ``receive_nowait``); the jitter buffer's own delay comes before
this layer and is measured by the jitter-buffer benchmarks, not here.

Part 3, the talk agent's own think time (not the edge's): pocketsphinx recognition and
espeak-ng synthesis of one turn.

Run it as ``voice bench agents`` (or ``./dev bench agents``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from array import array
from pathlib import Path

import trio

from voice.agents.conversation import Call, ConversationalAgent
from voice.agents.events import OutputCleared, SpeechStarted, SpeechStopped
from voice.agents.speech import synthesize
from voice.agents.turns import TurnDetector, TurnSettings, webrtc_classifier
from voice.opus import FRAME_BYTES, SILENCE, OpusDecoder, OpusEncoder
from voice.transceiver.agents import SessionInfo, tone_frames

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from _common import print_table  # noqa: E402

PHRASES = [
    "hello, how are you today",
    "what is the weather like in the morning",
    "please book a table for two",
    "I would like to hear a story",
]


def frames_of(pcm: bytes) -> list[bytes]:
    whole = len(pcm) // FRAME_BYTES * FRAME_BYTES
    return [pcm[i : i + FRAME_BYTES] for i in range(0, whole, FRAME_BYTES)]


def energy_onset(frames: list[bytes], threshold: float = 300.0) -> int:
    """The first frame whose RMS exceeds ``threshold``: the signal's own speech onset."""
    for i, frame in enumerate(frames):
        samples = array("h", frame)
        if (sum(s * s for s in samples) / len(samples)) ** 0.5 > threshold:
            return i
    raise ValueError("no speech")


def last_loud(frames: list[bytes], threshold: float = 300.0) -> int:
    for i in range(len(frames) - 1, -1, -1):
        samples = array("h", frames[i])
        if (sum(s * s for s in samples) / len(samples)) ** 0.5 > threshold:
            return i
    raise ValueError("no speech")


# -- part 1: CPU ---------------------------------------------------------------------------


def cpu_table(speech: list[bytes], repeat: int) -> None:
    classify = webrtc_classifier(2)
    detector = TurnDetector()
    encoder = OpusEncoder(bitrate=32_000, complexity=1)
    packets = [encoder.encode(f) for f in speech]
    decoder = OpusDecoder()
    n = len(speech)
    now = [0.0]

    def vad() -> None:
        for f in speech:
            classify(f)

    def turns() -> None:
        for f in speech:
            now[0] += 0.02
            detector.feed(f, now[0])
            detector.next_event()

    def decode() -> None:
        for p in packets:
            decoder.decode(p)

    def encode() -> None:
        for f in speech:
            encoder.encode(f)

    runs = {"vad": vad, "turns": turns, "decode": decode, "encode": encode}
    samples: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeat):  # alternating, so other load falls on all alike
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - start) / n * 1e6)
    us = {k: statistics.median(v) for k, v in samples.items()}
    print(f"CPU per 20 ms frame, median of {repeat} passes over {n} frames of speech (µs)\n")
    print_table(
        ["step", "µs/frame", "vs Opus decode"],
        [
            ["webrtcvad is_speech (48 kHz)", us["vad"], us["vad"] / us["decode"]],
            ["TurnDetector.feed (VAD + turn logic)", us["turns"], us["turns"] / us["decode"]],
            ["Opus decode (baseline)", us["decode"], 1.0],
            ["Opus encode, complexity 1", us["encode"], us["encode"] / us["decode"]],
        ],
    )
    without = us["decode"] + us["encode"]
    with_vad = without + us["turns"]
    print()
    print_table(
        ["per call, codec work per 20 ms", "µs", "% of a core", "ratio"],
        [
            ["decode + encode (VAD off)", without, without / 200, 1.0],
            ["decode + encode + turn detection", with_vad, with_vad / 200, with_vad / without],
        ],
    )


# -- part 2: timings -----------------------------------------------------------------------


class Trial:
    """One scripted conversation: a turn, an immediate answer, a barge-in over it."""

    def __init__(self, first: list[bytes], second: list[bytes], hangover: float) -> None:
        self.lead = 10  # frames of silence before the first turn
        self.first = first
        self.second = second
        self.hangover = hangover
        self.answer = tone_frames(330, 0.3) * 4  # 4 s, longer than the wait before barge-in
        self.barge_after = 40  # frames of the answer heard before the caller interrupts
        self.caller: list[bytes] = [SILENCE] * self.lead + first
        self.answer_started: int | None = None
        self.onset_first = self.lead + energy_onset(first)
        self.end_first = self.lead + last_loud(first)
        self.tick_times: list[float] = []  # the send loop's
        self.frame_times: list[float] = []  # the caller's frames'
        self.phase = 0.0
        self.answer_tick = 0
        self.sent: list[bytes] = []
        self.second_at: int | None = None
        self.events: list[object] = []

    def caller_frame(self, tick: int) -> bytes:
        started = self.answer_started
        if started is not None and self.second_at is None and tick >= started + self.barge_after:
            self.second_at = tick
            self.caller = self.caller[:tick] + [SILENCE] * max(0, tick - len(self.caller))
            self.caller += self.second
        return self.caller[tick] if tick < len(self.caller) else SILENCE

    async def run(self) -> None:
        answer = b"".join(self.answer)

        async def agent(call: Call) -> None:
            async for event in call.events:
                self.events.append(event)
                if isinstance(event, SpeechStopped) and len(self.events) <= 2:
                    await call.play(answer)

        settings = TurnSettings(hangover=self.hangover)
        conversing = ConversationalAgent(agent, settings)
        in_send, in_recv = trio.open_memory_channel[bytes](8)
        out_send, out_recv = trio.open_memory_channel[bytes](conversing.output_frames)
        total = self.lead + len(self.first) + 250
        async with trio.open_nursery() as nursery:
            nursery.start_soon(conversing, SessionInfo("bench", "bench"), in_recv, out_send)
            start = trio.current_time()

            async def caller() -> None:
                # The caller's frames come from the playout loop; the send loop ticks on its
                # own schedule, at an arbitrary phase against it, as in a session.
                for tick in range(total):
                    await trio.sleep_until(start + 0.02 * tick)
                    self.frame_times.append(trio.current_time())
                    in_send.send_nowait(self.caller_frame(tick))

            nursery.start_soon(caller)
            for tick in range(total):
                await trio.sleep_until(start + 0.02 * tick + self.phase)
                now = trio.current_time()
                try:
                    frame = out_recv.receive_nowait()
                except trio.WouldBlock:
                    frame = SILENCE
                self.tick_times.append(now)
                self.sent.append(frame)
                if frame != SILENCE and self.answer_started is None:
                    self.answer_started = len(self.frame_times) - 1
                    self.answer_tick = tick
            nursery.cancel_scope.cancel()

    def figures(self) -> dict[str, float]:
        at = self.frame_times
        starts = [e for e in self.events if isinstance(e, SpeechStarted)]
        stops = [e for e in self.events if isinstance(e, SpeechStopped)]
        cleared = [e for e in self.events if isinstance(e, OutputCleared)]
        figures: dict[str, float] = {}
        figures["onset"] = (starts[0].decided_at - at[self.onset_first]) * 1000
        # The detector's own wait: our hangover plus webrtcvad's internal one (it keeps
        # calling fading speech voiced for a few frames after the energy has gone).
        figures["stop_decided"] = (stops[0].decided_at - at[self.end_first]) * 1000
        first_answer = self.tick_times[self.answer_tick]
        figures["edge_gap"] = (first_answer - stops[0].decided_at) * 1000
        if len(starts) > 1 and cleared and self.second_at is not None:
            decided = starts[1].decided_at
            after = [i for i, t in enumerate(self.tick_times) if t > decided]
            quiet = after[0]
            figures["barge_stop"] = (self.tick_times[quiet] - decided) * 1000
            onset = self.second_at + energy_onset(self.second)
            figures["barge_from_onset"] = (self.tick_times[quiet] - at[onset]) * 1000
            figures["agent_frames_after_decision"] = sum(
                1 for i in after[:50] if self.sent[i] != SILENCE
            )
        return figures


async def timings(speech: list[list[bytes]], calls: int, hangover: float) -> list[Trial]:
    trials = [
        Trial(speech[i % len(speech)], speech[(i + 1) % len(speech)], hangover)
        for i in range(calls)
    ]
    for i, trial in enumerate(trials):
        trial.phase = 0.02 * (i + 0.5) / calls  # send-loop phases spread over a frame
    async with trio.open_nursery() as nursery:
        for trial in trials:
            nursery.start_soon(trial.run)
    return trials


def timing_table(trials: list[Trial], hangover: float) -> None:
    rows = [t.figures() for t in trials]

    def med(key: str) -> float:
        values = [r[key] for r in rows if key in r]
        return statistics.median(values) if values else float("nan")

    def worst(key: str) -> float:
        values = [r[key] for r in rows if key in r]
        return max(values) if values else float("nan")

    ms = f"{hangover * 1000:.0f}"
    print(f"\nTurn-taking, {len(trials)} conversations at once, hangover {ms} ms (ms)\n")
    table: list[tuple[str, str, float | None]] = [
        ("VAD onset delay (signal onset -> speech started)", "onset", None),
        ("VAD stop: end of speech -> speech stopped decided", "stop_decided", hangover * 1000),
        ("edge turn gap: speech stopped -> answer's first frame leaves", "edge_gap", 40),
        ("barge-in: decision -> first send tick without agent audio", "barge_stop", 20),
        ("barge-in: caller onset -> first send tick without agent audio", "barge_from_onset", None),
    ]
    print_table(
        ["figure", "median", "worst", "target", "median / target"],
        [
            [name, med(key), worst(key), target or "-", med(key) / target if target else "-"]
            for name, key, target in table
        ],
    )
    print("(the VAD stop's target is the configured hangover; the excess is webrtcvad's own)")
    late = [r.get("agent_frames_after_decision", 0) for r in rows]
    print(f"\nagent frames sent after a barge-in decision, per call: {sorted(late)}")


# -- part 3: the talk agent's think time ---------------------------------------------------


def think_table(speech_pcm: list[bytes]) -> None:
    from voice.agents import talk

    async def one(pcm: bytes) -> tuple[float, float, float]:
        start = time.perf_counter()
        heard = await talk.recognize(pcm)
        recognized = time.perf_counter()
        await talk.speak(talk.reply_to(heard))
        spoken = time.perf_counter()
        return len(pcm) / 96_000, recognized - start, spoken - recognized

    async def all_of() -> list[tuple[float, float, float]]:
        await talk.recognize(speech_pcm[0])  # loads the model once
        return [await one(p) for p in speech_pcm]

    results = trio.run(all_of)
    print("\nThe talk agent's think time per turn, one call (s); not the edge's\n")
    print_table(
        ["figure", "median"],
        [
            ["turn duration", statistics.median(r[0] for r in results)],
            ["pocketsphinx recognition", statistics.median(r[1] for r in results)],
            ["recognition / turn duration", statistics.median(r[1] / r[0] for r in results)],
            ["espeak-ng synthesis of the answer", statistics.median(r[2] for r in results)],
        ],
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/agents.py", description=__doc__)
    parser.add_argument("--repeat", type=int, default=15, help="passes per CPU median")
    parser.add_argument("--calls", type=int, default=12, help="conversations timed at once")
    parser.add_argument("--hangover", type=float, default=0.5)
    parser.add_argument("--no-talk", action="store_true", help="skip the talk agent's part")
    args = parser.parse_args(argv)
    pcm = [synthesize(p) for p in PHRASES]
    speech = [frames_of(p) for p in pcm]
    print(f"cpu: {os.cpu_count()} cores; speech: espeak-ng, {len(PHRASES)} phrases\n")
    cpu_table([f for s in speech for f in s], args.repeat)
    trials = trio.run(timings, speech, args.calls, args.hangover)
    timing_table(trials, args.hangover)
    if not args.no_talk:
        think_table(pcm)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
