"""The relay's routing decisions in a trace: admitted, dropped; known clients are not traced."""

from __future__ import annotations

from tests.support.relay import binding_request
from voice.relay.directory import Directory
from voice.relay.router import Router
from voice.relay.token import TokenKey, TokenMinter, TokenVerifier
from voice.trace import Tracer

KEY = TokenKey(1, b"k" * 32)
WALL = 1_735_689_600.0
TRANSCEIVER = ("10.0.0.1", 4001)
CLIENT = ("198.51.100.7", 50123)
STRANGER = ("198.51.100.8", 50124)


def test_admissions_and_drops_are_recorded() -> None:
    router = Router(TokenVerifier([KEY]), Directory({1: TRANSCEIVER}))
    router.handle_timeout(0.0, wall=WALL)
    tracer = Tracer(keep=True, wall_offset=WALL)
    router.tracer = tracer
    token = TokenMinter(KEY, 0, 1).mint(WALL).encode()
    assert router.from_client(binding_request(token + b":cli"), CLIENT, 1.0) is not None
    assert router.from_client(b"\x80" + bytes(20), CLIENT, 1.1) is not None  # known: forwarded
    assert router.from_client(b"\x16" + bytes(20), STRANGER, 1.2) is None  # not STUN: dropped
    assert tracer.records == [
        {"t": WALL + 1.0, "event": "route", "client": "198.51.100.7:50123",
         "decision": "admitted", "to": "10.0.0.1:4001"},
        {"t": WALL + 1.2, "event": "route", "client": "198.51.100.8:50124",
         "decision": "dropped: not-stun"},
    ]  # fmt: skip
