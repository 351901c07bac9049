"""``voice serve`` as a person runs it: a subprocess, stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import signal
import subprocess
import sys
from functools import partial

import pytest
import trio

from tests.support.server import voice_serve
from voice.loadgen.caller import Caller

pytestmark = pytest.mark.slow


def test_help_explains_every_command() -> None:
    for argv in ([], ["serve"], ["relay"], ["bench"]):
        out = subprocess.run(
            [sys.executable, "-m", "voice", *argv, "--help"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert "usage: voice" in out.stdout
    serve = subprocess.run(
        [sys.executable, "-m", "voice", "serve", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for flag in ("--direct", "--udp-port", "--public-address", "--max-sessions", "--agent"):
        assert flag in serve


def test_ctrl_c_ends_calls_politely_and_exits_cleanly() -> None:
    with voice_serve() as server:
        caller = Caller(server.url)

        async def call_then_interrupt() -> None:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(caller.run, 60.0, hang_up=False))
                await caller.connected.wait()
                server.process.send_signal(signal.SIGINT)
                with trio.fail_after(10):
                    await caller.closed.wait()
                nursery.cancel_scope.cancel()

        trio.run(call_then_interrupt)
        assert server.process.wait(timeout=10) == 0
        server.wait_for_log(r"voice serve: stopping")
        server.wait_for_log(r"session \S+: ended \(shutdown\)")
    # The server said goodbye with DTLS close_notify, which the caller saw.
    assert caller.result.end_reason.startswith("DTLS closed")
