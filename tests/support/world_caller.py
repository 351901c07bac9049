"""Synthetic callers run inside a caller namespace of the world (:mod:`tests.support.world`).

A caller's sockets must be made in its namespace, so the calls run in a process started
there (``ip netns exec NS python -m tests.support.world_caller ...``). It prints one JSON
line per call and ``done`` at the end:

* ``answered_by``: the session resource that answered (after the front's 307);
* ``ingress``: the address the answer told the caller to send to;
* ``first_hop_ms``: median TCP connect time to that address's host (its signaling port):
  the caller's round trip to the ingress;
* ``check_ms``: the first ICE check's round trip (answer to ICE connected): the media
  path through the relays to the transceiver and back, nothing else;
* ``echo_ms``: median round trip of the caller's own audio through the echo agent (adds
  the transceiver's jitter buffer, decoding and encoding, which vary with the load).

With ``--watch``, a call stays up and a line ``rtp-age <s>`` is printed every 100 ms: how
long ago its last RTP packet arrived (the failure drill reads it).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
from typing import Any

import trio

from voice.loadgen.caller import Caller

SIGNALING_PORT = 8081


def tcp_rtt(host: str, port: int, samples: int = 5) -> float:
    """Median seconds of a TCP connect to ``host:port`` (SYN to SYN-ACK: one round trip)."""
    times: list[float] = []
    for _ in range(samples):
        start = time.perf_counter()
        with socket.create_connection((host, port), timeout=5):
            times.append(time.perf_counter() - start)
    return statistics.median(times)


async def one_call(url: str, bind: str, duration: float, query: str = "") -> dict[str, Any]:
    caller = Caller(url, bind_host=bind, setup_timeout=15, query=query)
    result = await caller.run(duration)
    out: dict[str, Any] = {"answered_by": caller.answered_by, "failed": result.failed}
    if result.failed is None and caller._server is not None:
        host = caller._server[0]
        out["ingress"] = f"{host}:{caller._server[1]}"
        out["first_hop_ms"] = 1000 * await trio.to_thread.run_sync(tcp_rtt, host, SIGNALING_PORT)
        out["echo_ms"] = (
            1000 * statistics.median(result.round_trips) if result.round_trips else None
        )
        out["setup_ms"] = 1000 * (result.dtls_at - result.posted_at)
        # From the answer to ICE connected: the first check's round trip through the relay
        # to the transceiver and back, with no codec or jitter buffer in it.
        out["check_ms"] = 1000 * (result.ice_at - result.answered_at)
    return out


async def watch(url: str, bind: str) -> None:
    caller = Caller(url, bind_host=bind, setup_timeout=15)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller.run, 3600.0)
        await caller.connected.wait()
        await caller.rtp_after(trio.current_time())
        print(
            json.dumps({"answered_by": caller.answered_by, "ingress": caller._server}), flush=True
        )
        while True:
            age = trio.current_time() - caller.last_rtp_at
            print(f"rtp-age {age:.3f}", flush=True)
            await trio.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="world_caller")
    parser.add_argument("--url", required=True)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--watch", action="store_true")
    parser.add_argument("--query", default="", help="more POST query parameters (ingress=b)")
    args = parser.parse_args(argv)

    async def run() -> None:
        if args.watch:
            await watch(args.url, args.bind)
            return
        results: list[dict[str, Any]] = []

        async def place() -> None:
            results.append(await one_call(args.url, args.bind, args.duration, args.query))
            print(json.dumps(results[-1]), flush=True)

        async with trio.open_nursery() as nursery:
            for _ in range(args.calls):
                nursery.start_soon(place)
        print("done", flush=True)

    trio.run(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
