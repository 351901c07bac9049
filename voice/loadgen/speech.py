"""Speech through a call, scored: a spoken source for the synthetic caller, a recorder of what
comes back, the alignment of the two, and wideband PESQ.

How a call is scored (``bench/impair.py``, ``tests/integration/test_impaired_calls.py``):

1. :func:`synthesize` speaks a sentence with Debian's ``espeak-ng``: a reproducible, license-
   free talker that needs no data files, resampled to the 48 kHz of an Opus call.
2. :class:`SpeechSource` encodes it once into 20 ms Opus packets, as a browser's microphone
   would be (32 kbit/s, in-band FEC on), behind half a second of silence so the call has
   settled before the first word. It plugs into :class:`~voice.loadgen.caller.Caller` as its
   ``payloads``.
3. :class:`Recorder` (the caller's ``on_rtp``) keeps every packet the server sends back, and
   :meth:`Recorder.decode` turns them into the audio an ideal listener would hear: each
   packet at its RTP timestamp, a lost one rebuilt from the next packet's FEC when that is
   there and concealed by libopus otherwise. The listener itself adds no jitter and no loss
   of its own, so the score is the server's (and the network's) doing.
4. :func:`align` finds the echo's delay by cross-correlation, and :func:`pesq_wb` scores the
   aligned echo against what was sent with ITU-T P.862.2 (wideband PESQ, 16 kHz), through the
   ``pesq`` package: 1 (bad) to about 4.6 (transparent). Opus at 32 kbit/s scores about 4 on
   a clean path; speech stays intelligible to about 2.5.
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import wave
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import trio
from av import AudioFrame, AudioResampler

from voice.opus import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    SILENCE,
    OpusDecoder,
    OpusEncoder,
    OpusError,
)
from voice.rtp.packet import RtpPacket

#: The rate wideband PESQ works at.
PESQ_RATE = 16_000

#: What the caller says unless told otherwise: a few seconds of varied phonemes.
DEFAULT_TEXT = (
    "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
    "It is easy to tell the depth of a well."
)

Signal = npt.NDArray[np.float64]


class SpeechError(Exception):
    """Speech could not be made (no ``espeak-ng``) or scored."""


def synthesize(
    text: str = DEFAULT_TEXT, *, voice: str = "en-us", words_per_minute: int = 160
) -> bytes:
    """``text`` spoken by ``espeak-ng``, as 48 kHz mono signed 16-bit PCM."""
    program = shutil.which("espeak-ng")
    if program is None:
        raise SpeechError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    done = subprocess.run(
        [program, "--stdout", "-v", voice, "-s", str(words_per_minute), text],
        capture_output=True,
        check=True,
        timeout=30,
    )
    with wave.open(io.BytesIO(done.stdout)) as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise SpeechError("espeak-ng did not write mono 16-bit audio")
        rate = wav.getframerate()
        pcm = wav.readframes(wav.getnframes())
    return resample(pcm, rate, SAMPLE_RATE)


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Mono signed 16-bit PCM from one rate to another (FFmpeg's resampler, through PyAV)."""
    if from_rate == to_rate or not pcm:
        return pcm
    pcm = pcm[: len(pcm) // 2 * 2]
    frame = AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    frame.sample_rate = from_rate
    frame.planes[0].update(pcm)
    resampler = AudioResampler(format="s16", layout="mono", rate=to_rate)
    out = resampler.resample(frame) + resampler.resample(None)  # the second call flushes
    return b"".join(memoryview(f.planes[0])[: f.samples * 2].tobytes() for f in out)


def as_signal(pcm: bytes, rate: int = SAMPLE_RATE) -> Signal:
    """PCM (48 kHz unless told) as floats at :data:`PESQ_RATE`, the form the scorer takes."""
    return np.frombuffer(resample(pcm, rate, PESQ_RATE), dtype="<i2").astype(np.float64)


class SpeechSource:
    """The caller's microphone: ``lead`` seconds of silence, the speech, then silence forever,
    encoded once into Opus packets; called with a frame index, returns that frame's payload.

    Encoding happens here, up front, so a paced send loop never waits for the codec.
    """

    def __init__(
        self,
        speech: bytes,
        *,
        lead: float = 0.5,
        bitrate: int = 32_000,
        packet_loss_percent: int = 10,
    ) -> None:
        lead_frames = round(lead * SAMPLE_RATE / FRAME_SAMPLES)
        speech = speech + bytes(-len(speech) % FRAME_BYTES)
        frames = [SILENCE] * lead_frames
        frames += [speech[i : i + FRAME_BYTES] for i in range(0, len(speech), FRAME_BYTES)]
        frames += [SILENCE] * 25  # the encoder's tail settles on silence
        encoder = OpusEncoder(bitrate=bitrate, fec=True, packet_loss_percent=packet_loss_percent)
        self.packets = [encoder.encode(frame) for frame in frames]
        #: Frame indices [first, end) of the speech.
        self.speech_frames = (lead_frames, len(frames) - 25)
        #: The audio the packets stand for, from frame 0: the reference to score against.
        self.pcm = b"".join(frames)
        #: When frame 0 was asked for (the Trio clock): where the sent timeline starts.
        self.started_at = math.nan

    @property
    def duration(self) -> float:
        """Seconds from frame 0 to the end of the speech."""
        return self.speech_frames[1] * FRAME_SAMPLES / SAMPLE_RATE

    def __call__(self, index: int) -> bytes:
        if index == 0:
            self.started_at = trio.current_time()
        return self.packets[min(index, len(self.packets) - 1)]


@dataclass
class Decoded:
    """What :meth:`Recorder.decode` made of the packets."""

    pcm: bytes
    #: Local time at which the first sample of ``pcm`` arrived.
    starts_at: float
    received: int
    lost: int  # sequence numbers never received
    fec_recovered: int
    concealed: int


class Recorder:
    """Keeps the RTP packets a call receives (:class:`~voice.loadgen.caller.Caller`'s
    ``on_rtp``) and decodes them afterwards as an ideal listener: no deadline, so nothing is
    late; a lost packet is rebuilt from its successor's FEC or concealed."""

    def __init__(self) -> None:
        self._packets: dict[int, tuple[int, bytes]] = {}  # extended seq -> (timestamp, payload)
        self._first: tuple[int, float] | None = None  # (extended seq, arrival) of the first
        self._ext = 0
        self.duplicates = 0

    def on_rtp(self, packet: RtpPacket, now: float) -> None:
        seq = packet.sequence_number
        if self._first is None:
            self._ext = seq
            self._first = (seq, now)
        else:
            # RFC 3550 §A.1: extend the 16-bit number to the value nearest the last one.
            delta = (seq - self._ext + 0x8000) % 0x10000 - 0x8000
            ext = self._ext + delta
            self._ext = max(self._ext, ext)
            seq = ext
        if seq in self._packets:
            self.duplicates += 1
            return
        self._packets[seq] = (packet.timestamp, packet.payload)

    def decode(self) -> Decoded:
        """The audio, each packet placed by its RTP timestamp from the first one received."""
        if not self._packets or self._first is None:
            return Decoded(b"", math.nan, 0, 0, 0, 0)
        decoder = OpusDecoder()
        order = sorted(self._packets)
        out: list[bytes] = []
        first_seq, first_at = self._first
        # Playback starts with the lowest numbered packet; the first to *arrive* dates it.
        ts0 = self._packets[order[0]][0]
        ts_first = self._packets[first_seq][0]
        starts_at = first_at - ((ts_first - ts0) % (1 << 32)) / SAMPLE_RATE
        prev_seq, prev_ts = order[0] - 1, ts0 - FRAME_SAMPLES
        for seq in order:
            ts, payload = self._packets[seq]
            gap = round(((ts - prev_ts) % (1 << 32)) / FRAME_SAMPLES) - 1
            gap = max(0, min(gap, 250))  # a timestamp jump of seconds is not audio to make up
            for n in range(gap):
                if n == gap - 1 and seq - prev_seq > 1:
                    out.append(self._safe(decoder.decode_fec, decoder, payload))
                else:
                    out.append(decoder.conceal())
            out.append(self._safe(decoder.decode, decoder, payload))
            prev_seq, prev_ts = seq, ts
        lost = order[-1] - order[0] + 1 - len(order)
        return Decoded(
            pcm=b"".join(out),
            starts_at=starts_at,
            received=len(order),
            lost=lost,
            fec_recovered=decoder.fec_recovered,
            concealed=decoder.concealed,
        )

    @staticmethod
    def _safe(fn: Callable[[bytes], bytes], decoder: OpusDecoder, payload: bytes) -> bytes:
        """A packet the decoder refuses is concealed, as a receiver would conceal it."""
        try:
            return fn(payload)
        except OpusError:
            return decoder.conceal()


def align(reference: Signal, recording: Signal, max_lag: int) -> int:
    """The offset in ``recording`` where ``reference`` best matches (normalised
    cross-correlation over every lag 0..``max_lag``, computed with FFTs)."""
    if len(recording) < len(reference) or not len(reference):
        return 0
    n = 1 << math.ceil(math.log2(len(recording) + len(reference)))
    spectrum = np.fft.rfft(recording, n) * np.conj(np.fft.rfft(reference, n))
    corr = np.fft.irfft(spectrum, n)
    lags = min(max_lag, len(recording) - len(reference)) + 1
    # Normalise by the recording's energy under the window, so loud noise does not win.
    energy = np.concatenate(([0.0], np.cumsum(recording * recording)))
    window = energy[len(reference) : len(reference) + lags] - energy[:lags]
    score = corr[:lags] / np.sqrt(np.maximum(window, 1e-9))
    return int(np.argmax(score))


def pesq_wb(reference: Signal, degraded: Signal) -> float:
    """Wideband PESQ (ITU-T P.862.2) of ``degraded`` against ``reference``, both at 16 kHz;
    NaN when the scorer finds no speech in one of them (a silent echo)."""
    from pesq import pesq

    n = min(len(reference), len(degraded))
    try:
        return float(pesq(PESQ_RATE, reference[:n], degraded[:n], "wb"))
    except Exception:  # the scorer raises its own errors for silence and too-short audio
        return math.nan


@dataclass
class Score:
    """How one call's echo compares with what was said."""

    pesq: float
    #: From sending the first sample of speech to hearing it back, seconds.
    echo_delay: float
    #: The echo's RMS level over the original's: 0 for a silent echo.
    level: float
    decoded: Decoded


def score_echo(source: SpeechSource, recorder: Recorder, *, max_delay: float = 3.0) -> Score:
    """Aligns the recorded echo with the speech sent and scores it."""
    decoded = recorder.decode()
    lo, hi = source.speech_frames
    # The reference: the speech with 200 ms of the silence around it.
    margin = 10 * FRAME_BYTES
    start = max(0, lo * FRAME_BYTES - margin)
    reference = as_signal(source.pcm[start : hi * FRAME_BYTES + margin])
    recording = as_signal(decoded.pcm)
    if len(recording) < len(reference) or not np.any(recording):
        return Score(math.nan, math.nan, 0.0, decoded)
    lag = align(reference, recording, int(max_delay * PESQ_RATE) + len(reference))
    degraded = recording[lag : lag + len(reference)]
    level = float(np.sqrt(np.mean(degraded**2)) / max(1e-9, np.sqrt(np.mean(reference**2))))
    # Where the reference starts, on each side's local clock.
    sent_at = source.started_at + start / 2 / SAMPLE_RATE
    heard_at = decoded.starts_at + lag / PESQ_RATE
    return Score(pesq_wb(reference, degraded), heard_at - sent_at, level, decoded)
