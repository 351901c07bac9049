"""Whether an Opus packet carries in-band FEC, read from its first SILK header bits.

Opus' in-band forward error correction is SILK's LBRR ("low bit-rate redundancy"): a packet
may carry, besides its own audio, a coarser copy of the *previous* frame, so a receiver that
lost that frame can rebuild it from the next packet (RFC 6716 §4.2.5). Whether a packet has
it is the LBRR flag (RFC 6716 §4.2.3), one of the first bits of the SILK layer. Reading it
needs only the first steps of the range decoder, which this module implements in a few
lines, so a receiver can tell, without decoding, whether the packet after a loss could repair
it, and a test can show that our encoder really sends FEC.

CELT-only packets have no SILK layer and so never carry FEC.
"""

from __future__ import annotations

from voice.opus.toc import CONFIGS, Mode, parse_packet

_CODE_BOT = 1 << 23  # renormalise while the range is at most this (RFC 6716 §4.1.2.1)
_CODE_MASK = (1 << 31) - 1


class _RangeDecoder:
    """The start of the Opus range decoder, enough to read equiprobable flags."""

    __slots__ = ("_data", "_pos", "_rem", "rng", "val")

    def __init__(self, data: bytes) -> None:
        # RFC 6716 §4.1.1: rng starts at 128 and val at 127 minus the top 7 bits of the first
        # byte; then renormalise.
        self._data = data
        self._pos = 0
        self._rem = self._byte()
        self.rng = 128
        self.val = 127 - (self._rem >> 1)
        self._normalize()

    def _byte(self) -> int:
        # Past the end of the frame the decoder reads zeros (RFC 6716 §4.1.2.1).
        if self._pos < len(self._data):
            value = self._data[self._pos]
            self._pos += 1
            return value
        return 0

    def _normalize(self) -> None:
        # RFC 6716 §4.1.2.1: shift in a byte at a time until the range is over 2**23 again.
        # The bytes enter offset by one bit (the first byte gave only its top 7 bits), and val
        # counts down from the top of the range, hence 255 minus the symbol.
        while self.rng <= _CODE_BOT:
            self.rng <<= 8
            previous, self._rem = self._rem, self._byte()
            symbol = ((previous << 8) | self._rem) >> 1
            self.val = ((self.val << 8) + (255 - (symbol & 0xFF))) & _CODE_MASK

    def bit_logp(self, logp: int) -> bool:
        """RFC 6716 §4.1.3.1: a bit whose probability of being 1 is 1 / 2**logp."""
        split = self.rng >> logp
        one = self.val < split
        if one:
            self.rng = split
        else:
            self.val -= split
            self.rng -= split
        self._normalize()
        return one


def has_fec(payload: bytes) -> bool:
    """Whether the first frame of this Opus packet carries LBRR data for the frame before it.

    Raises :class:`~voice.opus.errors.OpusParseError` for a malformed packet. False for
    CELT-only packets and for empty (DTX) frames.
    """
    info = parse_packet(payload)
    mode = CONFIGS[info.config][0]
    first = info.frame_sizes[0]
    if mode is Mode.CELT or first == 0:
        return False
    frame = payload[info.offset : info.offset + first]
    decoder = _RangeDecoder(frame)
    # RFC 6716 §4.2.3: the SILK layer opens with, for the mid (or only) channel, one VAD flag
    # per SILK frame (one per 20 ms, and one for a 10 ms frame) and then its LBRR flag, each
    # coded as an equiprobable bit.
    silk_frames = max(1, info.frame_samples // 960)
    for _ in range(silk_frames):
        decoder.bit_logp(1)
    return decoder.bit_logp(1)
