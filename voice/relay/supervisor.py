"""N relay workers in N processes on one public port, and the process that keeps them so.

One Python process forwards on one core; a relay host has several. The supervisor runs one
worker process per core (each with its own ``trio.run``, pinned with ``sched_setaffinity``)
and makes sure a client's packets always reach the worker whose soft table holds the
client's entry, in both directions and across restarts (VOICE-RELAY §8):

* **Client -> relay.** All workers receive on the public port through one ``SO_REUSEPORT``
  group. The supervisor creates the group's N sockets itself, in index order, and attaches
  a classic BPF program that picks the socket by a hash of the client's source address and
  port (:mod:`voice.relay.steering`). The supervisor never closes these sockets: a worker
  that dies is replaced by a new process that inherits the *same* socket, so the group is
  never reshuffled and the hash keeps pointing each client at the same index. A relay that
  is restarted as a whole builds the same group in the same order, so the same clients land
  on the same indices again.
* **Transceiver -> relay.** Each worker also has its own internal socket (port
  ``internal base + index``), also created and kept by the supervisor. The transceiver
  answers to the source address of the last shim packet it got for a client, which is the
  internal socket of the worker that received the client's packet, so replies come back to
  that worker; and a reply recreates the entry there (VOICE-RELAY §4), which is where the
  hash sends the client's next packet.

So after a worker is killed, its replacement starts with an empty table and the packets
that queued in its sockets meanwhile; the first packet from either side recreates each
entry. Workers are started with ``fork`` (no re-import, so a replacement is up in
milliseconds) and die with the supervisor (``PR_SET_PDEATHSIG``), so a killed supervisor
leaves no orphan holding the port.

Alternatives considered: a worker choice the transceiver computes (it would have to know N
and the hash, and every fleet-wide change of N would misroute), and connected per-client
sockets (a socket per session, the very thing the relay exists to avoid). The BPF program
is the only one of the three the kernel enforces without help. It needs the sockets to keep
their order, so two relays must not share a port at the same time: start a new relay only
after the old one has exited.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType

from voice.relay.config import RelayConfig
from voice.relay.exporter import MetricsServer, SharedCounters, WorkerStatus, publish_forever
from voice.relay.steering import attach_steering, bind_udp, open_reuseport_group
from voice.types import Address

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
#: A worker that exits sooner than this after starting counts as crash-looping.
QUICK_EXIT = 1.0
MAX_BACKOFF = 5.0


@dataclass(slots=True)
class _Slot:
    """What the supervisor keeps per worker index; only the process is ever replaced."""

    index: int
    public: socket.socket
    internal: socket.socket
    cpu: int | None
    process: multiprocessing.process.BaseProcess | None = None
    started: float = 0.0
    quick_exits: int = 0
    restart_at: float | None = None


def default_workers() -> int:
    """One worker per CPU this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _worker_process(
    config: RelayConfig,
    slot: _Slot,
    others: Sequence[socket.socket],
    ready: int,
    parent: int,
    *,
    shared: SharedCounters,
) -> None:
    """The body of a forked worker process: reset what fork copied, then ``trio.run``."""
    _die_with_parent(parent)
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the supervisor, which stops us
    for sock in others:
        sock.close()
    if slot.cpu is not None:
        os.sched_setaffinity(0, {slot.cpu})

    import trio

    from voice.relay.worker import RelayWorker

    async def main() -> None:
        worker = RelayWorker(
            config, index=slot.index, public_socket=slot.public, internal_socket=slot.internal
        )
        # A replacement continues its index's counters, so they never go backwards.
        shared.restore(slot.index, worker.counters)
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run)
            nursery.start_soon(publish_forever, shared, slot.index, worker.counters)
            os.write(ready, bytes([slot.index % 256]))

    trio.run(main)


class Supervisor:
    """Creates the sockets, starts and restarts the workers, stops them on a signal."""

    def __init__(self, config: RelayConfig, metrics: Address | None = None) -> None:
        self.config = config
        self.workers = config.workers if config.workers > 0 else default_workers()
        self.slots: list[_Slot] = []
        #: Where to serve /metrics and /healthz (voice.relay.exporter), or None.
        self.metrics_address = metrics
        self.metrics: MetricsServer | None = None
        self.shared = SharedCounters(self.workers)
        self.restarts = 0
        self.steering = "none"
        self._stop = False
        self._context = multiprocessing.get_context("fork")

    def _open(self) -> None:
        host, port = self.config.public
        publics = open_reuseport_group(host, port, self.workers)
        try:
            attach_steering(publics[0], self.workers)
            self.steering = "bpf"
        except OSError as exc:
            # The kernel's own reuseport hash is also stable per client while the group is
            # unchanged, which the supervisor guarantees; it just cannot be computed outside.
            self.steering = "kernel-hash"
            log.warning("reuseport BPF refused (%s); using the kernel's own hash", exc)
        internal_host, base = self.config.internal
        cpus = sorted(os.sched_getaffinity(0)) if self.config.pin_cpus else []
        for index, public in enumerate(publics):
            internal = bind_udp((internal_host, base + index if base else 0))
            cpu = cpus[index % len(cpus)] if cpus else None
            self.slots.append(_Slot(index, public, internal, cpu))

    def _spawn(self, slot: _Slot, ready: int) -> int:
        others = [
            s for other in self.slots if other is not slot for s in (other.public, other.internal)
        ]
        if self.metrics is not None:
            others.append(self.metrics.socket)
        process = self._context.Process(
            target=_worker_process,
            args=(self.config, slot, others, ready, os.getpid()),
            kwargs={"shared": self.shared},
            name=f"relay-worker-{slot.index}",
            daemon=False,
        )
        process.start()
        slot.process = process
        slot.started = time.monotonic()
        slot.restart_at = None
        return process.pid or 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop = True

    def run(self) -> int:
        """Runs until SIGTERM or SIGINT; returns the exit status."""
        self._open()
        if self.metrics_address is not None:
            self.metrics = MetricsServer(self.metrics_address, self.shared, self.status)
        ready_r, ready_w = os.pipe()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        previous_handlers = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        previous_wakeup = signal.set_wakeup_fd(wake_w)
        try:
            for slot in self.slots:
                self._spawn(slot, ready_w)
            if self.metrics is not None:
                self.metrics.start()
                log.info("relay metrics on http://%s:%d/metrics", *self.metrics.address)
            self._loop(ready_r, wake_r, ready_w)
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            self._terminate()
            if self.metrics is not None:
                self.metrics.close()
            self.shared.close()
            for fd in (ready_r, ready_w, wake_r, wake_w):
                os.close(fd)
            for slot in self.slots:
                slot.public.close()
                slot.internal.close()
        return 0

    def _loop(self, ready_r: int, wake_r: int, ready_w: int) -> None:
        pending_ready = set(range(self.workers))
        while not self._stop:
            waits: list[int] = [ready_r, wake_r]
            by_sentinel = {}
            for slot in self.slots:
                if slot.process is not None:
                    by_sentinel[slot.process.sentinel] = slot
            waits.extend(by_sentinel)
            deadlines = [s.restart_at for s in self.slots if s.restart_at is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for fired in multiprocessing.connection.wait(waits, timeout):
                if fired == wake_r:
                    os.read(wake_r, 512)
                elif fired == ready_r:
                    for index in os.read(ready_r, 512):
                        self._on_ready(index, pending_ready)
                else:
                    assert isinstance(fired, int)
                    self._on_exit(by_sentinel[fired])
            now = time.monotonic()
            for slot in self.slots:
                if slot.restart_at is not None and slot.restart_at <= now and not self._stop:
                    pid = self._spawn(slot, ready_w)
                    log.info("relay worker %d respawned (pid %d)", slot.index, pid)

    def _on_ready(self, index: int, pending: set[int]) -> None:
        slot = self.slots[index]
        if index in pending:
            pending.discard(index)
            if not pending:
                first = self.slots[0]
                public = first.public.getsockname()[:2]
                internal = [s.internal.getsockname()[1] for s in self.slots]
                # Import the worker's code (Trio) now that the workers run, so a respawned
                # worker is forked with it already loaded and is up in milliseconds. Before
                # the first fork it would only delay the start: the sockets are bound first.
                import voice.relay.worker  # noqa: F401

                log.info(
                    "relay ready: public %s:%d, %d workers (steering: %s), internal ports %s, "
                    "pids %s",
                    public[0],
                    public[1],
                    self.workers,
                    self.steering,
                    ",".join(map(str, internal)),
                    ",".join(str(s.process.pid if s.process else 0) for s in self.slots),
                )
        else:
            log.info("relay worker %d ready again", slot.index)

    def _on_exit(self, slot: _Slot) -> None:
        assert slot.process is not None
        slot.process.join()
        code = slot.process.exitcode
        lived = time.monotonic() - slot.started
        slot.process = None
        if self._stop:
            return
        self.restarts += 1
        slot.quick_exits = slot.quick_exits + 1 if lived < QUICK_EXIT else 0
        delay = 0.0 if slot.quick_exits <= 1 else min(MAX_BACKOFF, 0.1 * 2**slot.quick_exits)
        log.warning(
            "relay worker %d exited (status %s) after %.1f s; restarting in %.1f s",
            slot.index,
            code,
            lived,
            delay,
        )
        slot.restart_at = time.monotonic() + delay

    def status(self) -> WorkerStatus:
        """How many workers run (read by the metrics thread: a snapshot, no lock needed)."""
        running = sum(1 for slot in list(self.slots) if slot.process is not None)
        return WorkerStatus(configured=self.workers, running=running, restarts=self.restarts)

    def _terminate(self) -> None:
        running = [s.process for s in self.slots if s.process is not None]
        for process in running:
            process.terminate()
        for process in running:
            process.join(2.0)
            if process.exitcode is None:
                process.kill()
                process.join()


def run_supervisor(config: RelayConfig, metrics: Address | None = None) -> int:
    """Runs ``config.workers`` worker processes (0: one per CPU) until SIGTERM/SIGINT, and
    with ``metrics`` an HTTP server there for /metrics and /healthz."""
    return Supervisor(config, metrics).run()
