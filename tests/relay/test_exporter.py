"""The relay's own /metrics and /healthz (voice/relay/exporter.py).

The shared rows are checked on their own (a worker's copy is read back whole, a replacement
continues its index's counters but not its gauges), then a real ``voice relay --workers 2
--metrics-port`` process tree is scraped on loopback: every worker's admissions appear under
its own label, a killed worker's replacement carries its counters on, and /healthz says
whether every worker runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading

import trio

from tests.support.processes import free_udp_ports, http_get, start_relay
from tests.support.relay import FakeTransceiver
from tests.support.server import metric_value
from voice.relay.counters import DropReason, RelayCounters
from voice.relay.exporter import MetricsServer, SharedCounters, WorkerStatus
from voice.relay.steering import steering_index

from .conftest import HANG, KEY, Client, check

ENV = {"VOICE_FLEET_KEYS": f"{KEY.key_id}:{KEY.secret.hex()}"}


def counters_with(admissions: int, table: int, bad_token: int) -> RelayCounters:
    counters = RelayCounters()
    counters.admissions = admissions
    counters.client_packets = admissions * 3
    counters.table_size = table
    counters.drops[DropReason.BAD_TOKEN] = bad_token
    return counters


def test_rows_are_per_worker_and_read_back_whole() -> None:
    shared = SharedCounters(3)
    shared.publish(0, counters_with(5, 2, 1))
    shared.publish(2, counters_with(7, 4, 0))
    first, middle, last = (shared.read(i) for i in range(3))
    assert (first.admissions, first.client_packets, first.table_size) == (5, 15, 2)
    assert first.drops[DropReason.BAD_TOKEN] == 1
    assert middle.admissions == 0 and middle.dropped == 0  # never published: zeros
    assert (last.admissions, last.table_size) == (7, 4)
    shared.publish(0, counters_with(6, 0, 1))  # a newer copy replaces the older one
    assert shared.read(0).admissions == 6
    shared.close()


def test_a_replacement_continues_counters_but_not_gauges() -> None:
    shared = SharedCounters(1)
    shared.publish(0, counters_with(9, 3, 2))
    fresh = RelayCounters()
    shared.restore(0, fresh)
    assert fresh.admissions == 9 and fresh.drops[DropReason.BAD_TOKEN] == 2
    assert fresh.table_size == 0  # its table starts empty, whatever the old one held
    shared.close()


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def scrape_until(url: str, name: str, at_least: float) -> str:
    """The first scrape whose ``name`` is at least ``at_least``. Workers copy their counters
    out once a second; the test asks back to back, as a scraper that cannot be told."""
    while True:
        status, text = await http_get(url)
        assert status == 200, text
        if metric_value(text, name) >= at_least:
            return text


async def test_voice_relay_serves_every_workers_counters(nursery: trio.Nursery) -> None:
    fake = FakeTransceiver()
    await nursery.start(fake.run)
    assert fake.address is not None
    port = free_tcp_port()
    relay, ready = await start_relay(
        nursery,
        "--workers=2",
        "--host=127.0.0.1",
        "--port=0",
        f"--internal-port={free_udp_ports(2)}",
        f"--transceiver=1=127.0.0.1:{fake.address[1]}",
        f"--metrics-port={port}",
        "--log-interval=0",
        env=ENV,
    )
    base = f"http://127.0.0.1:{port}"
    await relay.wait_for(rf"relay metrics on {base}/metrics")
    with trio.fail_after(HANG):
        status, body = await http_get(base + "/healthz")
        assert status == 200
        assert json.loads(body) == {"status": "ok", "workers": 2, "running": 2}
        assert (await http_get(base + "/nothing"))[0] == 404

        # Calls steered to both workers; each worker counts its own admissions.
        clients = [await Client().open() for _ in range(10)]
        per_worker = [0, 0]
        for client in clients:
            await client.send(check(1), ready.public)
            await fake.next()
            await client.receive()
            per_worker[steering_index(client.address, 2)] += 1
        assert 0 not in per_worker
        text = await scrape_until(base + "/metrics", "voice_relay_admissions_total", 10)
        for worker in (0, 1):
            sample = f'voice_relay_admissions_total{{worker="{worker}"}}'
            assert metric_value(text, sample) == per_worker[worker]
        assert text.count("# TYPE voice_relay_admissions_total counter") == 1
        assert metric_value(text, "voice_relay_workers") == 2
        assert metric_value(text, "voice_relay_worker_restarts_total") == 0

        # Worker 0 dies; its replacement continues its counters and adds to them.
        mark = relay.mark()
        os.kill(ready.pids[0], signal.SIGKILL)
        await relay.wait_for("relay worker 0 ready again", mark)
        status, body = await http_get(base + "/healthz")
        assert status == 200 and json.loads(body)["running"] == 2
        text = await scrape_until(base + "/metrics", "voice_relay_worker_restarts_total", 1)
        assert metric_value(text, 'voice_relay_admissions_total{worker="0"}') == per_worker[0]
        to_worker_0 = next(c for c in clients if steering_index(c.address, 2) == 0)
        await to_worker_0.send(check(1), ready.public)
        await fake.next()
        await scrape_until(
            base + "/metrics", 'voice_relay_admissions_total{worker="0"}', per_worker[0] + 1
        )
        for client in clients:
            client.close()


def test_a_client_that_dribbles_its_request_cannot_hold_healthz() -> None:
    """A client sends its request a byte at a time, each byte well within a per-read
    timeout: its connection is closed once the whole request is overdue, and a scraper
    that comes after it is answered while it is still dribbling (the one server thread
    used to stay with the slow client for as long as it kept sending)."""
    shared = SharedCounters(1)
    server = MetricsServer(
        ("127.0.0.1", 0),
        shared,
        lambda: WorkerStatus(configured=1, running=1, restarts=0),
        request_timeout=0.5,
    )
    server.start()
    stop_dribbling = threading.Event()
    connected = threading.Event()
    closed = threading.Event()

    def dribble() -> None:
        with socket.create_connection(server.address) as slow:
            connected.set()  # first in the listening queue: the server thread takes it first
            for byte in b"GET /healthz HTTP/1.0\r\nX-Slow: " + b"x" * 200:
                try:
                    slow.sendall(bytes([byte]))
                except OSError:
                    closed.set()
                    return
                if stop_dribbling.wait(0.1):
                    return

    slow_client = threading.Thread(target=dribble)
    try:
        slow_client.start()
        assert connected.wait(10)
        with socket.create_connection(server.address, timeout=10) as scraper:
            scraper.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            reply = scraper.makefile("rb").read()
        assert reply.startswith(b"HTTP/1.0 200")
        assert slow_client.is_alive() or closed.is_set()
    finally:
        stop_dribbling.set()
        slow_client.join()
        server.close()
        shared.close()
