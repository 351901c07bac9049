"""Where datagrams enter and leave the transceiver, and how they find their session.

Every session of a transceiver shares its sockets. A datagram is routed in two ways:

* a STUN Binding request by the first half of its USERNAME, which is the session's own
  ICE ufrag (RFC 8445 §7.2.2): that is how a session is found for a client address it
  has never seen, and how it follows a client whose NAT mapping changed;
* everything else (DTLS, SRTP, SRTCP) by the client address, which a session claims once
  its ICE agent has authenticated a check from that address.

Datagrams reach us on *paths*: the direct path is a UDP socket facing clients; a relay path
is the internal socket the relay forwards to, where each datagram carries the client's
address in a shim header (VOICE-SHIM). Sessions never know which: they see the client's
real address either way, and a reply goes back on the path the client's latest datagram
came in on. Adding a path touches nothing in the session logic.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol

import trio
from prometheus_client import Counter

from voice.relay import pktinfo, ratelimit
from voice.relay.errors import RelayParseError
from voice.relay.networks import NetworkAllowlist
from voice.relay.ratelimit import TokenBucket
from voice.relay.shim import (
    INBOUND,
    VERSION_FORWARD,
    decode_forward,
    decode_shim,
    encode_shim,
)
from voice.stun import PacketKind, classify, peek_username
from voice.types import Address

log = logging.getLogger(__name__)

#: Seconds between two logged tracebacks of datagrams whose routing raised.
ERROR_LOG_INTERVAL = 10.0


class Path(Protocol):
    """A way to send a datagram to a client, without waiting: UDP sockets are non-blocking,
    and a datagram the kernel will not take now is better dropped than late."""

    name: str

    def send(self, data: bytes, client: Address) -> None: ...


class Deliverable(Protocol):
    """What the endpoint needs of a session: a non-blocking inbox."""

    id: str
    ufrag: str

    def deliver(self, data: bytes, client: Address, arrived: float) -> bool: ...


@dataclass
class DirectPath:
    """The client-facing UDP socket: datagrams go out as they are."""

    sock: socket.socket
    name: str = "direct"
    #: On a wildcard-bound socket, the address the client wrote to: replies leave from it
    #: (VOICE-RELAY §11). None: the socket's own address.
    local: str | None = None

    def send(self, data: bytes, client: Address) -> None:
        if self.local is None:
            self.sock.sendto(data, client)
        else:
            pktinfo.send(self.sock, data, client, self.local)


@dataclass
class RelayPath:
    """The internal socket behind a relay: datagrams go out wrapped in the shim header,
    to the relay socket the client's latest datagram came through (VOICE-SHIM §6), which
    is the worker that holds the client's table entry."""

    sock: socket.socket
    relay: Address
    name: str = "relay"
    #: On a wildcard-bound relay input, the address the relay wrote to, which is the one
    #: it knows this transceiver by (VOICE-SHIM §7). None: the socket's own address.
    local: str | None = None
    #: VOICE-SHIM §10: for a call that entered the fleet at another cluster's relay, the
    #: version 2 header every reply repeats (the client, the session's ids, the ingress as
    #: via, direction outbound). None: version 1, the client's own shim header.
    header: bytes | None = None

    def send(self, data: bytes, client: Address) -> None:
        wire = encode_shim(client, data) if self.header is None else self.header + data
        pktinfo.send(self.sock, wire, self.relay, self.local)


#: VOICE-RELAY §10 at the transceiver: datagrams per second (and burst) an authenticated
#: client address may send; the relay's defaults, so that direct mode is protected alike.
CLIENT_RATE = ratelimit.CLIENT_RATE
CLIENT_BURST = ratelimit.CLIENT_BURST
#: STUN checks per second (and burst) a session takes from addresses it has not
#: authenticated: a browser's checks from its few candidates fit; a flood of forged or
#: unsigned checks naming the session's ufrag costs it at most this many parses, HMACs and
#: error responses, and costs every other session nothing.
UNVERIFIED_RATE = 25.0
UNVERIFIED_BURST = 50.0
#: Unauthenticated source addresses whose budget (the same as a session's for unverified
#: checks) is remembered; the least recently seen is forgotten first.
MAX_SOURCES = 4096
#: Authenticated addresses kept per session: a caller's candidates, with room to spare. A
#: caller that authenticates from more (its own call, many source addresses) makes its
#: oldest address give way, so the table is bounded by the sessions, not by the sources.
MAX_ADDRESSES = 16


@dataclass
class SessionTable:
    """Sessions by ufrag and by the client addresses their ICE agents have accepted."""

    by_ufrag: dict[str, Deliverable] = field(default_factory=dict)
    by_id: dict[str, Deliverable] = field(default_factory=dict)
    by_address: dict[Address, Deliverable] = field(default_factory=dict)
    path_of: dict[Address, Path] = field(default_factory=dict)
    #: The packet budget of each authenticated address.
    budget_of: dict[Address, TokenBucket] = field(default_factory=dict)
    #: Each session's budget for checks from addresses it has not authenticated.
    unverified: dict[str, TokenBucket] = field(default_factory=dict)
    #: Each session's authenticated addresses, oldest first.
    addresses: dict[str, list[Address]] = field(default_factory=dict)
    #: The datagram being delivered: its client and the path it came on. A session's ICE
    #: agent authenticates the client *during* delivery, and :meth:`claim` binds the path
    #: then, so only authenticated addresses ever get a path (and unauthenticated checks
    #: naming a live ufrag leave nothing behind).
    arriving: tuple[Address, Path] | None = None

    def __len__(self) -> int:
        return len(self.by_id)

    def add(self, session: Deliverable) -> None:
        self.by_id[session.id] = session
        self.by_ufrag[session.ufrag] = session
        # Buckets start at -inf: their first take fills them to the burst it is given.
        self.unverified[session.id] = TokenBucket(0.0, -math.inf)
        self.addresses[session.id] = []

    def claim(self, session: Deliverable, client: Address) -> None:
        """Routes ``client``'s non-STUN datagrams to ``session`` from now on, and answers it
        on the path its authenticated datagram came in on."""
        previous = self.by_address.get(client)
        if previous is not session:
            if previous is not None:
                self._forget(previous, client)
            owned = self.addresses.setdefault(session.id, [])
            if len(owned) >= MAX_ADDRESSES:
                self._forget(session, owned[0])
            owned.append(client)
            self.by_address[client] = session
            self.budget_of[client] = TokenBucket(0.0, -math.inf)
        if self.arriving is not None and self.arriving[0] == client:
            self.path_of[client] = self.arriving[1]

    def _forget(self, session: Deliverable, client: Address) -> None:
        owned = self.addresses.get(session.id)
        if owned is not None and client in owned:
            owned.remove(client)
        self.by_address.pop(client, None)
        self.path_of.pop(client, None)
        self.budget_of.pop(client, None)

    def remove(self, session: Deliverable) -> None:
        self.by_id.pop(session.id, None)
        self.by_ufrag.pop(session.ufrag, None)
        self.unverified.pop(session.id, None)
        for addr in self.addresses.pop(session.id, []):
            if self.by_address.get(addr) is session:
                del self.by_address[addr]
                self.path_of.pop(addr, None)
                self.budget_of.pop(addr, None)


class Endpoint:
    """Receives from every path, routes to sessions, sends replies on the right path."""

    def __init__(self, table: SessionTable, packets: Counter, drops: Counter) -> None:
        self.table = table
        self._packets = packets
        self._drops = drops
        # The per-datagram series, looked up once: ``Counter.labels`` takes a lock and builds
        # a key on every call, too much for the media path.
        self._series: dict[tuple[str, str], Counter] = {}
        self.on_unrouted: Callable[[bytes, Address], None] | None = None
        #: The budgets of VOICE-RELAY §10 (attributes, so a benchmark can lift them).
        self.client_rate, self.client_burst = CLIENT_RATE, CLIENT_BURST
        self.unverified_rate, self.unverified_burst = UNVERIFIED_RATE, UNVERIFIED_BURST
        self._sources: dict[Address, TokenBucket] = {}
        self._next_error_log = 0.0

    def _count(self, direction: str, path: Path) -> None:
        series = self._series.get((direction, path.name))
        if series is None:
            series = self._packets.labels(direction=direction, path=path.name)
            self._series[direction, path.name] = series
        series.inc()

    def dispatch(self, data: bytes, client: Address, path: Path, arrived: float) -> None:
        """Routes one datagram from ``client`` that arrived on ``path`` at ``arrived``
        (Trio clock)."""
        self._count("in", path)
        if not 0 < client[1] <= 0xFFFF:
            # Port 0 cannot be answered (nor named in a shim header): the source is forged.
            self._drops.labels(reason="bad_source").inc()
            return
        table = self.table
        # The budgets come first, before anything is parsed: a flooding source must cost
        # a dict lookup and a bucket, not a STUN parse (VOICE-RELAY §10).
        claimed = table.by_address.get(client)
        if claimed is not None:
            if not table.budget_of[client].take(arrived, self.client_rate, self.client_burst):
                self._drops.labels(reason="rate_limited").inc()
                return
        elif not self._unverified_source(client, arrived):
            self._drops.labels(reason="unverified_source_limit").inc()
            return
        session: Deliverable | None = None
        if classify(data) is PacketKind.STUN:
            username = peek_username(data)
            if username is not None:
                ufrag = username.partition(b":")[0]
                session = table.by_ufrag.get(ufrag.decode("ascii", "replace"))
        if session is None:
            session = claimed
        if session is None:
            self._drops.labels(reason="no_session").inc()
            return
        if claimed is session:
            # VOICE-SHIM §6: an authenticated client is answered on the path (relay worker)
            # its latest datagram came in on.
            table.path_of[client] = path
        elif not table.unverified[session.id].take(
            arrived, self.unverified_rate, self.unverified_burst
        ):
            # A check from an address the session has not authenticated: the session
            # parses, verifies and answers only so many a second, whatever the number of
            # sources (issue 11 §3).
            self._drops.labels(reason="unverified_check_limit").inc()
            return
        table.arriving = (client, path)
        try:
            delivered = session.deliver(data, client, arrived)
        finally:
            table.arriving = None
        if not delivered:
            # The session has ended and is on its way out of the table.
            self._drops.labels(reason="session_ended").inc()

    def _unverified_source(self, client: Address, arrived: float) -> bool:
        """Charges one datagram to an address no session has authenticated.

        The buckets are kept least recently charged first and bounded: a forgotten source
        starts with a full bucket, which only ever makes the limit more lenient.
        """
        sources = self._sources
        bucket = sources.pop(client, None)
        if bucket is None:
            bucket = TokenBucket(0.0, -math.inf)
            if len(sources) >= MAX_SOURCES:
                del sources[next(iter(sources))]
        sources[client] = bucket
        return bucket.take(arrived, self.unverified_rate, self.unverified_burst)

    def send(self, data: bytes, client: Address) -> None:
        path = self.table.path_of.get(client)
        arriving = self.table.arriving
        if path is None and arriving is not None and arriving[0] == client:
            # An answer to the datagram being delivered, from a client not (yet) bound:
            # an error response to a bad check goes back the way the check came.
            path = arriving[1]
        if path is None:
            self._drops.labels(reason="no_path").inc()
            return
        self._count("out", path)
        try:
            path.send(data, client)
        except OSError as exc:
            # An unreachable client must not end the session (ICE consent decides that).
            self._drops.labels(reason="send_error").inc()
            log.debug("send to %s failed: %s", client, exc)

    async def serve_direct(self, sock: socket.socket) -> None:
        """Reads the client-facing socket forever."""
        paths: dict[str | None, DirectPath] = {None: DirectPath(sock)}
        async for data, addr, local, arrived in _datagrams(sock):
            path = paths.get(local)
            if path is None:
                if len(paths) > MAX_LOCAL_ADDRESSES:
                    paths = {None: paths[None]}
                path = paths[local] = DirectPath(sock, local=local)
            try:
                self.dispatch(data, addr, path, arrived)
            except Exception:
                self._failed(addr)

    async def serve_relays(self, sock: socket.socket, relays: NetworkAllowlist) -> None:
        """Reads the internal socket that relays forward to, forever."""
        paths: dict[tuple[Address, str | None], RelayPath] = {}
        #: The local address of the datagram being handled (None: not a wildcard socket).
        arrival: list[str | None] = [None]

        def path_to(relay: Address) -> RelayPath:
            # Asked only for an allowed relay (VOICE-SHIM §7): the paths are bounded by
            # the relays' sockets and this host's addresses.
            local = arrival[0]
            path = paths.get((relay, local))
            if path is None:
                path = paths[relay, local] = RelayPath(sock, relay, local=local)
            return path

        async for data, relay, arrival[0], arrived in _datagrams(sock):
            try:
                self.from_relay(data, relay, arrived, relays, path_to)
            except Exception:
                self._failed(relay)

    def _failed(self, source: Address) -> None:
        """A datagram made routing raise (a bug; sessions guard themselves already): it is
        counted and dropped, because this loop carries every session of the transceiver.
        The traceback is logged at most once per :data:`ERROR_LOG_INTERVAL`."""
        self._drops.labels(reason="internal_error").inc()
        now = time.monotonic()
        if now >= self._next_error_log:
            self._next_error_log = now + ERROR_LOG_INTERVAL
            log.exception("datagram from %s failed", source)

    def from_relay(
        self,
        data: bytes,
        relay: Address,
        arrived: float,
        relays: NetworkAllowlist,
        path_to: Callable[[Address], Path],
    ) -> None:
        """Unwraps one shim datagram from ``relay`` and routes it as the client's own.

        VOICE-SHIM §7: only hosts of the relays' networks may speak the shim; anyone else
        could otherwise claim to be any client. A bad header is counted and dropped
        (VOICE-SHIM §5).
        """
        if not relays.allows(relay[0]):
            self._drops.labels(reason="shim_from_unknown_host").inc()
            return
        if data[:1] == _FORWARD_BYTE:
            self._from_relay_forwarded(data, relay, arrived, path_to)
            return
        try:
            client, payload = decode_shim(data)
        except RelayParseError:
            self._drops.labels(reason="bad_shim").inc()
            return
        self.dispatch(payload, client, path_to(relay), arrived)

    def _from_relay_forwarded(
        self, data: bytes, relay: Address, arrived: float, path_to: Callable[[Address], Path]
    ) -> None:
        """A call that entered at another cluster's relay (VOICE-SHIM §10): the datagram is
        routed as the client's own, and the path its replies take repeats the header, so
        they go back through this relay to the ingress the caller writes to. The latest
        datagram's via wins, as the latest relay path does (VOICE-SHIM §6)."""
        try:
            forward = decode_forward(data)
        except RelayParseError:
            self._drops.labels(reason="bad_shim").inc()
            return
        if forward.direction != INBOUND or forward.via is None:
            self._drops.labels(reason="bad_shim").inc()
            return
        path = path_to(relay)
        if isinstance(path, RelayPath):
            path = replace(path, header=forward.reply_header())
        self.dispatch(forward.payload, forward.client, path, arrived)


_FORWARD_BYTE = bytes([VERSION_FORWARD])

#: Datagrams read per wake-up before giving other tasks a turn.
BATCH = 64
#: Local addresses of a wildcard socket given a path each; more (a host with very many
#: addresses) starts the set afresh, which costs only the path objects.
MAX_LOCAL_ADDRESSES = 64


async def _datagrams(
    sock: socket.socket,
) -> AsyncIterator[tuple[bytes, Address, str | None, float]]:
    """Every datagram of a non-blocking socket, as ``(data, (host, port), local, arrived)``.

    Waits for readability once, then drains up to :data:`BATCH` datagrams with plain
    ``recvfrom`` calls: under load one Trio wake-up serves many datagrams instead of one.
    ``arrived`` is the wake-up time, the same for the whole batch: the jitter buffer's
    estimate should see the network's jitter, not the time this process took to reach
    the later datagrams of a batch. ``local`` is the address the datagram was sent to when
    the socket is bound to a wildcard (VOICE-RELAY §11), else None.
    """
    receive: Callable[[int], tuple[bytes, Address, str | None]]
    if pktinfo.is_wildcard(sock):
        pktinfo.enable(sock)
        receive = partial(pktinfo.receive, sock)
    else:
        receive = partial(_receive_plain, sock.recvfrom)
    while True:
        await trio.lowlevel.wait_readable(sock)
        arrived = trio.current_time()
        for _ in range(BATCH):
            try:
                data, addr, local = receive(2048)
            except BlockingIOError:
                break
            except OSError as exc:
                # ICMP errors surface on the next recvfrom on Linux; they are not fatal.
                log.debug("recvfrom: %s", exc)
                continue
            yield data, addr, local, arrived
        else:
            await trio.lowlevel.checkpoint()  # a full batch: let the sessions' tasks run


def _receive_plain(
    recvfrom: Callable[[int], tuple[bytes, tuple[str, int]]], size: int
) -> tuple[bytes, Address, None]:
    data, addr = recvfrom(size)
    return data, (addr[0], addr[1]), None
