"""Speech for impaired calls: synthesis, the source, the recorder's decoding, alignment and
PESQ, without a network (packets are handed to the recorder directly)."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
import trio

from tests.conftest import require_program
from voice.loadgen.speech import (
    PESQ_RATE,
    Recorder,
    SpeechSource,
    align,
    as_signal,
    pesq_wb,
    resample,
    score_echo,
    synthesize,
)
from voice.opus import FRAME_SAMPLES, SAMPLE_RATE
from voice.rtp.packet import RtpPacket

SENTENCE = "Glue the sheet to the dark blue background."


@cache
def speech() -> bytes:
    require_program("espeak-ng")
    return synthesize(SENTENCE)


def packet(seq: int, timestamp: int, payload: bytes) -> RtpPacket:
    return RtpPacket(
        payload_type=111,
        sequence_number=seq % 65536,
        timestamp=timestamp % (1 << 32),
        ssrc=1,
        payload=payload,
    )


def test_synthesized_speech_is_seconds_of_48_khz_audio() -> None:
    pcm = speech()
    seconds = len(pcm) / 2 / SAMPLE_RATE
    assert 1.5 < seconds < 5.0
    level = np.sqrt(np.mean(np.frombuffer(pcm, dtype="<i2").astype(float) ** 2))
    assert level > 1000  # speech, not silence


def test_resample_changes_the_rate_not_the_duration() -> None:
    second = bytes(2 * 22_050)
    assert abs(len(resample(second, 22_050, 48_000)) - 2 * 48_000) < 200
    assert resample(second, 16_000, 16_000) is second


def test_align_finds_a_known_delay() -> None:
    rng = np.random.default_rng(5)
    reference = rng.normal(0, 1000, 8000)
    recording = np.concatenate([rng.normal(0, 50, 3210), reference, rng.normal(0, 50, 500)])
    assert align(reference, recording, max_lag=8000) == 3210


def test_pesq_scores_identity_high_noise_low_silence_nan() -> None:
    reference = as_signal(speech())
    assert pesq_wb(reference, reference) > 4.0
    noisy = reference + np.random.default_rng(1).normal(0, 3000, len(reference))
    assert pesq_wb(reference, noisy) < 2.0
    assert math.isnan(pesq_wb(reference, np.zeros(len(reference))))


async def test_source_encodes_lead_speech_and_silence_and_marks_its_start(
    autojump_clock: trio.abc.Clock,
) -> None:
    source = SpeechSource(speech(), lead=0.5)
    first, end = source.speech_frames
    assert first == 25
    assert end - first == math.ceil(len(speech()) / 2 / FRAME_SAMPLES)
    assert len(source.packets) == end + 25
    assert source(10**6) == source.packets[-1]  # silence forever after
    await trio.sleep(1)  # on the mock clock: only moves the time
    source(0)
    assert source.started_at == trio.current_time() > 0


def test_recorder_decodes_by_timestamp_and_rebuilds_isolated_losses_from_fec() -> None:
    source = SpeechSource(speech())
    recorder = Recorder()
    lost = {40, 41, 60, 80, 100}  # a run of two and three isolated losses, all in speech
    order = [n for n in range(len(source.packets)) if n not in lost]
    order[10], order[11] = order[11], order[10]  # a reordering
    order.insert(20, order[19])  # a duplicate
    base_seq, base_ts = 65_500, (1 << 32) - 10 * FRAME_SAMPLES  # both wrap in the call
    for at, n in enumerate(order):
        recorder.on_rtp(packet(base_seq + n, base_ts + n * FRAME_SAMPLES, source.packets[n]), at)
    decoded = recorder.decode()
    assert decoded.received == len(source.packets) - len(lost)
    assert decoded.lost == len(lost)
    assert recorder.duplicates == 1
    assert len(decoded.pcm) == 2 * FRAME_SAMPLES * len(source.packets)  # every slot filled
    # The successor of each isolated loss (and of the second of the run) carries FEC.
    assert decoded.fec_recovered >= 3
    assert decoded.concealed == len(lost) - decoded.fec_recovered


async def test_score_of_a_delayed_clean_echo() -> None:
    """The echo, as if sent back 0.3 s later with no loss: the delay is found, and the score
    is that of one Opus encoding of this speech."""
    source = SpeechSource(speech())
    source(0)  # the send loop starts now...
    recorder = Recorder()
    start = trio.current_time()
    for n, payload in enumerate(source.packets):
        # ...and frame n comes back 0.3 s after it was sent.
        recorder.on_rtp(packet(n, 1234 + n * FRAME_SAMPLES, payload), start + 0.3 + n * 0.02)
    score = score_echo(source, recorder)
    # Opus' own look-ahead (6.5 ms) comes on top of the 300 ms.
    assert score.echo_delay == pytest.approx(0.3065, abs=2 / PESQ_RATE * 1000)
    assert 0.8 < score.level < 1.2
    assert score.pesq > 3.0


def test_score_of_a_silent_echo_is_the_floor_and_level_zero() -> None:
    source = SpeechSource(speech())
    silent = SpeechSource(bytes(len(speech())))
    recorder = Recorder()
    for n, payload in enumerate(silent.packets):
        recorder.on_rtp(packet(n, n * FRAME_SAMPLES, payload), n * 0.02)
    score = score_echo(source, recorder)
    assert score.pesq < 1.2  # PESQ's floor is about 1
    assert score.level < 0.05
