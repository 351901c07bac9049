"""A stand-in for the session in real time: caller frames in, one frame out, every 20 ms."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import trio

from voice.agents.conversation import ConversationalAgent
from voice.opus import SILENCE
from voice.transceiver.agents import SessionInfo


class Line:
    """The session's part, in real time: caller frames in and one frame out every 20 ms,
    until ``done`` says the test has seen what it waits for."""

    def __init__(self, caller: Callable[[int], bytes]) -> None:
        self.caller = caller
        self.sent: list[tuple[float, bytes]] = []
        self.ticks = 0

    async def run(
        self, agent: ConversationalAgent, done: Callable[[Line], bool], limit: float = 10
    ) -> None:
        in_send, in_recv = trio.open_memory_channel[bytes](8)
        out_send, out_recv = trio.open_memory_channel[bytes](agent.output_frames)
        finished = trio.Event()
        with trio.fail_after(limit):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(agent, SessionInfo("call-7", "bridge"), in_recv, out_send)

                async def tick() -> None:
                    start = trio.current_time()
                    n = 0
                    while True:
                        n += 1
                        await trio.sleep_until(start + 0.02 * n)
                        with contextlib.suppress(trio.WouldBlock):
                            in_send.send_nowait(self.caller(n))
                        try:
                            frame = out_recv.receive_nowait()
                        except (trio.WouldBlock, trio.EndOfChannel):
                            frame = SILENCE
                        self.sent.append((trio.current_time(), frame))
                        self.ticks = n
                        if done(self):
                            finished.set()

                nursery.start_soon(tick)
                await finished.wait()
                nursery.cancel_scope.cancel()

    def count(self, frame: bytes) -> int:
        return sum(1 for _, f in self.sent if f == frame)
