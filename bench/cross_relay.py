"""Cross-cluster benchmark: the latency the backbone hop adds (VOICE-RELAY §12).

Run as ``./dev bench cross_relay`` (or ``python bench/cross_relay.py``). One flow of
160-byte datagrams paced at a fixed rate, round-trip times through three paths, in one run:

* **direct**: client <-> echo, nothing between (the same-run baseline);
* **one relay**: client -> relay -> echo (shim version 1) -> relay -> client, a call that
  enters at its own cluster;
* **two relays**: client -> ingress relay (cluster 1) -> owning relay (cluster 2) -> echo
  (shim version 2) -> owning relay -> ingress relay -> client, a call that enters at another
  cluster's relay. Each relay is a ``voice relay`` process with one worker.

"added" is a path's percentile minus the direct path's; "per backbone hop" is two relays
minus one relay: what forwarding through the extra relay costs, both ways. On one machine
the backbone's own delay is zero; between regions it is the link's, tens of milliseconds,
next to which the figure here is what the relay itself adds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _common, however we are run

from _common import (
    HOST,
    PAYLOAD_SIZE,
    Address,
    paced_rtts,
    percentile,
    print_table,
    start_relay,
    udp_socket,
)

from tests.support.relay import binding_request
from voice.relay.token import TokenKey, TokenMinter

FORK = multiprocessing.get_context("fork")
DIRECTION = 4  # VOICE-SHIM §10: the byte that says which way a version 2 datagram travels


def _echo(sock: socket.socket) -> None:
    """Answers every datagram where it came from: a plain datagram as it is, a version 1
    shim datagram as it is (the header names the same client both ways), a version 2 one
    turned around (direction outbound), as a transceiver does."""
    recvfrom, sendto = sock.recvfrom, sock.sendto
    while True:
        data, source = recvfrom(2048)
        if data[:1] == b"\x02":
            data = data[:DIRECTION] + b"\x02" + data[DIRECTION + 1 :]
        sendto(data, source)


def _free_port() -> int:
    with udp_socket() as sock:
        return int(sock.getsockname()[1])


def admit(sock: socket.socket, relay: Address, minter: TokenMinter) -> None:
    sock.settimeout(5)
    sock.sendto(binding_request(minter.mint(time.time()).encode() + b":bench"), relay)
    sock.recv(2048)  # the echo's "answer" came back the whole way


def _summary(runs: Sequence[list[float]]) -> tuple[float, float]:
    """Medians over runs of each run's p50 and p99, in microseconds."""
    p50 = statistics.median(percentile(r, 50) for r in runs) * 1e6
    p99 = statistics.median(percentile(r, 99) for r in runs) * 1e6
    return p50, p99


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench cross_relay", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="medians over this many runs")
    parser.add_argument("--rate", type=float, default=500.0, help="datagrams per second")
    args = parser.parse_args(argv)

    key = TokenKey(1, secrets.token_bytes(32))
    echo_sock = udp_socket()
    echo = FORK.Process(target=_echo, args=(echo_sock,), daemon=True)
    echo.start()
    sink = echo_sock.getsockname()
    ingress_internal, owner_internal = _free_port(), _free_port()
    fleet = (
        f"--cluster-relay=1={HOST}:{ingress_internal}",
        f"--cluster-relay=2={HOST}:{owner_internal}",
    )
    relays = [
        start_relay(
            key, "--cluster=0", "--internal-port=0", f"--transceiver=1={sink[0]}:{sink[1]}"
        ),
        start_relay(
            key,
            "--cluster=2",
            f"--internal-port={owner_internal}",
            f"--transceiver=7={sink[0]}:{sink[1]}",
            *fleet,
        ),
        start_relay(key, "--cluster=1", f"--internal-port={ingress_internal}", *fleet),
    ]
    single, _, ingress = relays
    paths: dict[str, tuple[Address, TokenMinter | None]] = {
        "direct": (sink, None),
        "one relay": (single.public, TokenMinter(key, 0, 1)),
        "two relays (cross-cluster)": (ingress.public, TokenMinter(key, 2, 7)),
    }
    results: dict[str, list[list[float]]] = {name: [] for name in paths}
    try:
        for _ in range(args.repeat):
            for name, (target, minter) in paths.items():
                with udp_socket() as sock:
                    if minter is not None:
                        admit(sock, target, minter)
                    results[name].append(paced_rtts(sock, target, args.rate, args.seconds))
    finally:
        for relay in relays:
            relay.stop()
        echo.kill()
    summary = {name: _summary(runs) for name, runs in results.items()}
    direct50, direct99 = summary["direct"]
    one50, one99 = summary["one relay"]
    rows: list[list[object]] = []
    for name, (p50, p99) in summary.items():
        rows.append(
            [
                name,
                sum(len(r) for r in results[name]),
                f"{p50:.0f}",
                f"{p99:.0f}",
                f"{p50 - direct50:.0f}",
                f"{p99 - direct99:.0f}",
                f"{p50 / direct50:.2f}",
            ]
        )
    print(
        f"round trips of {PAYLOAD_SIZE}-byte datagrams at {args.rate:.0f}/s, "
        f"{args.seconds:.1f} s x {args.repeat} runs; medians of the runs' percentiles (µs)"
    )
    print_table(["path", "samples", "p50", "p99", "added p50", "added p99", "p50 / direct"], rows)
    two50, two99 = summary["two relays (cross-cluster)"]
    print(
        f"per backbone hop (two relays - one relay, both ways): p50 {two50 - one50:.0f} µs, "
        f"p99 {two99 - one99:.0f} µs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
