"""The relay's forwarding rules as a sans-IO object: datagram in, datagram (or nothing) out.

:class:`Router` decides, for every datagram a relay worker receives, whether and where it
goes; the Trio driver (:mod:`voice.relay.worker`) only moves bytes between sockets and this
object. The rules (VOICE-RELAY §2-§4), in the order they are applied:

From a client (the public socket):

1. A client address in the table is forwarded to its transceiver, shim header in front
   (VOICE-SHIM §3), within its packet budget (VOICE-RELAY §10). Nothing in the datagram is
   looked at: the relay never decrypts and takes no part in ICE, DTLS or RTP.
2. A client address *not* in the table is admitted only by a STUN Binding request (first
   byte per RFC 7983 §7, then the USERNAME peek) whose server ufrag is a valid routing token
   for this relay's cluster. The MAC is checked before any state is created (VOICE-TOKEN §9).
   Then the source IP's admission bucket is charged, then the worker's, the transceiver's
   address is looked up in the directory, and the entry is created. Anything else from an
   unknown address is dropped and counted.
3. The relay never answers a client itself: the only datagrams it sends to clients are
   payloads a transceiver sent (no reflection, no amplification).

From a transceiver (the internal socket):

4. Only hosts the relay knows as transceivers may send shim packets (VOICE-SHIM §7).
5. The payload goes out of the public socket to the client the shim header names, and the
   entry ``client -> this transceiver`` is created or refreshed. This is what makes the table
   soft: after a relay restart, the call resumes with the next packet from *either* side.

Across clusters (VOICE-RELAY §12): a valid token naming another cluster that the fleet view
knows is admitted exactly as above (same limits), but the entry points at one of that
cluster's relays and carries a version 2 shim header (VOICE-SHIM §10) naming the session's
cluster and transceiver. On the internal socket, version 2 datagrams are the backbone: an
owning relay forwards an ingress relay's datagrams to the transceiver and the transceiver's
replies back to the ingress, keeping nothing; an ingress relay sends the owner's datagrams
to the client and (re)creates the client's entry from them, as for a transceiver's.

A known client's STUN requests are not re-checked, so a spoofed packet carrying another
session's valid token cannot steal a live entry; an entry only changes transceiver when a
transceiver speaks for that client (rule 5), and transceivers are trusted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from voice.relay.admission import AdmissionLimiter
from voice.relay.counters import DropReason, RelayCounters
from voice.relay.directory import Directory, LookupMiss
from voice.relay.errors import RelayParseError
from voice.relay.fleet import Fleet, pick
from voice.relay.networks import NetworkAllowlist
from voice.relay.ratelimit import CLIENT_BURST, CLIENT_RATE
from voice.relay.shim import (
    INBOUND,
    VERSION_FORWARD,
    decode_forward,
    decode_shim,
    forward_header,
)
from voice.relay.table import RouteTable
from voice.relay.token import RoutingTarget, TokenVerifier
from voice.stun.demux import PacketKind, classify
from voice.stun.peek import peek_username
from voice.types import Address

if TYPE_CHECKING:
    from voice.trace import Tracer

#: A datagram to send and where to: ``(data, address)``.
Outgoing = tuple[bytes, Address]

_FORWARD_BYTE = bytes([VERSION_FORWARD])


#: Seconds between two housekeeping rounds (:meth:`Router.handle_timeout`).
HOUSEKEEPING_INTERVAL = 1.0


class Router:
    """Forwarding decisions for one worker; owns the worker's table and counters."""

    def __init__(
        self,
        verifier: TokenVerifier,
        directory: Directory,
        *,
        cluster: int = 0,
        table: RouteTable | None = None,
        limiter: AdmissionLimiter | None = None,
        allowlist: NetworkAllowlist | None = None,
        counters: RelayCounters | None = None,
        max_parked: int = 8,
        max_parked_transceivers: int = 64,
        client_rate: float = CLIENT_RATE,
        client_burst: float = CLIENT_BURST,
        fleet: Fleet | None = None,
        backbone: NetworkAllowlist | None = None,
    ) -> None:
        self.verifier = verifier
        self.directory = directory
        self.cluster = cluster
        self.table = table if table is not None else RouteTable()
        self.limiter = limiter if limiter is not None else AdmissionLimiter()
        # With no allowlist given, only the directory's own addresses may send shim.
        self.allowlist = (
            allowlist
            if allowlist is not None
            else NetworkAllowlist(extra_hosts=directory.known_hosts)
        )
        self.counters = counters if counters is not None else RelayCounters()
        #: Wall-clock seconds minus ``now``: tokens carry wall-clock time, the table runs on
        #: the monotonic clock. The driver refreshes it through :meth:`handle_timeout`.
        self.wall_offset = 0.0
        self._housekeeping_at: float | None = None
        self.max_parked = max_parked
        #: VOICE-RELAY §10: each known client's datagrams per second, and burst.
        self.client_rate = client_rate
        self.client_burst = client_burst
        self.max_parked_transceivers = max_parked_transceivers
        self._parked: dict[int, list[tuple[bytes, Address, str | None, Address | None]]] = {}
        #: VOICE-RELAY §12: the relays of other clusters, and who may speak the backbone.
        self.fleet = fleet if fleet is not None else Fleet()
        self.backbone = (
            backbone
            if backbone is not None
            else NetworkAllowlist(extra_hosts=self.fleet.known_hosts)
        )
        self._fleet_generation = self.fleet.generation
        self._parked_fleet: dict[int, list[tuple[bytes, Address, str | None, int]]] = {}
        #: Datagrams for the internal socket (transceivers and other relays) decided outside
        #: :meth:`from_client`; the driver sends them after each call (:meth:`datagrams_to_send`).
        self.outbox: list[Outgoing] = []
        #: Records every routing decision when set (see :mod:`voice.trace` and
        #: :meth:`_traced`); None costs one test per datagram.
        self.tracer: Tracer | None = None

    # -- client -> transceiver -------------------------------------------------------------

    def from_client(
        self, data: bytes, client: Address, now: float, local: str | None = None
    ) -> Outgoing | None:
        """A datagram from ``client`` on the public socket: what to send to a transceiver.

        ``local`` is the relay address the client wrote to, when the socket is bound to a
        wildcard; replies to the client go out from it (VOICE-RELAY §11).
        """
        if self.tracer is not None:
            return self._traced("client", client, now, self.from_client, data, client, now, local)
        counters = self.counters
        counters.client_packets += 1
        counters.client_bytes += len(data)
        route = self.table.lookup(client, now)
        if route is not None:
            if local is not None:
                route.local = local
            if route.take(now, self.client_rate, self.client_burst):
                return route.header + data, route.transceiver
            # VOICE-RELAY §10: an admitted source flooding (its own call, or a check that
            # found a live token) must not take the transceiver's loop from other calls.
            counters.drop(DropReason.RATE_LIMIT)
            return None
        return self._admit(data, client, now, local)

    def _admit(
        self, data: bytes, client: Address, now: float, local: str | None = None
    ) -> Outgoing | None:
        counters = self.counters
        # VOICE-RELAY §3: a source port of 0 cannot be written in a shim header (VOICE-SHIM
        # §3) nor answered; such a datagram is forged, whatever token it carries.
        if not 0 < client[1] <= 0xFFFF:
            counters.drop(DropReason.BAD_SOURCE)
            return None
        # RFC 7983 §7: only STUN can open a path; DTLS, RTP and the rest need an entry.
        if classify(data) is not PacketKind.STUN:
            counters.drop(DropReason.NOT_STUN)
            return None
        username = peek_username(data)
        if username is None:
            counters.drop(DropReason.NOT_ROUTABLE)
            return None
        # RFC 8445 §7.2.2: a check's USERNAME is "receiver's ufrag:sender's ufrag", and the
        # receiver here is the server, whose ufrag is the routing token.
        ufrag, colon, _ = username.partition(b":")
        if not colon:
            counters.drop(DropReason.NOT_ROUTABLE)
            return None
        target = self.verifier.verify(ufrag, now + self.wall_offset)
        if target is None:
            counters.drop(DropReason.BAD_TOKEN)
            return None
        if target.cluster != self.cluster:
            return self._admit_remote(data, client, target, now, local)
        if not self.limiter.allow(client[0], now):
            counters.drop(DropReason.ADMISSION_LIMIT)
            return None
        if not self.limiter.allow_global(now):
            counters.drop(DropReason.ADMISSION_GLOBAL)
            return None
        where = self._locate(target.transceiver, data, client, local, via=None, now=now)
        if where is None:
            return None
        return self._open(data, client, where, now, local)

    def _locate(
        self,
        transceiver: int,
        data: bytes,
        client: Address,
        local: str | None,
        *,
        via: Address | None,
        now: float,
    ) -> Address | None:
        """The transceiver's address, or None when there is none yet: the datagram is parked
        while the name resolves, or dropped (and counted) when the directory has no answer.
        One home for a client's own check and one forwarded by an ingress relay."""
        where = self.directory.lookup(transceiver, now)
        if where is LookupMiss.PENDING:
            self._park(transceiver, data, client, local, via)
            return None
        if where is LookupMiss.UNKNOWN:
            self.counters.drop(DropReason.DIRECTORY_UNKNOWN)
            return None
        if where is LookupMiss.FAILED:
            self.counters.drop(DropReason.DIRECTORY_FAILED)
            return None
        assert not isinstance(where, LookupMiss)
        return where

    def _open(
        self, data: bytes, client: Address, transceiver: Address, now: float, local: str | None
    ) -> Outgoing:
        route = self.table.update(client, transceiver, now)
        route.local = local
        self.counters.admissions += 1
        return route.header + data, transceiver

    def _park(
        self,
        transceiver: int,
        data: bytes,
        client: Address,
        local: str | None,
        via: Address | None,
    ) -> None:
        # Hold the admitting check while the name resolves, rather than make the client
        # wait for its retransmission. Bounded, so a slow resolver costs bounded memory.
        # ``via`` is set for an ingress relay's datagram (VOICE-RELAY §12), which goes on
        # to the transceiver with no entry.
        queue = self._parked.get(transceiver)
        if queue is None:
            if len(self._parked) >= self.max_parked_transceivers:
                self.counters.drop(DropReason.DIRECTORY_BACKLOG)
                return
            queue = self._parked[transceiver] = []
        if len(queue) >= self.max_parked:
            self.counters.drop(DropReason.DIRECTORY_BACKLOG)
            return
        queue.append((data, client, local, via))

    # -- across clusters: the ingress side (VOICE-RELAY §12) --------------------------------

    def _admit_remote(
        self, data: bytes, client: Address, target: RoutingTarget, now: float, local: str | None
    ) -> Outgoing | None:
        """A verified check for another cluster: admitted under the same limits as a local
        one, then sent over the backbone to one of that cluster's relays."""
        counters = self.counters
        fleet = self.fleet
        if target.cluster not in fleet.static and fleet.pattern is None:
            counters.drop(DropReason.OTHER_CLUSTER)
            return None
        # VOICE-RELAY §12: admission and its limits happen here, at the ingress; the owning
        # cluster's relay trusts its fleet peers and checks nothing of the caller's.
        if not self.limiter.allow(client[0], now):
            counters.drop(DropReason.ADMISSION_LIMIT)
            return None
        if not self.limiter.allow_global(now):
            counters.drop(DropReason.ADMISSION_GLOBAL)
            return None
        relays = fleet.relays(target.cluster, now)
        if relays is LookupMiss.PENDING:
            self._park_fleet(target, data, client, local)
            return None
        if isinstance(relays, LookupMiss):
            unknown = relays is LookupMiss.UNKNOWN
            counters.drop(DropReason.OTHER_CLUSTER if unknown else DropReason.FLEET_FAILED)
            return None
        return self._open_remote(data, client, pick(relays, client), target, now=now, local=local)

    def _open_remote(
        self,
        data: bytes,
        client: Address,
        relay: Address,
        target: RoutingTarget,
        *,
        now: float,
        local: str | None,
    ) -> Outgoing:
        header = forward_header(client, INBOUND, target.cluster, target.transceiver, None)
        route = self.table.update(client, relay, now, header)
        route.local = local
        self.counters.admissions += 1
        return route.header + data, relay

    def _park_fleet(
        self, target: RoutingTarget, data: bytes, client: Address, local: str | None
    ) -> None:
        queue = self._parked_fleet.get(target.cluster)
        if queue is None:
            if len(self._parked_fleet) >= self.max_parked_transceivers:
                self.counters.drop(DropReason.DIRECTORY_BACKLOG)
                return
            queue = self._parked_fleet[target.cluster] = []
        if len(queue) >= self.max_parked:
            self.counters.drop(DropReason.DIRECTORY_BACKLOG)
            return
        queue.append((data, client, local, target.transceiver))

    def fleet_resolved(self, cluster: int, addresses: list[Address] | None, now: float) -> None:
        """Reports a fleet lookup; parked admissions go to :meth:`datagrams_to_send`."""
        if self.tracer is not None:
            self._traced("lookup", ("", 0), now, self.fleet_resolved, cluster, addresses, now)
            return
        self.fleet.resolved(cluster, addresses, now)
        self.fleet_changed(now)
        parked = self._parked_fleet.pop(cluster, [])
        relays = self.fleet.relays(cluster, now)
        for data, client, local, transceiver in parked:
            if isinstance(relays, LookupMiss):
                self.counters.drop(DropReason.FLEET_FAILED)
            else:
                target = RoutingTarget(cluster, transceiver)
                relay = pick(relays, client)
                self.outbox.append(
                    self._open_remote(data, client, relay, target, now=now, local=local)
                )

    def fleet_changed(self, now: float | None = None) -> None:
        """The fleet view may name other hosts now: forget the backbone's memoised answers,
        and move calls whose owning relay's host left its cluster's list to one that is
        listed (VOICE-RELAY §12: the owning relays keep nothing, so any of them will do)."""
        if self.fleet.generation == self._fleet_generation:
            return
        self._fleet_generation = self.fleet.generation
        self.backbone.invalidate()
        if now is None:
            return
        for client, route in self.table.items():
            header = route.header
            if header[0] != VERSION_FORWARD:
                continue
            relays = self.fleet.relays(int.from_bytes(header[8:10], "big"), now)
            if isinstance(relays, LookupMiss) or not relays:
                continue  # nothing better known: keep trying the old one
            if route.transceiver[0] not in {host for host, _ in relays}:
                route.transceiver = pick(relays, client)
                self.counters.fleet_repointed += 1

    # -- transceiver -> client -------------------------------------------------------------

    def from_transceiver(self, data: bytes, source: Address, now: float) -> Outgoing | None:
        """A shim datagram from ``source`` on the internal socket: what to send to a client."""
        if self.tracer is not None:
            return self._traced("internal", source, now, self.from_transceiver, data, source, now)
        counters = self.counters
        counters.transceiver_packets += 1
        counters.transceiver_bytes += len(data)
        if data[:1] == _FORWARD_BYTE:
            return self._from_backbone(data, source, now)
        if not self.allowlist.allows(source[0]):
            counters.drop(DropReason.SHIM_SOURCE)
            return None
        try:
            client, payload = decode_shim(data)
        except RelayParseError:
            counters.drop(DropReason.SHIM_MALFORMED)
            return None
        # VOICE-RELAY §4: the transceiver's packet (re)creates the entry, so the client's
        # next packet is forwarded even if this worker has never seen its STUN check.
        self.table.update(client, source, now)
        return payload, client

    # -- across clusters: the backbone (VOICE-RELAY §12, VOICE-SHIM §10) ---------------------

    def _from_backbone(self, data: bytes, source: Address, now: float) -> Outgoing | None:
        """A version 2 datagram on the internal socket. Four cases, told apart by the
        direction and by whether a via address is present:

        * inbound, no via: an ingress relay forwards a caller's datagram to us, the owning
          cluster's relay; it goes to the transceiver with the ingress as via;
        * outbound, via: the transceiver answers; it goes back to the ingress relay (via);
        * outbound, no via: the owning relay sends us, the ingress, a datagram for the
          caller; it goes out of the public socket and (re)creates the caller's entry;
        * inbound with via is what a transceiver receives, never a relay: malformed.

        Only fleet peers may speak the backbone and only fleet peers are sent to, so the
        backbone cannot be used to reach anything else (an open relay).
        """
        counters = self.counters
        try:
            forward = decode_forward(data)
        except RelayParseError:
            counters.drop(DropReason.SHIM_MALFORMED)
            return None
        via = forward.via
        if forward.direction == INBOUND:
            if via is not None:
                counters.drop(DropReason.SHIM_MALFORMED)
                return None
            if not self.backbone.allows(source[0]):
                counters.drop(DropReason.BACKBONE_SOURCE)
                return None
            if not 0 < source[1] <= 0xFFFF:
                # The source becomes the via, which cannot name port 0 (VOICE-SHIM §10).
                counters.drop(DropReason.BAD_SOURCE)
                return None
            if forward.cluster != self.cluster:
                # One backbone hop, never two: a peer's mistake must not loop.
                counters.drop(DropReason.OTHER_CLUSTER)
                return None
            where = self._locate(
                forward.transceiver, forward.payload, forward.client, None, via=source, now=now
            )
            if where is None:
                return None
            header = forward_header(
                forward.client, INBOUND, forward.cluster, forward.transceiver, source
            )
            self.outbox.append((header + forward.payload, where))
            return None
        if via is not None:
            if not self.allowlist.allows(source[0]):
                counters.drop(DropReason.SHIM_SOURCE)
                return None
            if not self.backbone.allows(via[0]):
                counters.drop(DropReason.BACKBONE_SOURCE)
                return None
            header = forward_header(
                forward.client, forward.direction, forward.cluster, forward.transceiver, None
            )
            self.outbox.append((header + forward.payload, via))
            return None
        if not self.backbone.allows(source[0]):
            counters.drop(DropReason.BACKBONE_SOURCE)
            return None
        # VOICE-RELAY §12 (as §4): the owner's datagram (re)creates the caller's entry, so
        # after an ingress restart the call resumes with the next datagram from the owner.
        header = forward_header(forward.client, INBOUND, forward.cluster, forward.transceiver, None)
        self.table.update(forward.client, source, now, header)
        return forward.payload, forward.client

    def local_of(self, client: Address) -> str | None:
        """The relay address ``client`` last wrote to (on a wildcard socket), or None."""
        route = self.table.peek(client)
        return None if route is None else route.local

    # -- the driver's side -----------------------------------------------------------------

    def resolved(self, transceiver: int, address: Address | None, now: float) -> None:
        """Reports a directory lookup; parked admissions go to :meth:`datagrams_to_send`."""
        if self.tracer is not None:
            self._traced("lookup", ("", 0), now, self.resolved, transceiver, address, now)
            return
        self.directory.resolved(transceiver, address, now)
        self.allowlist.invalidate()
        parked = self._parked.pop(transceiver, [])
        where = self.directory.lookup(transceiver, now)
        for data, client, local, via in parked:
            if isinstance(where, LookupMiss):
                self.counters.drop(DropReason.DIRECTORY_FAILED)
            elif via is not None:
                header = forward_header(client, INBOUND, self.cluster, transceiver, via)
                self.outbox.append((header + data, where))
            else:
                self.outbox.append(self._open(data, client, where, now, local))

    # -- tracing ----------------------------------------------------------------------------

    def _traced(
        self,
        side: str,
        source: Address,
        now: float,
        call: Callable[..., Outgoing | None],
        *args: object,
    ) -> Outgoing | None:
        """Runs ``call`` untraced and records each decision it made (VOICE-RELAY §2-§4, §12).

        The routing code itself knows nothing of tracing: the decisions are read off what
        the call changed, the datagram it returned, what it queued in :attr:`outbox`, the
        drop counters (each increment is one drop, with its reason) and the admissions
        counter. ``side`` is where the datagram came in (``client``: the public socket;
        ``internal``: a transceiver or a fleet peer; ``lookup``: parked datagrams released
        by a resolved lookup).
        """
        tracer = self.tracer
        assert tracer is not None
        counters = self.counters
        drops = dict(counters.drops)
        admissions = counters.admissions
        queued = len(self.outbox)
        self.tracer = None
        try:
            out = call(*args)
        finally:
            self.tracer = tracer
        admitted = counters.admissions != admissions
        for reason, count in counters.drops.items():
            for _ in range(count - drops.get(reason, 0)):
                tracer.route(now, side, source, f"dropped: {reason.value}")
        if out is not None:
            data, to = out
            if side == "client":
                backbone = data[:1] == _FORWARD_BYTE
                leg = "client>backbone" if backbone else "client>transceiver"
                decision = "admitted" if admitted else "forwarded"
                tracer.route(now, leg, source, decision, to, client=source)
            else:
                first = args[0]
                backbone = isinstance(first, bytes) and first[:1] == _FORWARD_BYTE
                leg = "backbone>client" if backbone else "transceiver>client"
                tracer.route(now, leg, source, "forwarded", to, client=to)
        for data, to in self.outbox[queued:]:
            try:
                forward = decode_forward(data) if data[:1] == _FORWARD_BYTE else None
                client = forward.client if forward else decode_shim(data)[0]
            except RelayParseError:  # pragma: no cover - we wrote these headers ourselves
                forward, client = None, None
            if side == "lookup":
                leg = "client>backbone" if forward and forward.via is None else "client>transceiver"
                decision = "admitted after lookup"
                if forward is not None and forward.via is not None:
                    leg, decision = "backbone>transceiver", "forwarded after lookup"
            elif forward is not None and forward.via is not None:
                leg, decision = "backbone>transceiver", "forwarded"
            else:
                leg, decision = "transceiver>backbone", "forwarded"
            tracer.route(now, leg, source, decision, to, client=client)
        parked = out is None and len(self.outbox) == queued and counters.drops == drops
        if parked and side != "lookup":
            tracer.route(now, side, source, "parked: waiting for a lookup")
        return out

    def datagrams_to_send(self) -> list[Outgoing]:
        """Drains datagrams for the internal socket (transceivers, and other clusters'
        relays) decided outside the return value of a receive call."""
        out = self.outbox[:]
        self.outbox.clear()
        return out

    def get_timer(self) -> float | None:
        """When :meth:`handle_timeout` is due next: once a second, from the driver's first
        call on (None before it)."""
        return self._housekeeping_at

    def handle_timeout(self, now: float, *, wall: float | None = None) -> None:
        """Periodic housekeeping: expire idle entries and buckets, refresh the gauges.

        ``wall`` is the wall clock at ``now`` (tokens carry wall-clock time); the driver
        passes it on every call, a test only when it matters.
        """
        if wall is not None:
            self.wall_offset = wall - now
        self._housekeeping_at = now + HOUSEKEEPING_INTERVAL
        self.table.handle_timeout(now)
        self.limiter.forget_idle(now)
        counters = self.counters
        counters.table_size = len(self.table)
        counters.table_expired = self.table.expired
        counters.table_evicted = self.table.evicted
        counters.dns_resolutions = self.directory.resolutions
        counters.dns_failures = self.directory.failures + self.fleet.failures
        counters.dns_resolutions += self.fleet.resolutions
        self.fleet_changed(now)
