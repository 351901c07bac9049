"""voice: a Trio reference implementation of a low-latency WebRTC voice edge.

The protocol layers (:mod:`voice.stun`, :mod:`voice.ice`, :mod:`voice.dtls`, ...) are sans-IO
state machines that can be imported on their own; Trio appears only in the services
(:mod:`voice.relay`, :mod:`voice.transceiver`, :mod:`voice.signaling`).
"""

__version__ = "0.1.0"
