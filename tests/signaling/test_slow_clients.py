"""Slow HTTP clients against the real server (hypercorn on loopback): a body that trickles
in is cut off and its connection closed, instead of being held for as long as it trickles."""

from __future__ import annotations

import trio

from voice.server import ServerConfig, ServerInfo, run_server
from voice.signaling.app import SignalingConfig

HEAD = (
    b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\n"
    b"Content-Length: 4000\r\n\r\nv=0\r\n"
)


async def slow_body(trickle: bool) -> bytes:
    """Sends a request whose body never completes; returns all the server sent before it
    closed the connection."""
    async with trio.open_nursery() as nursery:
        info: ServerInfo = await nursery.start(
            run_server, ServerConfig(http_port=0, signaling=SignalingConfig(body_timeout=0.5))
        )
        host, port = info.url.split("//")[1].rstrip("/").split(":")
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            await stream.send_all(HEAD)

            async def trickler() -> None:
                # The attacker's pace: one byte every 0.1 s, never idle long enough for a
                # read timeout, never done.
                try:
                    while True:
                        await trio.sleep(0.1)
                        await stream.send_all(b"a")
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

            if trickle:
                nursery.start_soon(trickler)
            received = b""
            # Before the fix: Quart waited 60 s for the body, then hypercorn kept the
            # connection open for as long as the client trickled.
            with trio.fail_after(5):
                while chunk := await stream.receive_some(65536):
                    received += chunk
        nursery.cancel_scope.cancel()
    return received


async def test_a_body_that_stops_gets_408_and_the_connection_closes() -> None:
    received = await slow_body(trickle=False)
    assert received.startswith(b"HTTP/1.1 408")
    assert b"did not arrive within 0.5 s" in received


async def test_a_body_that_trickles_for_ever_gets_408_and_the_connection_closes() -> None:
    received = await slow_body(trickle=True)
    assert received.startswith(b"HTTP/1.1 408")
