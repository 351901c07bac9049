"""The stateless UDP relay: one public port for the whole fleet, routing by ICE ufrag.

The sans-IO parts are importable without Trio: routing tokens (:mod:`voice.relay.token`),
the relay <-> transceiver shim (:mod:`voice.relay.shim`), the soft table, the admission
limiter, the transceiver directory and the forwarding rules (:mod:`voice.relay.router`).
The Trio driver is :mod:`voice.relay.worker` (one worker, in-process) and
:mod:`voice.relay.supervisor` (N worker processes behind SO_REUSEPORT).
"""

from voice.relay.errors import RelayError, RelayParseError, RelayUsageError
from voice.relay.shim import decode_shim, encode_shim
from voice.relay.token import RoutingTarget, TokenKey, TokenMinter, TokenVerifier

__all__ = [
    "RelayError",
    "RelayParseError",
    "RelayUsageError",
    "RoutingTarget",
    "TokenKey",
    "TokenMinter",
    "TokenVerifier",
    "decode_shim",
    "encode_shim",
]
