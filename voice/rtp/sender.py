"""Numbering the packets of an outgoing audio stream, sans-IO.

RFC 3550 §5.1: the sequence number goes up by one per packet and the timestamp by the
number of samples each packet carries, both from random starting values, which makes
known-plaintext attacks on an encrypted stream harder. The session numbers packets from
the frames it sent, not from the pacer's index (:class:`voice.opus.FramePacer`), which
counts skipped frames too: numbering from the index would leave the same gap in both fields
that a loss does, and the receiver would conceal it, a cut in what it plays.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from voice.rtp.packet import RtpPacket


@dataclass(slots=True)
class RtpSender:
    """Builds the packet for frame ``index`` of one stream (one SSRC, one payload type)."""

    ssrc: int
    payload_type: int
    samples_per_frame: int
    first_sequence: int = field(default_factory=lambda: secrets.randbelow(1 << 16))
    first_timestamp: int = field(default_factory=lambda: secrets.randbits(32))

    def packet(self, index: int, payload: bytes) -> RtpPacket:
        # RFC 3550 §5.1: sequence and timestamp advance together from random origins; the
        # marker flags the start of a talkspurt, here the first packet of the stream.
        return RtpPacket(
            payload_type=self.payload_type,
            sequence_number=(self.first_sequence + index) & 0xFFFF,
            timestamp=(self.first_timestamp + index * self.samples_per_frame) & 0xFFFFFFFF,
            ssrc=self.ssrc,
            payload=payload,
            marker=index == 0,
        )
