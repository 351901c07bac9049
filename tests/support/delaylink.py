"""A userspace point-to-point link between two network namespaces that adds delay and loss.

There is no netem on this machine, so a link with a propagation delay is a process: a TUN
device in each namespace, and this program copying every IP packet from one to the other
after ``--delay`` seconds (dropping a ``--loss`` share at random). Everything crosses it,
TCP (signaling) as well as UDP (media), exactly as over a long wire.

Run as root, from any namespace: ``python -m tests.support.delaylink --a NS:DEV --b NS:DEV
--delay 0.005``. The devices must exist (``ip -n NS tuntap add dev DEV mode tun``); the
program attaches to them, so it enters each namespace in turn (setns) to open them. It
prints ``link up`` once both are attached, and runs until killed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import heapq
import os
import random
import struct
import sys

import trio

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000


def open_tun(namespace: str, device: str) -> int:
    """Attaches to TUN ``device`` of the named namespace; returns its non-blocking fd."""
    libc = ctypes.CDLL(None, use_errno=True)
    ns_fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(ns_fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace}")
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", device.encode(), IFF_TUN | IFF_NO_PI))
    finally:
        os.close(ns_fd)
    return fd


async def pump(src: int, dst: int, delay: float, loss: float, rng: random.Random) -> None:
    """Copies packets from ``src`` to ``dst``, each ``delay`` after it arrived, in order."""
    queue: list[tuple[float, int, bytes]] = []
    wake = trio.Event()
    count = 0

    async def sender() -> None:
        nonlocal wake
        while True:
            if not queue:
                await wake.wait()
                wake = trio.Event()
                continue
            due = queue[0][0]
            if trio.current_time() < due:
                with trio.move_on_at(due):
                    await wake.wait()
                    wake = trio.Event()
                continue
            _, _, data = heapq.heappop(queue)
            # The far device down or its queue full: the packet is lost, as on a wire.
            with contextlib.suppress(OSError):
                os.write(dst, data)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender)
        while True:
            await trio.lowlevel.wait_readable(src)
            while True:
                try:
                    data = os.read(src, 65536)
                except BlockingIOError:
                    break
                if loss and rng.random() < loss:
                    continue
                count += 1
                heapq.heappush(queue, (trio.current_time() + delay, count, data))
                wake.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="delaylink", description=__doc__)
    parser.add_argument("--a", required=True, metavar="NS:DEV")
    parser.add_argument("--b", required=True, metavar="NS:DEV")
    parser.add_argument("--delay", type=float, default=0.0, help="one-way delay, seconds")
    parser.add_argument("--loss", type=float, default=0.0, help="share of packets dropped")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    a = open_tun(*args.a.split(":", 1))
    b = open_tun(*args.b.split(":", 1))
    rng = random.Random(args.seed)
    print("link up", flush=True)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump, a, b, args.delay, args.loss, rng)
            nursery.start_soon(pump, b, a, args.delay, args.loss, rng)

    try:
        trio.run(run)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
