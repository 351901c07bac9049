"""Opus encoding and decoding of 20 ms PCM frames, over PyAV (FFmpeg's ``libopus`` wrapper).

The two classes turn the PCM frame of :mod:`voice.opus.pcm` (960 samples of 48 kHz mono s16le,
as ``bytes``) into one Opus packet and back, one call per frame, with no hidden buffering:

* :meth:`OpusEncoder.encode` returns the packet for the frame it was given. libopus looks
  ahead 312 samples (6.5 ms), so the decoded audio comes out about that much later than it
  went in: :attr:`OpusEncoder.lookahead` reports it. Nothing is held back; the first call
  already returns a packet.
* :meth:`OpusDecoder.decode` checks the framing (RFC 6716 §3.4, via
  :func:`~voice.opus.toc.parse_packet`) before handing a packet to libopus, and returns all
  of its audio: one frame for a 20 ms packet.
* :meth:`OpusDecoder.conceal` makes up a frame for a packet that never arrived.

What PyAV/FFmpeg can and cannot reach, found by reading FFmpeg's ``libopusdec.c``, listing the
options of the libavcodec that PyAV 18 bundles, and trying it (``tests/opus/test_codec.py``):

* **Concealment (PLC) works, through a side door.** FFmpeg treats an empty packet as the end
  of the stream, so the usual libopus call for a lost packet (no data) is out of reach. But
  libopus treats a *frame* of zero bytes the same way: "nothing here, conceal". That is how
  DTX packets work, and a packet made of a bare TOC byte (code 0, no frame) is exactly such a
  packet. :meth:`OpusDecoder.conceal` sends one whose TOC asks for 20 ms in the mode of the
  last real packet, and gets libopus' own concealment: the waveform continues and fades out
  over a few frames, instead of a click into silence.
* **In-band FEC decoding is not reachable.** libopus recovers a lost frame from the
  low-bitrate redundancy (LBRR) that the *next* packet carries only when called with its
  ``decode_fec`` flag; FFmpeg's wrapper always passes 0 and offers no option for it (its only
  decoder option is ``apply_phase_inv``). :meth:`OpusDecoder.decode_fec` therefore checks the
  next packet and falls back to :meth:`OpusDecoder.conceal`; :attr:`OpusDecoder.fec_supported`
  says so, and ``spec/rfc7587.md`` marks FEC decoding partial. (The PyAV wheel ships libopus
  as its own shared library, so a ctypes binding could reach ``decode_fec`` later.) The
  encoder side is unaffected: it does put FEC into the packets it sends, for peers that can
  use it.
"""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

import av
from av import AudioFrame, CodecContext, Packet

from voice.opus.errors import OpusCodecError
from voice.opus.payload import OpusParameters
from voice.opus.pcm import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE, SAMPLE_WIDTH
from voice.opus.toc import CONFIGS, Bandwidth, config_for, parse_packet, toc_byte

_TIME_BASE = Fraction(1, SAMPLE_RATE)
_APPLICATIONS = ("voip", "audio", "lowdelay")
#: The TOC of the packet :meth:`OpusDecoder.conceal` sends before any real packet arrived:
#: CELT fullband 20 ms, mono. With no history, libopus conceals with silence.
_DEFAULT_PLC_TOC = toc_byte(31)
#: The audio cutoff, in Hz, that makes FFmpeg cap libopus at each bandwidth.
_CUTOFF = {
    Bandwidth.NARROWBAND: 4_000,
    Bandwidth.MEDIUMBAND: 6_000,
    Bandwidth.WIDEBAND: 8_000,
    Bandwidth.SUPERWIDEBAND: 12_000,
    Bandwidth.FULLBAND: 20_000,
}


class OpusEncoder:
    """Encodes 20 ms frames of 48 kHz mono PCM into Opus packets, one packet per frame.

    ``bitrate`` is the target in bit/s (RFC 7587 §3.1.1 suggests 28-40 kbit/s for fullband
    speech). ``fec`` makes libopus add low-bitrate redundancy of each frame to the next
    packet (RFC 7587 §3.3), sized for ``packet_loss_percent`` expected loss (libopus adds
    none when that is 0, and none at low bitrates: at 16 kbit/s our tests saw none).
    ``complexity`` is libopus' 0-10 speed/quality trade-off (None keeps the library's
    default, 10): it is the main cost knob of a transcoding server, see ``bench/media.py``.
    ``application`` is libopus' tuning: ``voip`` (speech intelligibility), ``audio``, or
    ``lowdelay`` (CELT only, no SILK, so no FEC). ``max_bandwidth`` caps the audio band coded
    (RFC 7587 §6.1: no wider than the receiver's maxplaybackrate covers).

    :meth:`from_parameters` picks these from the receiver's ``a=fmtp`` line.
    """

    def __init__(
        self,
        *,
        bitrate: int = 32_000,
        fec: bool = True,
        packet_loss_percent: int = 10,
        complexity: int | None = None,
        application: str = "voip",
        max_bandwidth: Bandwidth | None = None,
    ) -> None:
        if not 6_000 <= bitrate <= 510_000:
            raise ValueError(f"bitrate {bitrate} outside Opus' 6000-510000 bit/s")
        if not 0 <= packet_loss_percent <= 100:
            raise ValueError(f"packet_loss_percent {packet_loss_percent} outside 0-100")
        if complexity is not None and not 0 <= complexity <= 10:
            raise ValueError(f"complexity {complexity} outside 0-10")
        if application not in _APPLICATIONS:
            raise ValueError(f"application {application!r} is not one of {_APPLICATIONS}")
        self.bitrate = bitrate
        self.fec = fec
        self.packet_loss_percent = packet_loss_percent
        self.complexity = complexity
        self.application = application
        self.max_bandwidth = max_bandwidth
        options = {
            "application": application,
            "frame_duration": "20",
            "fec": "1" if fec else "0",
            "packet_loss": str(packet_loss_percent),
        }
        if complexity is not None:
            options["compression_level"] = str(complexity)  # FFmpeg's name for it
        if max_bandwidth is not None:
            # FFmpeg sets libopus' maximum bandwidth from the audio cutoff frequency in Hz.
            options["cutoff"] = str(_CUTOFF[max_bandwidth])
        ctx = CodecContext.create("libopus", "w")
        ctx.bit_rate = bitrate
        ctx.sample_rate = SAMPLE_RATE
        ctx.format = "s16"
        ctx.layout = "mono"
        ctx.time_base = _TIME_BASE
        ctx.options = options
        try:
            ctx.open()
        except av.FFmpegError as exc:
            raise OpusCodecError(f"libopus encoder refused its settings: {exc}") from exc
        if ctx.options:  # FFmpeg hands back the options nothing consumed
            raise OpusCodecError(f"this FFmpeg's libopus ignores {sorted(ctx.options)}")
        self._ctx = ctx
        self._pts = 0
        #: libopus' look-ahead in samples at 48 kHz (312): about how much decoded audio lags
        #: the input. Known after the first :meth:`encode`; FFmpeg reports it as the first
        #: packet's negative timestamp.
        self.lookahead: int | None = None
        #: Frames encoded so far.
        self.frames = 0

    @classmethod
    def from_parameters(
        cls,
        remote: OpusParameters,
        *,
        bitrate: int = 32_000,
        packet_loss_percent: int = 10,
        complexity: int | None = None,
    ) -> OpusEncoder:
        """An encoder for a receiver that sent ``remote`` in its ``a=fmtp`` line.

        The parameters are the receiver's wishes for what it gets (RFC 7587 §7.1): send FEC
        only if it can use it (``useinbandfec``), stay under its ``maxaveragebitrate`` and
        within the band its ``maxplaybackrate`` can play. Its other wishes (stereo, cbr,
        usedtx, ptime) may be ignored without harm, and are: we send mono, VBR, continuous
        20 ms packets.
        """
        return cls(
            bitrate=remote.send_bitrate(bitrate),
            fec=remote.useinbandfec,
            packet_loss_percent=packet_loss_percent,
            complexity=complexity,
            max_bandwidth=remote.max_bandwidth,
        )

    def encode(self, pcm: bytes) -> bytes:
        """Encodes one frame of exactly :data:`~voice.opus.pcm.FRAME_BYTES` bytes and
        returns the Opus packet for it (typically 40-120 bytes at 32 kbit/s)."""
        if len(pcm) != FRAME_BYTES:
            raise ValueError(f"a PCM frame is {FRAME_BYTES} bytes, got {len(pcm)}")
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = _TIME_BASE
        frame.pts = self._pts
        frame.planes[0].update(pcm)
        try:
            packets = self._ctx.encode(frame)
        except av.FFmpegError as exc:
            raise OpusCodecError(f"libopus failed to encode: {exc}") from exc
        # libopus codes each 20 ms frame on its own (the look-ahead is inside the codec, not
        # a queue of frames), so FFmpeg hands back exactly one packet per frame.
        if len(packets) != 1:
            raise OpusCodecError(f"expected one packet per frame, libopus gave {len(packets)}")
        packet = packets[0]
        if self.lookahead is None and packet.pts is not None:
            self.lookahead = max(0, self._pts - int(packet.pts))
        self._pts += FRAME_SAMPLES
        self.frames += 1
        return bytes(packet)


class OpusDecoder:
    """Decodes Opus packets into 48 kHz mono PCM, and conceals lost ones.

    Accepts any valid Opus packet: mono or stereo (mixed down), any mode and bandwidth, DTX
    and comfort-noise packets of one to a few bytes as browsers send during silence.
    """

    #: Whether :meth:`decode_fec` really uses the FEC data of the next packet. It cannot
    #: through PyAV (see the module docstring), so it conceals instead.
    fec_supported: ClassVar[bool] = False

    def __init__(self) -> None:
        ctx = CodecContext.create("libopus", "r")
        ctx.sample_rate = SAMPLE_RATE
        ctx.format = "s16"
        ctx.layout = "mono"
        self._ctx = ctx
        self._last_toc: int | None = None
        #: Packets decoded.
        self.decoded = 0
        #: Frames made up by concealment (including FEC requests that fell back to it).
        self.concealed = 0
        #: Calls of :meth:`decode_fec`.
        self.fec_requests = 0

    def decode(self, payload: bytes) -> bytes:
        """Decodes one Opus packet (one RTP payload) into PCM.

        Returns ``parse_packet(payload).samples`` samples: one 960-sample frame for the 20 ms
        packets browsers send. Raises :class:`~voice.opus.errors.OpusPacketError` for a
        malformed packet, which is never handed to libopus (RFC 6716 §3.4), and
        :class:`~voice.opus.errors.OpusCodecError` if libopus refuses it anyway.
        """
        parse_packet(payload)
        pcm = self._run(payload)
        self._last_toc = payload[0]
        self.decoded += 1
        return pcm

    def conceal(self) -> bytes:
        """Makes up one 20 ms frame for a packet that was lost, with libopus' concealment.

        Call it once per missing 20 ms, in order, between the real packets around the gap:
        the concealment continues the last decoded audio and fades it over a few frames
        (RFC 6716 §4.4).
        """
        self.concealed += 1
        return self._run(bytes([self._plc_toc()]))

    def decode_fec(self, next_payload: bytes) -> bytes:
        """Recovers the frame lost just before ``next_payload`` from the in-band FEC it
        carries (RFC 7587 §3.3), or, where that is not possible, conceals it.

        Through PyAV it is never possible (:attr:`fec_supported` is False): this checks
        ``next_payload`` (raising :class:`~voice.opus.errors.OpusPacketError` if malformed)
        and returns :meth:`conceal`. Call :meth:`decode` on ``next_payload`` afterwards as
        usual. The method exists so the playout code is already written the right way.
        """
        parse_packet(next_payload)
        self.fec_requests += 1
        return self.conceal()

    def _plc_toc(self) -> int:
        # A bare TOC byte is a packet of one empty frame, which libopus conceals for the
        # frame duration the TOC gives: ask for 20 ms in the mode and bandwidth last seen
        # (every mode has a 20 ms configuration), keeping the stereo flag.
        last = self._last_toc
        if last is None:
            return _DEFAULT_PLC_TOC
        mode, bandwidth, _ = CONFIGS[last >> 3]
        return toc_byte(config_for(mode, bandwidth, FRAME_SAMPLES), stereo=bool(last & 0x04))

    def _run(self, payload: bytes) -> bytes:
        try:
            frames = self._ctx.decode(Packet(payload))
        except av.FFmpegError as exc:
            raise OpusCodecError(f"libopus failed to decode: {exc}") from exc
        # The decoder's output buffer is sized for the longest packet (120 ms): keep only the
        # samples it actually wrote.
        return b"".join(
            memoryview(frame.planes[0])[: frame.samples * SAMPLE_WIDTH].tobytes()
            for frame in frames
        )
