"""STUN (RFC 8489): messages, attributes, integrity and fingerprint, sans-IO.

Also the first-byte demultiplexer of RFC 7983 and the cheap USERNAME peek the relay uses.
"""

from voice.stun.demux import PacketKind, classify
from voice.stun.peek import peek_username

__all__ = ["PacketKind", "classify", "peek_username"]
