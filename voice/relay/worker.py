"""One relay worker: a Trio driver that moves datagrams between two sockets and a Router.

All forwarding decisions live in the sans-IO :class:`~voice.relay.router.Router`; this module
only owns the sockets, the clock, DNS lookups and the periodic housekeeping. A worker is
three tasks in one nursery:

* the **public pump**: datagrams from clients -> ``Router.from_client`` -> internal socket;
* the **internal pump**: shim datagrams from transceivers -> ``Router.from_transceiver`` ->
  public socket;
* **housekeeping**: once a second, expire idle entries and refresh the wall-clock offset
  that token expiry needs; every ``log_interval`` seconds, log the counters.

DNS lookups the directory asks for run as extra tasks in the same nursery.

Why the pumps do not use ``trio.socket``: every ``await sock.recvfrom()`` is a checkpoint,
a trip through Trio's scheduler that costs several microseconds even when a datagram is
already waiting, which is more than all of the relay's own work per packet. So each pump
waits for readability once (``trio.lowlevel.wait_readable``) and then drains the
non-blocking socket with plain ``recvfrom`` calls, up to :data:`BATCH` datagrams, before it
waits (and so yields) again. Under load the scheduler cost is spread over a batch; when idle,
a datagram is handled as soon as it arrives. A send that the kernel refuses (``EAGAIN`` when
the buffer is full, or an ICMP error) is counted and the datagram dropped: UDP's contract.
And a datagram whose handling raises (a bug: the router is meant never to) is counted as
``internal-error`` and dropped too: one datagram must never end the loop that carries every
call of the worker.

:func:`serve_relay` runs one worker in the caller's nursery (tests, ``voice serve``);
:mod:`voice.relay.supervisor` runs N of them in their own processes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable

import trio

from voice.relay import pktinfo
from voice.relay.config import RelayConfig
from voice.relay.counters import DropReason, RelayCounters
from voice.relay.directory import ResolveRequest
from voice.relay.fleet import FleetRequest, parse_fleet
from voice.relay.router import HOUSEKEEPING_INTERVAL, Router
from voice.relay.steering import bind_udp
from voice.types import Address

log = logging.getLogger(__name__)

#: Datagrams handled per wake-up before the pump yields to the other tasks.
BATCH = 64
#: Larger than any UDP payload a WebRTC peer sends (they stay under the path MTU).
RECEIVE_SIZE = 2048
#: Seconds a DNS lookup may take before it counts as failed.
RESOLVE_TIMEOUT = 2.0

#: Seconds between two logged tracebacks of datagrams that made the router raise.
ERROR_LOG_INTERVAL = 10.0

#: Resolves ``(host, port)`` to an address, or None; the default uses getaddrinfo.
Resolver = Callable[[str, int], Awaitable[Address | None]]
#: Resolves ``(host, port)`` to every address the name has (a cluster's relays).
ResolveAll = Callable[[str, int], Awaitable[list[Address]]]


class RelayWorker:
    """One worker's sockets and tasks around a :class:`Router`.

    Sockets may be handed in (the supervisor creates them so they outlive the worker), or
    are bound from the config. ``resolver`` replaces DNS in tests.
    """

    def __init__(
        self,
        config: RelayConfig,
        *,
        index: int = 0,
        public_socket: socket.socket | None = None,
        internal_socket: socket.socket | None = None,
        resolver: Resolver | None = None,
        resolve_all: ResolveAll | None = None,
    ) -> None:
        self.config = config
        self.index = index
        self.router: Router = config.build_router()
        self.counters: RelayCounters = self.router.counters
        self._given = (public_socket, internal_socket)
        self._resolver = resolver or self._getaddrinfo
        self._public: socket.socket | None = None
        self._internal: socket.socket | None = None
        self._nursery: trio.Nursery | None = None
        self.public_address: Address | None = None
        self.internal_address: Address | None = None
        #: Set once :meth:`run` has returned and the worker's own sockets are closed.
        self.stopped = trio.Event()
        self._next_error_log = 0.0
        self._resolve_all = resolve_all or self._resolve_all_getaddrinfo
        self._fleet_stamp: int | None = None
        self._next_fleet_check = float("-inf")

    def stop(self) -> None:
        """Ends :meth:`run` (as a crash would, but cleanly); wait on :attr:`stopped`."""
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def run(
        self, *, task_status: trio.TaskStatus[Address] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Runs until cancelled; ``task_status.started`` gets the public address."""
        given_public, given_internal = self._given
        owned: list[socket.socket] = []
        try:
            if given_public is None:
                given_public = bind_udp(self.config.public)
                owned.append(given_public)
            if given_internal is None:
                given_internal = bind_udp(self.config.internal)
                owned.append(given_internal)
            self._public, self._internal = given_public, given_internal
            for sock in (given_public, given_internal):
                sock.setblocking(False)
            # VOICE-RELAY §11: on a wildcard address, learn where each client wrote to, so
            # that its replies come from there.
            wildcard = pktinfo.is_wildcard(given_public)
            if wildcard:
                pktinfo.enable(given_public)
            self.public_address = given_public.getsockname()[:2]
            self.internal_address = given_internal.getsockname()[:2]
            # Token expiry needs the wall clock.
            self.router.handle_timeout(trio.current_time(), wall=time.time())
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._pump_public_wildcard if wildcard else self._pump_public)
                nursery.start_soon(self._pump_internal, wildcard)
                nursery.start_soon(self._housekeeping)
                log.info(
                    "relay worker %d ready: public %s, internal %s",
                    self.index,
                    self.public_address,
                    self.internal_address,
                )
                task_status.started(self.public_address)
        finally:
            for sock in owned:
                trio.lowlevel.notify_closing(sock)
                sock.close()
            self.stopped.set()

    # The two pumps are the hot path: local names, no attribute lookups in the loop.

    async def _pump_public(self) -> None:
        """Clients' datagrams to the transceivers, for a socket bound to one address.

        Kept apart from :meth:`_pump_public_wildcard` on purpose, although the loops read
        alike: each is the per-datagram hot path, and one loop for both would pay a branch
        and a second receive call's shape on every datagram (``recvfrom`` here, ``recvmsg``
        with the local address there). A change to one loop belongs in the other too.
        """
        assert self._public is not None and self._internal is not None
        sock, out = self._public, self._internal
        recvfrom, sendto = sock.recvfrom, out.sendto
        forward = self.router.from_client
        counters = self.counters
        directory = self.router.directory
        fleet = self.router.fleet
        wait_readable, clock = trio.lowlevel.wait_readable, trio.current_time
        ipv6 = sock.family == socket.AF_INET6
        while True:
            await wait_readable(sock)
            now = clock()
            for _ in range(BATCH):
                try:
                    data, client = recvfrom(RECEIVE_SIZE)
                except BlockingIOError:
                    break
                except OSError:
                    continue  # an ICMP error queued on the socket; nothing to receive
                if ipv6:
                    client = client[:2]
                try:
                    outgoing = forward(data, client, now)
                except Exception:
                    self._failed("client", client)
                    continue
                if outgoing is None:
                    continue
                try:
                    sendto(outgoing[0], outgoing[1])
                except OSError:
                    counters.drop(DropReason.SEND_FAILED)
                else:
                    counters.to_transceiver_packets += 1
                    counters.to_transceiver_bytes += len(outgoing[0])
            if directory.wants_resolution or fleet.wants_resolution:
                self._start_lookups()

    async def _pump_public_wildcard(self) -> None:
        """:meth:`_pump_public` for a socket bound to a wildcard address: ``recvmsg`` gives
        the address each client wrote to, which the router keeps for the replies.

        A separate copy of that loop on purpose (per-datagram speed: no branch on the
        socket's kind inside it); keep the two in step.
        """
        assert self._public is not None and self._internal is not None
        sock, out = self._public, self._internal
        receive, sendto = pktinfo.receive, out.sendto
        forward = self.router.from_client
        counters = self.counters
        directory = self.router.directory
        fleet = self.router.fleet
        wait_readable, clock = trio.lowlevel.wait_readable, trio.current_time
        while True:
            await wait_readable(sock)
            now = clock()
            for _ in range(BATCH):
                try:
                    data, client, local = receive(sock, RECEIVE_SIZE)
                except BlockingIOError:
                    break
                except OSError:
                    continue
                try:
                    outgoing = forward(data, client, now, local)
                except Exception:
                    self._failed("client", client)
                    continue
                if outgoing is None:
                    continue
                try:
                    sendto(outgoing[0], outgoing[1])
                except OSError:
                    counters.drop(DropReason.SEND_FAILED)
                else:
                    counters.to_transceiver_packets += 1
                    counters.to_transceiver_bytes += len(outgoing[0])
            if directory.wants_resolution or fleet.wants_resolution:
                self._start_lookups()

    async def _pump_internal(self, wildcard: bool) -> None:
        assert self._public is not None and self._internal is not None
        sock, out = self._internal, self._public
        recvfrom = sock.recvfrom
        sendto: Callable[[bytes, Address], object] = out.sendto
        if wildcard:
            local_of, send_from = self.router.local_of, pktinfo.send

            def sendto(data: bytes, client: Address) -> None:
                send_from(out, data, client, local_of(client))

        forward = self.router.from_transceiver
        # VOICE-RELAY §12: backbone datagrams leave by this same socket (to a transceiver or
        # to another cluster's relay); the router queues them here.
        outbox = self.router.outbox
        send_internal = self._send_internal
        counters = self.counters
        wait_readable, clock = trio.lowlevel.wait_readable, trio.current_time
        ipv6 = sock.family == socket.AF_INET6
        while True:
            await wait_readable(sock)
            now = clock()
            for _ in range(BATCH):
                try:
                    data, source = recvfrom(RECEIVE_SIZE)
                except BlockingIOError:
                    break
                except OSError:
                    continue
                if ipv6:
                    source = source[:2]
                try:
                    outgoing = forward(data, source, now)
                except Exception:
                    outbox.clear()
                    self._failed("transceiver", source)
                    continue
                if outbox:
                    send_internal(self.router.datagrams_to_send())
                if outgoing is None:
                    continue
                try:
                    sendto(outgoing[0], outgoing[1])
                except OSError:
                    counters.drop(DropReason.SEND_FAILED)
                else:
                    counters.to_client_packets += 1
                    counters.to_client_bytes += len(outgoing[0])

    def _failed(self, side: str, source: Address) -> None:
        """A datagram made the router raise: a bug of ours, not the peer's fault, but the
        peer chose the bytes. It is counted and dropped (VOICE-RELAY §7) so that no datagram
        can end the worker and every call it carries; the traceback is logged at most once
        per :data:`ERROR_LOG_INTERVAL`, so a flood of such datagrams cannot flood the log."""
        self.counters.drop(DropReason.INTERNAL_ERROR)
        now = time.monotonic()
        if now >= self._next_error_log:
            self._next_error_log = now + ERROR_LOG_INTERVAL
            log.exception("relay worker %d: datagram from %s %s failed", self.index, side, source)

    def _start_lookups(self) -> None:
        assert self._nursery is not None
        for request in self.router.directory.take_requests():
            self._nursery.start_soon(self._lookup, request)
        for fleet_request in self.router.fleet.take_requests():
            self._nursery.start_soon(self._lookup_fleet, fleet_request)

    async def _lookup_fleet(self, request: FleetRequest) -> None:
        """Resolves a cluster's relay name to all its addresses (VOICE-RELAY §12)."""
        addresses: list[Address] | None = None
        with trio.move_on_after(RESOLVE_TIMEOUT):
            try:
                addresses = await self._resolve_all(request.host, request.port)
            except OSError:
                addresses = None
        if not addresses:
            log.warning("relay worker %d: cannot resolve %s", self.index, request.host)
        try:
            self.router.fleet_resolved(request.cluster, addresses, trio.current_time())
        except Exception:
            self._failed("fleet", (request.host, request.port))
            return
        self._send_internal(self.router.datagrams_to_send())

    async def _resolve_all_getaddrinfo(self, host: str, port: int) -> list[Address]:
        assert self._internal is not None
        infos = await trio.socket.getaddrinfo(
            host, port, family=self._internal.family, type=socket.SOCK_DGRAM
        )
        return [(str(sockaddr[0]), int(sockaddr[1])) for *_, sockaddr in infos]

    def _reload_fleet(self, now: float) -> None:
        """Re-reads the fleet file when it changed (VOICE-RELAY §12): a fleet change needs no
        restart. A file that does not parse is logged and the last good view kept."""
        path = self.config.fleet_file
        if path is None or now < self._next_fleet_check:
            return
        self._next_fleet_check = now + self.config.fleet_refresh
        try:
            stamp = os.stat(path).st_mtime_ns
            if stamp == self._fleet_stamp:
                return
            with open(path, encoding="utf-8") as f:
                static = parse_fleet(f.read(), toml=path.endswith(".toml"))
        except (OSError, ValueError) as exc:
            log.warning("relay worker %d: fleet file %s not reloaded: %s", self.index, path, exc)
            return
        self._fleet_stamp = stamp
        static.update(self.config.fleet_static)  # flags win over the file
        self.router.fleet.replace_static(static)
        self.router.fleet_changed(now)
        log.info("relay worker %d: fleet view reloaded, %d clusters", self.index, len(static))

    async def _lookup(self, request: ResolveRequest) -> None:
        address: Address | None = None
        with trio.move_on_after(RESOLVE_TIMEOUT):
            try:
                address = await self._resolver(request.host, request.port)
            except OSError:
                address = None
        if address is None:
            log.warning("relay worker %d: cannot resolve %s", self.index, request.host)
        try:
            self.router.resolved(request.transceiver, address, trio.current_time())
        except Exception:
            self._failed("directory", (request.host, request.port))
            return
        self._send_internal(self.router.datagrams_to_send())

    def _send_internal(self, datagrams: list[tuple[bytes, Address]]) -> None:
        assert self._internal is not None
        for data, address in datagrams:
            try:
                self._internal.sendto(data, address)
            except OSError:
                self.counters.drop(DropReason.SEND_FAILED)
            else:
                self.counters.to_transceiver_packets += 1
                self.counters.to_transceiver_bytes += len(data)

    async def _getaddrinfo(self, host: str, port: int) -> Address | None:
        assert self._internal is not None
        infos = await trio.socket.getaddrinfo(
            host, port, family=self._internal.family, type=socket.SOCK_DGRAM
        )
        for *_, sockaddr in infos:
            return str(sockaddr[0]), int(sockaddr[1])
        return None

    async def _housekeeping(self) -> None:
        interval = self.config.log_interval
        next_log = trio.current_time() + interval
        while True:
            now = trio.current_time()
            self.router.handle_timeout(now, wall=time.time())
            self._reload_fleet(now)
            if interval > 0 and now >= next_log:
                log.info("%s", self.counters.log_line(self.index))
                next_log = now + interval
            await trio.sleep_until(self.router.get_timer() or now + HOUSEKEEPING_INTERVAL)


async def serve_relay(
    config: RelayConfig, *, task_status: trio.TaskStatus[Address] = trio.TASK_STATUS_IGNORED
) -> None:
    """Runs one relay worker in the caller's nursery until cancelled.

    The in-process form, for tests and ``voice serve``: no reuseport, no extra processes.
    ``task_status.started`` receives the bound public address.
    """
    await RelayWorker(config).run(task_status=task_status)
