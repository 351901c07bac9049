"""Opus encoding and decoding of 20 ms PCM frames: PyAV (FFmpeg's ``libopus`` wrapper), and
libopus itself for the one thing PyAV does not expose, in-band FEC decoding.

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
* :meth:`OpusDecoder.decode_fec` rebuilds a lost frame from the redundancy the next packet
  carries, when it carries some.

What PyAV/FFmpeg can and cannot reach, found by reading FFmpeg's ``libopusdec.c``, listing the
options of the libavcodec that PyAV 18 bundles, and trying it (``tests/opus/test_codec.py``):

* **Encoding: everything we need.** Bitrate, complexity, FEC, expected loss, bandwidth and
  application are all options of FFmpeg's encoder, so :class:`OpusEncoder` is PyAV only.
* **Concealment (PLC) works, through a side door.** FFmpeg treats an empty packet as the end
  of the stream, so the usual libopus call for a lost packet (no data) is out of reach. But
  libopus treats a *frame* of zero bytes the same way: "nothing here, conceal". That is how
  DTX packets work, and a packet made of a bare TOC byte (code 0, no frame) is exactly such a
  packet, whose TOC asks for 20 ms in the mode of the last real packet.
* **In-band FEC decoding is not reachable.** libopus rebuilds a lost frame from the
  low-bitrate redundancy (LBRR, RFC 6716 §4.2.5) that the *next* packet carries only when
  called with its ``decode_fec`` flag; FFmpeg's wrapper always passes 0 and offers no option
  for it (its only decoder option is ``apply_phase_inv``).

So the decoder calls libopus directly for that, through :mod:`voice.opus.libopus`: a ctypes
binding to the libopus *file that the PyAV wheel ships* and FFmpeg already loaded, the same
build, whose output for the same packets is bit-identical to PyAV's (a test checks it).

Why that decoder then decodes *every* packet, not only stands in for the lost ones: LBRR is
not a standalone copy of the lost frame. It is decoded on top of the SILK decoder's state
(the previous frame's spectral envelope to interpolate from, the past output the long-term
predictor repeats, the synthesis filter's memory), so only the decoder that decoded the
frames before the loss can rebuild it well (a fresh decoder's rebuild is mostly noise); and
the frames after the loss continue from the rebuilt audio, so the same decoder must decode
them too. A second, ctypes decoder fed the same packets beside PyAV's would double the cost
of every frame, and after a recovered loss the two would disagree: PyAV's, which had to
conceal, would play the next frames no better than concealment alone (about 3 dB against
the lossless decode where the decoder that rebuilt the frame gives about 20 dB:
``test_after_a_recovered_loss_decoding_continues_in_sync``). One decoder state is coherent
by construction, and a direct call even costs a little less per packet than PyAV's packet
and frame objects (``bench/media.py``).

PyAV stays the encoder, and the decoder whenever the bundled library cannot be found or
loaded (:func:`voice.opus.libopus.load` logs why): then :attr:`OpusDecoder.fec_supported` is
False, concealment goes through the side door above, and :meth:`OpusDecoder.decode_fec`
conceals. Either way the encoder puts FEC into the packets it sends, for peers that use it.
"""

from __future__ import annotations

from fractions import Fraction

import av
from av import AudioCodecContext, AudioFrame, CodecContext, Packet

from voice.opus import libopus
from voice.opus.errors import OpusCodecError, OpusUsageError
from voice.opus.libopus import MAX_FRAME_SAMPLES
from voice.opus.payload import OpusParameters
from voice.opus.pcm import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE, SAMPLE_WIDTH
from voice.opus.silk import has_fec
from voice.opus.toc import CONFIGS, Bandwidth, Mode, config_for, parse_packet, toc_byte

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
            raise OpusUsageError(f"bitrate {bitrate} outside Opus' 6000-510000 bit/s")
        if not 0 <= packet_loss_percent <= 100:
            raise OpusUsageError(f"packet_loss_percent {packet_loss_percent} outside 0-100")
        if complexity is not None and not 0 <= complexity <= 10:
            raise OpusUsageError(f"complexity {complexity} outside 0-10")
        if application not in _APPLICATIONS:
            raise OpusUsageError(f"application {application!r} is not one of {_APPLICATIONS}")
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
            raise OpusUsageError(f"a PCM frame is {FRAME_BYTES} bytes, got {len(pcm)}")
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
    """Decodes Opus packets into 48 kHz mono PCM, conceals lost ones, and recovers them from
    in-band FEC where the next packet carries it.

    Accepts any valid Opus packet: mono or stereo (mixed down), any mode and bandwidth, DTX
    and comfort-noise packets of one to a few bytes as browsers send during silence.

    Decodes with the libopus bundled with PyAV, called directly (:mod:`voice.opus.libopus`),
    or, if that cannot be loaded, through PyAV without FEC; the module docstring says why.
    ``pyav_only`` asks for the second way on purpose (to compare them, as ``bench/media.py``
    does, or to keep ctypes out of a process).
    """

    def __init__(self, *, pyav_only: bool = False) -> None:
        library = None if pyav_only else libopus.load()
        self._native = None if library is None else library.decoder(SAMPLE_RATE, 1)
        self._ctx: AudioCodecContext | None = None
        if self._native is None:
            ctx = CodecContext.create("libopus", "r")
            ctx.sample_rate = SAMPLE_RATE
            ctx.format = "s16"
            ctx.layout = "mono"
            self._ctx = ctx
        #: Whether :meth:`decode_fec` really decodes the FEC data of the next packet: True
        #: when the bundled libopus loaded, False when this decoder runs on PyAV alone and
        #: conceals instead.
        self.fec_supported = self._native is not None
        self._last_toc: int | None = None
        #: Packets decoded.
        self.decoded = 0
        #: Frames made up by concealment (including FEC requests that fell back to it).
        self.concealed = 0
        #: Calls of :meth:`decode_fec`.
        self.fec_requests = 0
        #: Frames rebuilt from the FEC of the next packet.
        self.fec_recovered = 0

    def decode(self, payload: bytes) -> bytes:
        """Decodes one Opus packet (one RTP payload) into PCM.

        Returns ``parse_packet(payload).samples`` samples: one 960-sample frame for the 20 ms
        packets browsers send. Raises :class:`~voice.opus.errors.OpusParseError` for a
        malformed packet, which is never handed to libopus (RFC 6716 §3.4), and
        :class:`~voice.opus.errors.OpusCodecError` if libopus refuses it anyway.
        """
        parse_packet(payload)
        if self._native is not None:
            pcm = self._native.decode(payload, MAX_FRAME_SAMPLES)
        else:
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
        if self._native is not None:
            return self._native.decode(None, FRAME_SAMPLES)
        return self._run(bytes([self._plc_toc()]))

    def decode_fec(self, next_payload: bytes) -> bytes:
        """Rebuilds the packet lost just before ``next_payload`` from the in-band FEC that
        ``next_payload`` carries (RFC 7587 §3.3), or, where there is none, conceals it.

        Call it in place of the missing :meth:`decode`, then :meth:`decode` ``next_payload``
        as usual: libopus reads the packet twice, first for the redundancy of the frame
        before it, then for its own audio. A rebuilt packet is taken to be as long as its
        successor: returns as many samples as ``next_payload`` holds (960 for 20 ms packets).

        It conceals one 20 ms frame instead, as :meth:`conceal`, when this decoder runs on
        PyAV alone (:attr:`fec_supported` False), when ``next_payload`` carries no LBRR
        (:func:`~voice.opus.silk.has_fec`: a CELT packet, or SILK without FEC), or when the
        last packet was CELT, whose state LBRR cannot continue. Raises
        :class:`~voice.opus.errors.OpusParseError` if ``next_payload`` is malformed.
        """
        info = parse_packet(next_payload)
        self.fec_requests += 1
        if self._native is None or not has_fec(next_payload) or self._last_mode() is Mode.CELT:
            return self.conceal()
        # RFC 6716 §4.2.5: the LBRR frames of a packet re-code the frame before it, at a
        # lower rate. libopus decodes them (with the decoder's state from the frames before
        # the loss) when asked for exactly the duration that is missing.
        pcm = self._native.decode(next_payload, info.samples, fec=True)
        self.fec_recovered += 1
        return pcm

    def _last_mode(self) -> Mode | None:
        return None if self._last_toc is None else CONFIGS[self._last_toc >> 3][0]

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
        assert self._ctx is not None  # only used when the bundled libopus is not
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
