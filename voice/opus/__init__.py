"""Opus for WebRTC voice: the RTP payload format (RFC 7587), the packet framing (RFC 6716 §3),
a codec wrapper over PyAV, and a drift-free frame pacer.

The audio an agent sees is the frame of :mod:`voice.opus.pcm`: **20 ms of 48 kHz mono signed
16-bit little-endian PCM, 960 samples, 1920 bytes, as plain** ``bytes``
(:data:`SAMPLE_RATE`, :data:`FRAME_SAMPLES`, :data:`FRAME_BYTES`).

* :mod:`voice.opus.toc`: :func:`parse_packet` reads the TOC byte and frame layout and rejects
  malformed packets with :class:`OpusParseError`; :func:`build_packet` frames packets.
* :mod:`voice.opus.silk`: :func:`has_fec` reads whether a packet carries in-band FEC.
* :mod:`voice.opus.payload`: :class:`OpusParameters` reads and writes the ``a=fmtp`` line.
* :mod:`voice.opus.codec`: :class:`OpusEncoder` (one frame in, one packet out) and
  :class:`OpusDecoder` (decode, conceal a loss, rebuild one from the next packet's FEC).
* :mod:`voice.opus.libopus`: a ctypes binding to the libopus PyAV ships, for the FEC
  decoding FFmpeg's wrapper does not expose.
* :mod:`voice.opus.pacing`: :class:`FramePacer`, absolute 20 ms deadlines with bounded
  catch-up after a stall (the Trio loop is :mod:`voice.transceiver.pacer`).

Everything here is sans-IO: no sockets, no clock, no Trio.
"""

from voice.opus.codec import OpusDecoder, OpusEncoder
from voice.opus.errors import (
    OpusCodecError,
    OpusError,
    OpusParseError,
    OpusUsageError,
)
from voice.opus.pacing import FramePacer, OpusFrameDue
from voice.opus.payload import RTP_CLOCK_RATE, RTPMAP_ENCODING, OpusParameters
from voice.opus.pcm import FRAME_BYTES, FRAME_DURATION, FRAME_SAMPLES, SAMPLE_RATE, SILENCE
from voice.opus.silk import has_fec
from voice.opus.toc import Bandwidth, Mode, OpusPacketInfo, build_packet, parse_packet

__all__ = [
    "FRAME_BYTES",
    "FRAME_DURATION",
    "FRAME_SAMPLES",
    "RTPMAP_ENCODING",
    "RTP_CLOCK_RATE",
    "SAMPLE_RATE",
    "SILENCE",
    "Bandwidth",
    "FramePacer",
    "Mode",
    "OpusCodecError",
    "OpusDecoder",
    "OpusEncoder",
    "OpusError",
    "OpusFrameDue",
    "OpusPacketInfo",
    "OpusParameters",
    "OpusParseError",
    "OpusUsageError",
    "build_packet",
    "has_fec",
    "parse_packet",
]
