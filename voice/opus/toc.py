"""The Opus packet framing of RFC 6716 §3: the TOC byte, the four frame-count codes, and the
rules that make a packet malformed.

An Opus packet is what one RTP packet carries (RFC 7587 §4.2). Its first byte, the TOC
(table of contents), says how the audio was coded and how the rest of the packet is cut into
frames; reading it needs no codec. This module reads that framing, so a receiver can

* reject a malformed packet before it reaches the decoder (:func:`parse_packet` raises
  :class:`~voice.opus.errors.OpusParseError`, and nothing else, on any input);
* know a packet's duration (its RTP timestamp step) and mode without decoding it;
* build packets for tests and for the decoder's concealment trick (:func:`build_packet`).

The layout, most significant bit first::

     0 1 2 3 4 5 6 7
    +-+-+-+-+-+-+-+-+
    | config  |s| c |     config: mode, bandwidth, frame duration (table below)
    +-+-+-+-+-+-+-+-+     s: stereo, c: frame count code 0-3

and for code 3 a second byte, the frame count byte ``v p M`` (VBR flag, padding flag, number
of frames M in the low six bits).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from voice.buffer import Buffer, BufferReadError
from voice.opus.errors import OpusParseError, OpusUsageError


class Mode(enum.Enum):
    """The coding mode a TOC config selects (RFC 6716 §3.1)."""

    SILK = "SILK"  # linear prediction, for speech up to wideband
    HYBRID = "Hybrid"  # SILK below 8 kHz plus CELT above, super-wideband and fullband speech
    CELT = "CELT"  # transform coding, music and low delay


class Bandwidth(enum.IntEnum):
    """The audio bandwidth a TOC config selects, valued by the sample rate that carries it
    (RFC 6716, Table 1: narrowband is 4 kHz of audio, sampled at 8 kHz, and so on)."""

    NARROWBAND = 8_000
    MEDIUMBAND = 12_000
    WIDEBAND = 16_000
    SUPERWIDEBAND = 24_000
    FULLBAND = 48_000


#: The longest audio one packet may carry, in samples at 48 kHz: 120 ms (RFC 6716 §3.4 R5).
MAX_PACKET_SAMPLES = 5760
#: The longest frame the framing can describe, in bytes (RFC 6716 §3.4 R2).
MAX_FRAME_BYTES = 1275
#: Frames of 2.5, 5, 10, 20, 40 and 60 ms, in samples at 48 kHz.
_MS = {2.5: 120, 5: 240, 10: 480, 20: 960, 40: 1920, 60: 2880}


def _configs() -> tuple[tuple[Mode, Bandwidth, int], ...]:
    # RFC 6716 §3.1: the 32 configurations, in groups of frame durations per mode and band.
    groups: list[tuple[Mode, Bandwidth, tuple[float, ...]]] = [
        (Mode.SILK, Bandwidth.NARROWBAND, (10, 20, 40, 60)),
        (Mode.SILK, Bandwidth.MEDIUMBAND, (10, 20, 40, 60)),
        (Mode.SILK, Bandwidth.WIDEBAND, (10, 20, 40, 60)),
        (Mode.HYBRID, Bandwidth.SUPERWIDEBAND, (10, 20)),
        (Mode.HYBRID, Bandwidth.FULLBAND, (10, 20)),
        (Mode.CELT, Bandwidth.NARROWBAND, (2.5, 5, 10, 20)),
        (Mode.CELT, Bandwidth.WIDEBAND, (2.5, 5, 10, 20)),
        (Mode.CELT, Bandwidth.SUPERWIDEBAND, (2.5, 5, 10, 20)),
        (Mode.CELT, Bandwidth.FULLBAND, (2.5, 5, 10, 20)),
    ]
    return tuple((mode, bw, _MS[ms]) for mode, bw, durations in groups for ms in durations)


#: ``CONFIGS[config]`` is ``(mode, bandwidth, samples per frame at 48 kHz)`` for config 0-31.
CONFIGS: tuple[tuple[Mode, Bandwidth, int], ...] = _configs()
assert len(CONFIGS) == 32


def config_for(mode: Mode, bandwidth: Bandwidth, frame_samples: int) -> int:
    """The TOC config number of a mode, bandwidth and frame size; ValueError if none exists
    (Hybrid has no 40 ms frames, SILK no super-wideband, and so on)."""
    try:
        return CONFIGS.index((mode, bandwidth, frame_samples))
    except ValueError:
        raise OpusUsageError(
            f"no Opus config for {mode.value} {bandwidth.name} {frame_samples}"
        ) from None


def toc_byte(config: int, *, stereo: bool = False, code: int = 0) -> int:
    """Packs a TOC byte (RFC 6716 §3.1)."""
    if not 0 <= config <= 31 or not 0 <= code <= 3:
        raise OpusUsageError(f"config {config} or code {code} out of range")
    return config << 3 | int(stereo) << 2 | code


@dataclass(frozen=True, slots=True)
class OpusPacketInfo:
    """What the framing of one Opus packet says, read without decoding it."""

    #: The TOC config, 0-31: mode, bandwidth and frame duration together.
    config: int
    #: The stereo flag of the TOC. A mono decoder still decodes a stereo packet (mixed down).
    stereo: bool
    #: The frame count code, 0-3 (RFC 6716 §3.2).
    code: int
    #: Length in bytes of each frame, in order. A length of 0 is legal: a frame the encoder
    #: left out (DTX) or lost, which the decoder conceals.
    frame_sizes: tuple[int, ...]
    #: Code 3 only: frames have their own lengths (VBR) rather than one shared length.
    vbr: bool = False
    #: Code 3 only: bytes spent on padding, counting the padding length bytes themselves.
    padding: int = 0
    #: Where the first frame starts: after the TOC and whatever header bytes the code needs.
    offset: int = 1

    @property
    def mode(self) -> Mode:
        return CONFIGS[self.config][0]

    @property
    def bandwidth(self) -> Bandwidth:
        return CONFIGS[self.config][1]

    @property
    def frame_samples(self) -> int:
        """Samples per frame at 48 kHz: 120 (2.5 ms) to 2880 (60 ms)."""
        return CONFIGS[self.config][2]

    @property
    def frame_duration(self) -> float:
        """Duration of one frame in seconds."""
        return self.frame_samples / 48_000

    @property
    def frame_count(self) -> int:
        return len(self.frame_sizes)

    @property
    def samples(self) -> int:
        """Total samples at 48 kHz: the RTP timestamp step this packet accounts for
        (RFC 7587 §4.1)."""
        return self.frame_samples * len(self.frame_sizes)

    @property
    def duration(self) -> float:
        """Total duration in seconds."""
        return self.samples / 48_000


def _frame_length(buf: Buffer) -> int:
    # RFC 6716 §3.2.1: one byte for 0-251; a first byte of 252-255 needs a second byte,
    # and the length is first + 4 * second, so at most 255 + 4 * 255 = 1275.
    first = buf.pull_uint8()
    if first < 252:
        return first
    return first + 4 * buf.pull_uint8()


def _check_implicit(size: int, what: str) -> None:
    # RFC 6716 §3.4 R2: a frame whose length is implied by what remains of the packet can
    # still not be longer than an explicit length could say.
    if size > MAX_FRAME_BYTES:
        raise OpusParseError(f"R2: {what} frame of {size} bytes is longer than 1275")


def parse_packet(data: bytes) -> OpusPacketInfo:
    """Reads the framing of an Opus packet, checking every rule of RFC 6716 §3.4.

    Raises :class:`~voice.opus.errors.OpusParseError` (naming the rule, R1-R7) for a packet
    a receiver must not decode, and never any other exception, whatever the bytes.
    """
    try:
        return _parse(data)
    except BufferReadError as exc:  # every explicit length is read through the Buffer
        raise OpusParseError(f"truncated Opus packet: {exc}") from None


def _parse(data: bytes) -> OpusPacketInfo:
    size = len(data)
    # RFC 6716 §3.4 R1: a packet has at least its TOC byte.
    if size < 1:
        raise OpusParseError("R1: empty packet")
    toc = data[0]
    config, stereo, code = toc >> 3, bool(toc & 0x04), toc & 0x03
    frame_samples = CONFIGS[config][2]
    buf = Buffer(data, 1)

    if code == 0:
        # RFC 6716 §3.2.2: one frame, the whole rest of the packet.
        _check_implicit(size - 1, "code 0")
        return OpusPacketInfo(config, stereo, code, (size - 1,))

    if code == 1:
        # RFC 6716 §3.2.3: two frames of equal length, so what follows the TOC splits evenly
        # (R3: the total length is odd).
        if (size - 1) % 2:
            raise OpusParseError(f"R3: code 1 packet of {size} bytes cannot split in two")
        half = (size - 1) // 2
        _check_implicit(half, "code 1")
        return OpusPacketInfo(config, stereo, code, (half, half))

    if code == 2:
        # RFC 6716 §3.2.4: two frames; the first has an explicit length, the second the rest
        # (R4: that length must be readable and fit in the packet).
        try:
            first = _frame_length(buf)
        except BufferReadError:
            raise OpusParseError("R4: code 2 packet ends inside its frame length") from None
        if first > buf.remaining:
            raise OpusParseError(f"R4: code 2 first frame of {first} bytes overruns the packet")
        second = buf.remaining - first
        _check_implicit(second, "code 2 second")
        return OpusPacketInfo(config, stereo, code, (first, second), offset=buf.tell())

    # RFC 6716 §3.2.5: code 3, a frame count byte, optional padding, then M frames, either
    # all of one length (CBR) or each with its own length but the last (VBR).
    if size < 2:
        raise OpusParseError("R6/R7: code 3 packet has no frame count byte")
    count_byte = buf.pull_uint8()
    vbr, has_padding, count = bool(count_byte & 0x80), bool(count_byte & 0x40), count_byte & 0x3F
    # RFC 6716 §3.4 R5: at least one frame, at most 120 ms of audio.
    if count == 0:
        raise OpusParseError("R5: code 3 packet with zero frames")
    if count * frame_samples > MAX_PACKET_SAMPLES:
        raise OpusParseError(f"R5: {count} frames of {frame_samples} samples exceed 120 ms")

    trailing = 0  # padding bytes at the end of the packet
    overhead = 0  # the padding length bytes themselves
    if has_padding:
        # RFC 6716 §3.2.5: each length byte of 255 means 254 more padding bytes and another
        # length byte; the first byte below 255 adds its value and ends the sequence.
        while True:
            try:
                value = buf.pull_uint8()
            except BufferReadError:
                rule = "R7" if vbr else "R6"
                raise OpusParseError(f"{rule}: padding length runs past the packet") from None
            overhead += 1
            if value == 255:
                trailing += 254
            else:
                trailing += value
                break
    padding = overhead + trailing

    if not vbr:
        # RFC 6716 §3.4 R6: padding fits in the N - 2 bytes after the two header bytes, and
        # what is left divides evenly among the M frames.
        payload = size - 2 - padding
        if payload < 0:
            raise OpusParseError(f"R6: {padding} bytes of padding overrun a {size}-byte packet")
        if payload % count:
            raise OpusParseError(f"R6: {payload} bytes do not split into {count} equal frames")
        each = payload // count
        _check_implicit(each, "code 3 CBR")
        return OpusPacketInfo(config, stereo, code, (each,) * count, vbr, padding, buf.tell())

    # RFC 6716 §3.4 R7: the header, the M - 1 explicit lengths, those frames and the
    # trailing padding all fit; the last frame takes what remains.
    sizes = []
    for _ in range(count - 1):
        try:
            sizes.append(_frame_length(buf))
        except BufferReadError:
            raise OpusParseError("R7: code 3 VBR packet ends inside its frame lengths") from None
    last = buf.remaining - trailing - sum(sizes)
    if last < 0:
        raise OpusParseError(f"R7: code 3 VBR frames and padding overrun a {size}-byte packet")
    _check_implicit(last, "code 3 VBR last")
    sizes.append(last)
    return OpusPacketInfo(config, stereo, code, tuple(sizes), vbr, padding, buf.tell())


def _encode_length(length: int) -> bytes:
    # RFC 6716 §3.2.1, the inverse of _frame_length.
    if length < 252:
        return bytes([length])
    first = 252 + (length - 252) % 4
    return bytes([first, (length - first) // 4])


def build_packet(
    frames: Sequence[bytes],
    *,
    config: int,
    stereo: bool = False,
    padding: int = 0,
    force_code3: bool = False,
) -> bytes:
    """Frames an Opus packet around already-coded frames (RFC 6716 §3.2).

    Chooses the smallest code that can carry them: 0 for one frame, 1 for two of equal length,
    2 for two of different lengths, 3 otherwise, or whenever ``padding`` (bytes of trailing
    padding) is asked for or ``force_code3`` is set. Raises ValueError for frames the framing
    cannot carry (too many, too long, more than 120 ms). Used by tests and by the decoder's
    concealment; an encoder normally frames its own packets.
    """
    count = len(frames)
    sizes = [len(f) for f in frames]
    samples = CONFIGS[config][2] if 0 <= config <= 31 else 0
    if not 1 <= count <= 63 or count * samples > MAX_PACKET_SAMPLES:
        raise OpusUsageError(f"{count} frames of config {config} cannot form one packet")
    if max(sizes) > MAX_FRAME_BYTES or padding < 0:
        raise OpusUsageError("frame longer than 1275 bytes, or negative padding")
    body = b"".join(frames)
    if not padding and not force_code3:
        if count == 1:
            return bytes([toc_byte(config, stereo=stereo, code=0)]) + body
        if count == 2 and sizes[0] == sizes[1]:
            return bytes([toc_byte(config, stereo=stereo, code=1)]) + body
        if count == 2:
            head = bytes([toc_byte(config, stereo=stereo, code=2)]) + _encode_length(sizes[0])
            return head + body
    vbr = len(set(sizes)) > 1
    header = bytearray([toc_byte(config, stereo=stereo, code=3)])
    header.append(count | (0x80 if vbr else 0) | (0x40 if padding else 0))
    if padding:
        remaining = padding
        while remaining >= 255:
            header.append(255)
            remaining -= 254
        header.append(remaining)
    if vbr:
        for size in sizes[:-1]:
            header += _encode_length(size)
    return bytes(header) + body + bytes(padding)
