"""Speech synthesis with Debian's ``espeak-ng`` and the sample-rate conversions around it.

espeak-ng writes a WAV at 22 050 Hz; a call carries 48 kHz and pocketsphinx listens at
16 kHz. The conversions are linear interpolation and a three-sample average: plain
``array`` code, so the runtime needs neither numpy nor a resampling library, and ample for
a synthetic voice and a recognizer that reads 16 kHz features.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from array import array

from voice.opus import SAMPLE_RATE

ESPEAK = "espeak-ng"


class SpeechError(RuntimeError):
    """espeak-ng is missing or failed."""


def espeak_command(text: str, *, voice: str = "en-us", speed: int = 165) -> list[str]:
    program = shutil.which(ESPEAK)
    if program is None:
        raise SpeechError("espeak-ng is not installed (apt-get install espeak-ng)")
    # "--" keeps a caller's words from being read as options.
    return [program, "--stdout", "-v", voice, "-s", str(speed), "--", text]


def wav_to_pcm48(wav: bytes) -> bytes:
    """The samples of espeak-ng's mono 16-bit WAV, converted to 48 kHz.

    espeak-ng streams to stdout, so its header's sizes are placeholders: the data chunk is
    taken as everything after its header rather than as long as the header says.
    """
    if len(wav) < 44 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise SpeechError("espeak-ng did not write a WAV")
    rate = struct.unpack_from("<I", wav, 24)[0]
    data = wav.find(b"data", 12)
    if data < 0:
        raise SpeechError("no data chunk in espeak-ng's WAV")
    raw = wav[data + 8 :]
    return resample(raw[: len(raw) // 2 * 2], rate, SAMPLE_RATE)


def synthesize(text: str, *, voice: str = "en-us", speed: int = 165) -> bytes:
    """``text`` spoken, as 48 kHz PCM (blocking; the talk agent runs it as a process)."""
    result = subprocess.run(
        espeak_command(text, voice=voice, speed=speed), capture_output=True, check=False
    )
    if result.returncode != 0:
        raise SpeechError(f"espeak-ng failed: {result.stderr.decode(errors='replace')[:200]}")
    return wav_to_pcm48(result.stdout)


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Linear interpolation between signed 16-bit samples."""
    source = array("h", pcm)
    if from_rate == to_rate or not source:
        return source.tobytes()
    count = len(source) * to_rate // from_rate
    step = from_rate / to_rate
    last = len(source) - 1
    out = array("h", bytes(2 * count))
    for i in range(count):
        x = i * step
        j = int(x)
        if j >= last:
            out[i] = source[last]
            continue
        frac = x - j
        a = source[j]
        out[i] = round(a + (source[j + 1] - a) * frac)
    return out.tobytes()


def pcm48_to_16k(pcm: bytes) -> bytes:
    """48 kHz to 16 kHz: the mean of each three samples (a crude low-pass, then decimation)."""
    source = array("h", pcm)
    n = len(source) // 3 * 3
    out = array("h", ((source[i] + source[i + 1] + source[i + 2]) // 3 for i in range(0, n, 3)))
    return out.tobytes()
