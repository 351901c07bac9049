"""The server itself is held up mid-call (a busy host, a long garbage collection): its send
loop wakes late, its pacer skips frames. What the caller receives must still be one stream
with no hole in its numbering: a gap in sequence numbers or timestamps is what a receiver
conceals as lost audio (and an aiortc receiver even waits for the missing packets), while a
stream that goes on where it stopped, only late, is jitter that any jitter buffer absorbs.
"""

from __future__ import annotations

import secrets
import time
from functools import partial

import trio

from voice.loadgen.caller import Caller
from voice.relay.config import RelayConfig
from voice.relay.token import TokenKey
from voice.rtp.packet import RtpPacket
from voice.server import ServerConfig, ServerInfo, run_server

KEY = TokenKey(1, secrets.token_bytes(32))


async def test_a_server_stall_leaves_no_hole_in_the_echo_stream(nursery: trio.Nursery) -> None:
    config = ServerConfig(http_port=0, relay=RelayConfig(keys=(KEY,), log_interval=0))
    info: ServerInfo = await nursery.start(run_server, config)
    received: list[tuple[int, int]] = []

    def on_rtp(packet: RtpPacket, now: float) -> None:
        received.append((packet.sequence_number, packet.timestamp))

    caller = Caller(info.url, on_rtp=on_rtp)
    with trio.fail_after(30):
        async with trio.open_nursery() as calls:
            calls.start_soon(partial(caller.run, 4.0, hang_up=False))
            await caller.connected.wait()
            [session] = info.transceiver.sessions.values()
            await trio.sleep(1.5)
            # The whole process is held up, as by a busy host: a blocking call on purpose.
            time.sleep(0.3)
    assert caller.result.failed is None
    assert session.pacer_skipped > 0  # the send loop did fall behind
    first_seq, first_ts = received[0]
    for seq, ts in received:
        n = (seq - first_seq) & 0xFFFF
        assert ts == (first_ts + n * 960) & 0xFFFF_FFFF
    numbers = sorted((seq - first_seq) & 0xFFFF for seq, _ in received)
    assert numbers == list(range(len(numbers)))  # every number, once: no hole
