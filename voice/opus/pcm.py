"""The PCM frame every part of ``voice`` exchanges with an agent.

An agent sees audio as plain :class:`bytes`: **20 ms of 48 kHz mono signed 16-bit
little-endian PCM**, that is 960 samples in 1920 bytes, in both directions. The choice follows
from the wire:

* Opus always runs its RTP clock at 48 kHz, whatever bandwidth it actually codes
  (RFC 7587 §4.1), so 48 kHz PCM needs no resampling on either side of the codec;
* 20 ms is the packet duration browsers send by default and the one this package encodes,
  so one RTP packet carries exactly one frame (and its timestamp advances by 960);
* mono, because a voice agent has one voice; the decoder folds a stereo stream down to mono.

Plain ``bytes`` (not a numpy array) keeps numpy out of the dependencies; ``array.array("h",
frame)`` gives the samples when an agent wants to look at them (on a little-endian host).
"""

from __future__ import annotations

#: Samples per second of every PCM frame, and the RTP clock rate of Opus (RFC 7587 §4.1).
SAMPLE_RATE = 48_000
#: Channels in a PCM frame: mono.
CHANNELS = 1
#: Bytes per sample: signed 16-bit little-endian.
SAMPLE_WIDTH = 2
#: Duration of one frame in seconds.
FRAME_DURATION = 0.020
#: Samples in one frame: 20 ms at 48 kHz. Also the RTP timestamp step between two packets.
FRAME_SAMPLES = 960
#: Bytes in one frame: what :meth:`voice.opus.OpusEncoder.encode` takes and what
#: :meth:`voice.opus.OpusDecoder.decode` returns for a 20 ms packet.
FRAME_BYTES = FRAME_SAMPLES * CHANNELS * SAMPLE_WIDTH
#: One frame of digital silence.
SILENCE = bytes(FRAME_BYTES)
