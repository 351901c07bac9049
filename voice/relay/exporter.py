"""The relay's own ``/metrics`` and ``/healthz``: every worker's counters, served by the supervisor.

``voice serve`` embeds one relay worker and exports its counters with the transceiver's; a
relay on its own (``voice relay``) is N worker processes and a supervisor, so something has
to gather N sets of counters in one place. The pieces:

VOICE-RELAY §7: one exposition for all workers, counters that never go backwards.

* :class:`SharedCounters`, a block of shared memory the supervisor maps before it forks,
  one row per worker index. Each worker copies its counters into its row once a second
  (:func:`publish_forever`); the hot loop keeps bumping plain integers and never touches
  shared memory. A row belongs to an index, not to a process, so it outlives a worker: the
  replacement starts from the last copy (:meth:`SharedCounters.restore`) and the counters
  stay monotonic across a respawn, losing at most the last second of counts.
* :class:`MetricsServer`, a small HTTP server on a thread of the supervisor that renders the
  rows on ``GET /metrics`` with ``prometheus_client`` (a registry of its own holding a
  :class:`voice.relay.counters.RelayCollector` over the rows and a collector of the
  supervisor's own figures) and answers ``GET /healthz`` with 200 while every worker runs,
  503 otherwise.

Why a custom collector over shared rows, and not ``prometheus_client``'s multiprocess mode:
that mode wants ``PROMETHEUS_MULTIPROC_DIR`` set before the library is imported in every
process, writes one file per process id and metric type there, and needs the supervisor to
call ``mark_process_dead`` for each respawned worker and to empty the directory on every
start (a stale file from a previous run would be summed in). It would also put a library
call (a lock and an mmap write) on the hot loop's every datagram, where today a worker bumps
a plain integer; and its counters of a dead worker's files are summed without a ``worker``
label, which is the label an operator needs to find the one worker that drops. The rows
already give what multiprocess mode would: one exposition for every worker, counters that
never go backwards across a respawn (the replacement continues its index's row), nothing on
disk to clean up, and a scrape that never waits on a worker.

Why shared memory and not a pipe of reports: a scrape then costs the workers nothing and
needs no round trip to N processes, and a worker that is stuck or dead cannot make the
scrape wait. Each row carries a sequence number, odd while its worker writes it, so a
reader never returns a half-written row (a sequence lock).

Why a thread and not another event loop: the supervisor's loop is a blocking wait on pipes
and process sentinels, and this server is read by a scraper every few seconds. The thread
never logs and never writes to stdout or stderr, so a worker forked while it runs cannot
inherit a lock it holds; the forked worker closes the listening socket.
"""

from __future__ import annotations

import io
import json
import mmap
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from voice.metrics import CONTENT_TYPE, new_registry, render
from voice.relay.counters import DropReason, RelayCollector, RelayCounters
from voice.types import Address

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

#: Seconds between two copies of a worker's counters into its row.
PUBLISH_INTERVAL = 1.0
#: Seconds a scraper has to send its whole request, counted from the connection; a slower
#: one is closed. One server thread answers one request at a time, so a per-read timeout
#: alone would let a client that sends a byte every few seconds hold /healthz forever.
REQUEST_TIMEOUT = 5.0
#: Gauges are the worker's present state, so a replacement worker does not inherit them.
GAUGES = frozenset({"table_size"})


def _scalar_fields() -> tuple[str, ...]:
    return tuple(name for name in RelayCounters.__slots__ if name != "drops")


class SharedCounters:
    """One row of 64-bit integers per worker index in memory shared across ``fork``."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._scalars = _scalar_fields()
        self._reasons = tuple(DropReason)
        # The sequence number, then every counter in a fixed order.
        self._row = struct.Struct(f"<Q{len(self._scalars) + len(self._reasons)}q")
        self._seq = struct.Struct("<Q")
        self._memory = mmap.mmap(-1, self._row.size * max(1, workers))

    def publish(self, index: int, counters: RelayCounters) -> None:
        """Copies ``counters`` into row ``index`` (called by that worker only)."""
        offset = index * self._row.size
        (seq,) = self._seq.unpack_from(self._memory, offset)
        self._seq.pack_into(self._memory, offset, seq + 1)  # odd: being written
        values = [getattr(counters, name) for name in self._scalars]
        values += [counters.drops[reason] for reason in self._reasons]
        self._row.pack_into(self._memory, offset, seq + 1, *values)
        self._seq.pack_into(self._memory, offset, seq + 2)

    def _values(self, index: int) -> tuple[int, ...]:
        offset = index * self._row.size
        while True:
            seq, *values = self._row.unpack_from(self._memory, offset)
            (after,) = self._seq.unpack_from(self._memory, offset)
            if seq % 2 == 0 and seq == after:
                return tuple(values)

    def read(self, index: int) -> RelayCounters:
        """The last copy of worker ``index``'s counters (all zero before its first)."""
        counters = RelayCounters()
        self._fill(counters, self._values(index), gauges=True)
        return counters

    def restore(self, index: int, counters: RelayCounters) -> None:
        """Continues ``counters`` (a new worker's) from the last copy of its index's row."""
        self._fill(counters, self._values(index), gauges=False)

    def _fill(self, counters: RelayCounters, values: tuple[int, ...], *, gauges: bool) -> None:
        scalars = values[: len(self._scalars)]
        for name, value in zip(self._scalars, scalars, strict=True):
            if gauges or name not in GAUGES:
                setattr(counters, name, value)
        for reason, value in zip(self._reasons, values[len(self._scalars) :], strict=True):
            counters.drops[reason] = value

    def close(self) -> None:
        self._memory.close()


async def publish_forever(shared: SharedCounters, index: int, counters: RelayCounters) -> None:
    """A worker's task: copy its counters into its row now and then every second."""
    import trio  # here, not at the top: the supervisor imports this module before it forks

    while True:
        shared.publish(index, counters)
        await trio.sleep(PUBLISH_INTERVAL)


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """What the supervisor knows about its workers, for ``/healthz`` and the gauges."""

    configured: int
    running: int
    restarts: int


class SupervisorCollector(Collector):
    """The supervisor's own figures (workers configured, running, restarted), read from
    ``status()`` when scraped."""

    def __init__(self, status: Callable[[], WorkerStatus]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        status = self._status()
        yield GaugeMetricFamily(
            "voice_relay_workers",
            "Worker processes the supervisor keeps running.",
            value=status.configured,
        )
        yield GaugeMetricFamily(
            "voice_relay_workers_running", "Worker processes running now.", value=status.running
        )
        yield CounterMetricFamily(
            "voice_relay_worker_restarts_total",
            "Worker processes started again after an exit.",
            value=status.restarts,
        )

    def describe(self) -> Iterator[Metric]:
        return iter(())


class MetricsServer:
    """``GET /metrics`` and ``GET /healthz`` on a thread; binds at construction so that a
    port in use is an error before any worker starts."""

    def __init__(
        self,
        address: Address,
        shared: SharedCounters,
        status: Callable[[], WorkerStatus],
        *,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.shared = shared
        self.request_timeout = request_timeout
        self.status = status
        #: This relay's registry (not the library's global one: see :mod:`voice.metrics`).
        self.registry = new_registry()
        self.registry.register(SupervisorCollector(status))
        self.registry.register(RelayCollector(self._rows))
        self._httpd = _server(address, _handler(self))
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> Address:
        host, port = self._httpd.socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def socket(self) -> socket.socket:
        """The listening socket (a forked worker closes its copy)."""
        return self._httpd.socket

    def _rows(self) -> dict[int, RelayCounters]:
        return {i: self.shared.read(i) for i in range(self.shared.workers)}

    def render_metrics(self) -> str:
        return render(self.registry)

    def health(self) -> tuple[int, dict[str, object]]:
        status = self.status()
        healthy = status.running == status.configured
        body: dict[str, object] = {
            "status": "ok" if healthy else "degraded",
            "workers": status.configured,
            "running": status.running,
        }
        return (200 if healthy else 503), body

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="relay-metrics", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()


def _server(address: Address, handler: type[BaseHTTPRequestHandler]) -> HTTPServer:
    """A one-thread HTTP server bound to ``address`` (http.server is imported only by a
    relay that serves metrics: it is a tenth of the supervisor's start-up imports)."""
    from http.server import HTTPServer

    class QuietServer(HTTPServer):
        address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET

        def handle_error(self, request: object, client_address: object) -> None:
            """A request that failed (a scraper gone mid-reply) is not worth a traceback."""

    return QuietServer(address, handler)


class _DeadlineReader(io.RawIOBase):
    """A socket's bytes until ``deadline`` (``time.monotonic()``); after it, every read
    raises ``TimeoutError``, which the HTTP handler answers by closing the connection."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request not received in time")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


def _handler(server: MetricsServer) -> type[BaseHTTPRequestHandler]:
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        timeout = server.request_timeout
        server_version = "voice-relay"

        def setup(self) -> None:
            super().setup()
            # The request is read against one deadline, not a timeout per read.
            deadline = time.monotonic() + server.request_timeout
            self.rfile.close()
            self.rfile = io.BufferedReader(_DeadlineReader(self.connection, deadline))

        def do_GET(self) -> None:
            path = self.path.partition("?")[0]
            if path == "/metrics":
                self._reply(200, server.render_metrics(), CONTENT_TYPE)
            elif path == "/healthz":
                code, body = server.health()
                self._reply(code, json.dumps(body) + "\n", "application/json")
            else:
                self._reply(404, "no such resource: try /metrics or /healthz\n", "text/plain")

        def _reply(self, code: int, text: str, content_type: str) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            """Silent: see the module docstring (no stderr from this thread)."""

    return Handler
