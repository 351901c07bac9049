"""Relay benchmark: forwarding rate and added latency against a bare forwarder, and restarts.

Run as ``./dev bench relay`` (or ``python bench/relay.py``). Three sections, one run:

1. **Throughput.** A closed-loop load generator keeps a window of 160-byte datagrams in
   flight per flow: client -> forwarder -> echo -> forwarder -> client. Measured for the
   baseline (a bare blocking ``recvfrom``/``sendto`` loop on one socket: the least a Python
   forwarder can do) and for ``voice relay`` with 1 and N workers. Each row gives the
   forwarded datagrams per second of wall time, and per CPU-second the forwarder processes
   used (read from /proc), which is the per-core capacity independent of how much of the
   machine the load generator and the echo took. Ratios are relay / baseline (per worker)
   and N workers / (N x 1 worker).
2. **Added latency.** One flow paced at a fixed moderate rate; round-trip times through
   nothing (client <-> echo directly), the baseline, and the relay; "added" is a path's
   percentile minus the direct path's.
3. **Restart.** A call sending both ways every 2 ms; a worker is killed (the supervisor
   respawns it), then the whole relay is killed and started again on the same ports. Printed:
   the longest gap each side saw, and how long after the relay was ready again each side got
   its first packet (the requirement is 100 ms).

Everything runs on loopback on this machine, so the generator, the echo and the forwarders
share its cores; the CPU-normalised figure is the one to compare across machines.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import secrets
import selectors
import signal
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _common, however we are run

from _common import (
    PAYLOAD_SIZE,
    Address,
    Relay,
    paced_rtts,
    percentile,
    print_table,
    start_relay,
    udp_socket,
)

from tests.support.relay import binding_request
from voice.relay.shim import encode_shim
from voice.relay.steering import steering_index
from voice.relay.token import TokenKey, TokenMinter

FORK = multiprocessing.get_context("fork")


# -- the peers: an echo "transceiver" and the bare baseline forwarder ---------------------


def _echo(sock: socket.socket) -> None:
    """Sends every datagram back where it came from (a shim datagram stays valid)."""
    recvfrom, sendto = sock.recvfrom, sock.sendto
    while True:
        data, source = recvfrom(2048)
        sendto(data, source)


def _bare_forwarder(sock: socket.socket, sink: Address) -> None:
    """The baseline: the least a Python UDP forwarder does, one blocking loop, one client."""
    recvfrom, sendto = sock.recvfrom, sock.sendto
    client: Address = sink
    while True:
        data, source = recvfrom(2048)
        if source == sink:
            sendto(data, client)
        else:
            client = source
            sendto(data, sink)


def _start(target: Callable[..., None], *args: object) -> multiprocessing.process.BaseProcess:
    process = FORK.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def _cpu_seconds(pids: Sequence[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


# -- the relay under test ------------------------------------------------------------------


def relay_to(key: TokenKey, sink: Address, workers: int, port: int = 0, internal: int = 0) -> Relay:
    """A relay whose one transceiver, id 1, is ``sink``."""
    return start_relay(
        key,
        *(f"--port={port}", f"--internal-port={internal}", f"--transceiver=1={sink[0]}:{sink[1]}"),
        workers=workers,
    )


@contextmanager
def flows_for(workers: int, per_worker: int) -> Iterator[list[socket.socket]]:
    """Client sockets whose source ports the steering hash spreads evenly over N workers."""
    chosen: dict[int, list[socket.socket]] = {w: [] for w in range(workers)}
    spare: list[socket.socket] = []
    while any(len(v) < per_worker for v in chosen.values()):
        sock = udp_socket()
        index = steering_index(sock.getsockname(), workers)
        (chosen[index] if len(chosen[index]) < per_worker else spare).append(sock)
    for sock in spare:
        sock.close()
    flows = [s for group in chosen.values() for s in group]
    try:
        yield flows
    finally:
        for sock in flows:
            sock.close()


def admit(flows: Sequence[socket.socket], relay: Address, minter: TokenMinter) -> None:
    for sock in flows:
        ufrag = minter.mint(time.time()).encode()
        sock.settimeout(5)
        sock.sendto(binding_request(ufrag + b":bench"), relay)
        sock.recv(2048)  # the echo's "answer" came back through the relay


# -- measurements --------------------------------------------------------------------------


def closed_loop(
    flows: Sequence[socket.socket], target: Address, window: int, seconds: float
) -> int:
    """Round trips completed in ``seconds`` with ``window`` datagrams in flight per flow."""
    payload = b"\x80" + bytes(PAYLOAD_SIZE - 1)
    selector = selectors.DefaultSelector()
    for sock in flows:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)

    def fill() -> None:
        for sock in flows:
            for _ in range(window):
                sock.sendto(payload, target)

    fill()
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        events = selector.select(0.05)
        if not events:
            fill()  # every datagram in flight was lost: start over rather than stall
            continue
        for key, _ in events:
            flow = key.fileobj
            assert isinstance(flow, socket.socket)
            while True:
                try:
                    flow.recv(2048)
                except BlockingIOError:
                    break
                done += 1
                with suppress(BlockingIOError):
                    flow.sendto(payload, target)
    selector.close()
    # Drain what is still in flight so the next measurement starts clean.
    for sock in flows:
        sock.settimeout(0.05)
        try:
            while True:
                sock.recv(2048)
        except (TimeoutError, BlockingIOError):
            pass
    return done


def throughput(
    flows: Sequence[socket.socket],
    target: Address,
    pids: Sequence[int],
    window: int,
    seconds: float,
) -> tuple[float, float]:
    """(forwarded datagrams per second, per CPU-second of the forwarder processes)."""
    cpu = _cpu_seconds(pids)
    start = time.perf_counter()
    round_trips = closed_loop(flows, target, window, seconds)
    wall = time.perf_counter() - start
    cpu = _cpu_seconds(pids) - cpu
    forwarded = 2 * round_trips  # each round trip crosses the forwarder twice
    return forwarded / wall, forwarded / cpu if cpu > 0 else float("nan")


# -- restart -------------------------------------------------------------------------------


# Plain classes, not dataclasses: `voice bench` loads this file without registering it as
# a module, which dataclasses need to resolve postponed annotations.


class _CallState:
    def __init__(self, relay: Relay, relay_socket: Address) -> None:
        self.relay = relay
        self.relay_socket = relay_socket  # where the transceiver sends: last relay socket heard


class Outage:
    def __init__(
        self, client_gap: float, agent_gap: float, client_after: float, agent_after: float
    ) -> None:
        self.client_gap = client_gap  # longest silence the client saw
        self.agent_gap = agent_gap  # longest silence the transceiver saw
        self.client_after_ready = client_after  # first packet after the relay was ready again
        self.agent_after_ready = agent_after


def restart_outage(key: TokenKey, action: str, workers: int, interval: float = 0.002) -> Outage:
    """A call flowing both ways every ``interval``; ``action`` is "worker" or "relay"."""
    agent = udp_socket()
    client = udp_socket()
    internal_base = _free_consecutive(workers)
    relay = relay_to(key, agent.getsockname(), workers, internal=internal_base)
    minter = TokenMinter(key, 0, 1)
    client.sendto(binding_request(minter.mint(time.time()).encode() + b":x"), relay.public)
    agent.settimeout(5)
    _, relay_socket = agent.recvfrom(2048)
    for sock in (agent, client):
        sock.setblocking(False)
    received: dict[str, list[float]] = {"client": [], "agent": []}
    ready_at: list[float] = []
    killed_at: list[float] = []
    state = _CallState(relay, relay_socket)

    def disrupt() -> None:
        time.sleep(0.3)
        current = state.relay
        if action == "worker":
            index = steering_index(client.getsockname(), workers)
            killed_at.append(time.perf_counter())
            os.kill(current.pids[index], signal.SIGKILL)
            current.wait_for(f"relay worker {index} ready again", len(current.lines))
            ready_at.append(time.perf_counter())
        else:
            killed_at.append(time.perf_counter())
            current.stop(signal.SIGKILL)
            for pid in current.pids:
                _wait_gone(pid)
            state.relay = relay_to(
                key, agent.getsockname(), workers, port=current.port, internal=internal_base
            )
            ready_at.append(time.perf_counter())

    thread = threading.Thread(target=disrupt)
    thread.start()
    selector = selectors.DefaultSelector()
    selector.register(client, selectors.EVENT_READ, "client")
    selector.register(agent, selectors.EVENT_READ, "agent")
    next_send = time.perf_counter()
    stop_at: float | None = None
    while stop_at is None or time.perf_counter() < stop_at:
        now = time.perf_counter()
        if now >= next_send:
            for sock, data, where in (
                (client, b"\x80c", relay.public),
                (agent, encode_shim(client.getsockname(), b"\x80a"), state.relay_socket),
            ):
                with suppress(OSError):  # the port is closed for a moment: a lost packet
                    sock.sendto(data, where)
            next_send += interval
        for key_, _ in selector.select(max(0.0, next_send - time.perf_counter())):
            ready = key_.fileobj
            assert isinstance(ready, socket.socket)
            while True:
                try:
                    data, source = ready.recvfrom(2048)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                received[key_.data].append(time.perf_counter())
                if key_.data == "agent":
                    state.relay_socket = source
        if stop_at is None and not thread.is_alive():
            stop_at = time.perf_counter() + 0.3
    thread.join()
    state.relay.stop()
    for sock in (agent, client):
        sock.close()
    return Outage(
        _longest_gap(received["client"], killed_at[0]),
        _longest_gap(received["agent"], killed_at[0]),
        min(t for t in received["client"] if t > ready_at[0]) - ready_at[0],
        min(t for t in received["agent"] if t > ready_at[0]) - ready_at[0],
    )


def _longest_gap(times: Sequence[float], since: float) -> float:
    before = [t for t in times if t <= since]
    after = [t for t in times if t > since]
    points = before[-1:] + after
    return max((b - a for a, b in itertools.pairwise(points)), default=float("nan"))


def _free_consecutive(count: int) -> int:
    for _ in range(100):
        probes = [udp_socket()]
        base = int(probes[0].getsockname()[1])
        try:
            probes.extend(udp_socket(base + n) for n in range(1, count))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return base
    raise RuntimeError("no consecutive free ports")


def _wait_gone(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            selector.select(5)  # a pidfd turns readable when the process has exited
    finally:
        os.close(fd)


# -- main ----------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench relay", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="medians over this many runs")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--window", type=int, default=16, help="datagrams in flight per flow")
    parser.add_argument("--rate", type=float, default=2000.0, help="latency test, datagrams/s")
    parser.add_argument("--restarts", type=int, default=3, help="0 skips the restart section")
    args = parser.parse_args(argv)

    key = TokenKey(1, secrets.token_bytes(32))
    minter = TokenMinter(key, 0, 1)
    echo_sock = udp_socket()
    echo = _start(_echo, echo_sock)
    sink = echo_sock.getsockname()
    base_sock = udp_socket()
    baseline = _start(_bare_forwarder, base_sock, sink)
    baseline_addr = base_sock.getsockname()
    n = max(1, args.workers)
    results: dict[str, list[tuple[float, float]]] = {
        "baseline": [],
        "relay-1": [],
        f"relay-{n}": [],
    }
    relays = {1: relay_to(key, sink, 1)}
    if n > 1:
        relays[n] = relay_to(key, sink, n)
    try:
        # One flow per worker, each with the full window: N workers get N times the load.
        with flows_for(1, 1) as single:
            for _ in range(args.repeat):
                results["baseline"].append(
                    throughput(
                        single, baseline_addr, [baseline.pid or 0], args.window, args.seconds
                    )
                )
        for workers, relay in relays.items():
            with flows_for(workers, 1) as flows:
                admit(flows, relay.public, minter)
                for _ in range(args.repeat):
                    results[f"relay-{workers}"].append(
                        throughput(flows, relay.public, relay.pids, args.window, args.seconds)
                    )
        med = {
            name: (
                statistics.median(r[0] for r in runs),
                statistics.median(r[1] for r in runs),
            )
            for name, runs in results.items()
            if runs
        }
        base_wall, base_cpu = med["baseline"]
        one_wall, one_cpu = med["relay-1"]
        rows: list[list[object]] = [
            [
                "baseline (bare loop)",
                1,
                f"{base_wall:,.0f}",
                f"{base_cpu:,.0f}",
                "1.00",
                "1.00",
                "",
            ],
            [
                "voice relay",
                1,
                f"{one_wall:,.0f}",
                f"{one_cpu:,.0f}",
                f"{one_wall / base_wall:.2f}",
                f"{one_cpu / base_cpu:.2f}",
                "",
            ],
        ]
        if n > 1:
            nw, nc = med[f"relay-{n}"]
            rows.append(
                [
                    "voice relay",
                    n,
                    f"{nw:,.0f}",
                    f"{nc:,.0f}",
                    f"{nw / base_wall:.2f}",
                    f"{nc / base_cpu:.2f}",
                    f"{nw / (n * one_wall):.2f}",
                ]
            )
        print(
            f"\nThroughput: forwarded datagrams/s, {PAYLOAD_SIZE}-byte datagrams, window "
            f"{args.window} per flow (one flow per worker), median of {args.repeat} x "
            f"{args.seconds:g} s, {os.cpu_count()} CPUs shared with the load generator and the echo"
        )
        print_table(
            [
                "forwarder",
                "workers",
                "pkt/s (wall)",
                "pkt/s per CPU-s",
                "ratio (wall)",
                "ratio (per CPU)",
                "N-worker scaling (wall)",
            ],
            rows,
        )

        # Added latency at a fixed moderate load, one flow.
        paths: dict[str, Address] = {
            "direct (no forwarder)": sink,
            "baseline (bare loop)": baseline_addr,
            "voice relay (1 worker)": relays[1].public,
        }
        rtts: dict[str, list[float]] = {}
        with flows_for(1, 1) as (latency_sock,):
            admit([latency_sock], relays[1].public, minter)
            for name, target in paths.items():
                samples: list[float] = []
                for _ in range(args.repeat):
                    samples.extend(paced_rtts(latency_sock, target, args.rate, args.seconds))
                rtts[name] = samples
        direct50 = percentile(rtts["direct (no forwarder)"], 50)
        direct99 = percentile(rtts["direct (no forwarder)"], 99)
        lat_rows = []
        for name, samples in rtts.items():
            p50, p99 = percentile(samples, 50), percentile(samples, 99)
            lat_rows.append(
                [
                    name,
                    len(samples),
                    f"{p50 * 1e6:.0f}",
                    f"{p99 * 1e6:.0f}",
                    "" if name.startswith("direct") else f"{(p50 - direct50) * 1e6:.0f}",
                    "" if name.startswith("direct") else f"{(p99 - direct99) * 1e6:.0f}",
                ]
            )
        print(f"\nRound trips at {args.rate:g} datagrams/s (each way), microseconds")
        print_table(["path", "samples", "RTT p50", "RTT p99", "added p50", "added p99"], lat_rows)
        base_added = percentile(rtts["baseline (bare loop)"], 50) - direct50
        relay_added = percentile(rtts["voice relay (1 worker)"], 50) - direct50
        print(f"added latency p50, relay / baseline: {relay_added / base_added:.2f}")
    finally:
        for relay in relays.values():
            relay.stop()
        echo.terminate()
        baseline.terminate()

    if args.restarts > 0:
        outages: dict[str, list[Outage]] = {"worker killed": [], "relay killed and restarted": []}
        for _ in range(args.restarts):
            outages["worker killed"].append(restart_outage(key, "worker", n))
            outages["relay killed and restarted"].append(restart_outage(key, "relay", n))
        print(
            f"\nRestart mid-call ({n} workers, both sides sending every 2 ms), milliseconds, "
            f"median of {args.restarts}"
        )
        out_rows = []
        for name, runs in outages.items():
            out_rows.append(
                [
                    name,
                    f"{1000 * statistics.median(o.client_gap for o in runs):.1f}",
                    f"{1000 * statistics.median(o.agent_gap for o in runs):.1f}",
                    f"{1000 * statistics.median(o.client_after_ready for o in runs):.1f}",
                    f"{1000 * statistics.median(o.agent_after_ready for o in runs):.1f}",
                ]
            )
        print_table(
            [
                "event",
                "client gap",
                "transceiver gap",
                "client resumes after ready",
                "transceiver resumes after ready",
            ],
            out_rows,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
