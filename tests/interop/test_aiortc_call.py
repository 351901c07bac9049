"""aiortc, an independent Python WebRTC stack, calls ``voice serve`` and hears the echo."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.aiortc_client import assert_echo_is_tone, call
from tests.support.server import voice_serve

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def test_aiortc_echo_call() -> None:
    with voice_serve() as server:
        pcm = asyncio.run(call(server.url))
        server.wait_for_log(r"session \S+: ended \(deleted by signaling\)")
    assert_echo_is_tone(pcm)
