"""The transceiver service: sockets, the session table, limits and metrics, in one nursery.

One transceiver is one ``trio.run``: a root nursery holds the socket readers and a nursery
of sessions, each session a task tree of its own (:mod:`voice.transceiver.session`).
Signaling calls :meth:`Transceiver.create_session` with a browser's offer and gets the
answer back; the new session starts in the sessions nursery at once and waits for the
browser's first ICE check.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from voice.dtls import Certificate
from voice.ice import IceLiteAgent, generate_password, generate_ufrag, host_candidate
from voice.metrics import Registry
from voice.peer import PeerConnection
from voice.relay.networks import NetworkAllowlist
from voice.sdp import OfferLimits, analyze_offer, build_answer, check_offer_limits, parse
from voice.stun import short_term_key
from voice.transceiver.agents import SessionInfo, create_agent
from voice.transceiver.endpoint import Endpoint, SessionTable
from voice.transceiver.media_metrics import MediaMetrics
from voice.transceiver.session import Session, SessionLimits
from voice.transceiver.watch import Record, TraceWatchers
from voice.types import Address

if TYPE_CHECKING:
    from voice.trace import SessionTracer, Tracer

log = logging.getLogger(__name__)


class CapacityError(Exception):
    """The transceiver already carries its maximum number of sessions (or of sessions still
    waiting for their caller's first check)."""


class DrainingError(CapacityError):
    """The transceiver is draining (shutting down): it carries its calls to their end and
    takes no new ones, so a caller should try again and land on another transceiver."""


class ClientLimitError(CapacityError):
    """This client already holds its share of the sessions waiting for a first check."""


class UnknownIngressError(ValueError):
    """An offer asked for a relay ingress this transceiver was not configured with."""


@dataclass(frozen=True, slots=True)
class _Owner:
    """Who created a session: the client key it is counted against, and the session's key
    (the secret in its URL that authorises DELETE; never logged)."""

    client: str
    key: str


@dataclass
class TransceiverConfig:
    """How a transceiver listens, what it advertises, and its limits."""

    udp_host: str = "127.0.0.1"
    #: The client-facing socket's port: 0 picks a free one; None opens none (behind a relay,
    #: every datagram arrives on ``relay_input``).
    udp_port: int | None = 0
    #: The addresses put in the answer's candidates. Empty means "the bound UDP address";
    #: behind a relay, the relay's public address.
    advertised: Sequence[Address] = ()
    #: Relay ingresses by name, which a steering front may choose per call (VOICE-STEER §4).
    ingresses: Mapping[str, Address] = field(default_factory=dict)
    max_sessions: int = 100
    #: Sessions created but not yet connected (DTLS up), in all and per client: an offer
    #: nobody follows up holds a slot until ``check_timeout`` (no check) or the handshake
    #: timeout, so these bound what abandoned offers can hold, apart from live calls.
    max_pending: int = 32
    max_pending_per_client: int = 8
    #: A session that has seen no authenticated ICE check this long after its answer ends.
    #: Browsers send their first check within milliseconds of applying the answer.
    check_timeout: float = 4.0
    #: Bounds on an offer's shape, checked before it is parsed (voice.sdp.limits).
    offer_limits: OfferLimits = field(default_factory=OfferLimits)
    default_agent: str = "echo"
    limits: SessionLimits = field(default_factory=SessionLimits)
    consent_timeout: float = 30.0
    #: Mints the server ufrag of each session; behind a relay it is the routing token.
    ufrag_factory: Callable[[], str] = generate_ufrag
    #: The internal socket relays forward to (None: no relay input, direct mode only).
    relay_input: Address | None = None
    #: Networks whose hosts may send shim datagrams to ``relay_input`` (VOICE-SHIM §7).
    relay_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    #: Traces every session's datagrams (``voice serve --trace``); None: off.
    tracer: Tracer | None = None


class Transceiver:
    def __init__(self, config: TransceiverConfig, registry: Registry | None = None) -> None:
        self.config = config
        self.certificate = Certificate.generate()
        self.fingerprint = ("sha-256", self.certificate.fingerprint("sha-256"))
        self.table = SessionTable()
        self.sessions: dict[str, Session] = {}
        self._owners: dict[str, _Owner] = {}
        self.registry = registry or Registry()
        r = self.registry
        self.m_active = r.gauge("voice_sessions_active", "Sessions in progress.")
        self.m_started = r.counter("voice_sessions_started_total", "Sessions created.")
        self.m_ended = r.counter("voice_sessions_ended_total", "Sessions ended, by reason.")
        self.m_rejected = r.counter(
            "voice_sessions_rejected_total",
            "Offers refused, by reason (capacity, pending, pending_client, bad_offer, "
            "bad_agent, rate_client, rate_global).",
        )
        self.m_packets = r.counter("voice_packets_total", "Datagrams by direction and path.")
        self.m_drops = r.counter("voice_packets_dropped_total", "Datagrams dropped, by reason.")
        self.m_setup = r.summary("voice_dtls_connected_seconds", "Offer to DTLS connected.")
        self.endpoint = Endpoint(self.table, self.m_packets, self.m_drops)
        self.watchers = TraceWatchers()
        self.media = MediaMetrics(self.sessions.values)
        r.add_collector(self.media.render)
        self.bound: Address | None = None
        self.relay_input: Address | None = None
        #: Set by :meth:`drain`: no new sessions, and /healthz says so (readiness fails).
        self.draining = False
        self._nursery: trio.Nursery | None = None

    @property
    def candidates(self) -> list[str]:
        return self.candidates_for(())

    def ingress_addresses(self, names: Sequence[str]) -> list[Address]:
        """VOICE-STEER §4: the configured ingresses ``names`` name, in that order; a name
        not configured raises :class:`UnknownIngressError`, so a caller cannot make an
        answer point at an address the operator did not list."""
        unknown = [n for n in names if n not in self.config.ingresses]
        if unknown:
            known = ", ".join(sorted(self.config.ingresses)) or "none"
            raise UnknownIngressError(
                f"unknown ingress {unknown[0][:32]!r} (this region knows: {known})"
            )
        return [self.config.ingresses[n] for n in dict.fromkeys(names)]

    def candidates_for(self, names: Sequence[str]) -> list[str]:
        """Host candidates for the named ingresses (nearest first, so highest priority
        first), or for the default addresses when none is named."""
        addresses = self.ingress_addresses(names) if names else []
        addresses = (
            addresses or list(self.config.advertised) or ([self.bound] if self.bound else [])
        )
        return [
            host_candidate(host, port, foundation=str(n + 1), local_preference=65535 - n)
            for n, (host, port) in enumerate(addresses)
        ]

    async def run(
        self, *, task_status: trio.TaskStatus[Address] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Binds the UDP sockets and serves until cancelled.

        ``started()`` gets the client-facing address (or, without one, the relay input).
        With ``relay_input`` configured, a socket takes shim datagrams from relays, and
        :attr:`relay_input` holds its bound address once started.
        """
        if self.config.tracer is not None:
            self.config.tracer.wall_offset = time.time() - trio.current_time()
        direct = None if self.config.udp_port is None else _udp_socket(self.config.udp_host)
        relay_at = self.config.relay_input
        relay_sock = _udp_socket(relay_at[0]) if relay_at else None
        if direct is None and relay_sock is None:
            raise ValueError("a transceiver needs a client-facing socket, a relay input, or both")
        with direct or contextlib.nullcontext(), relay_sock or contextlib.nullcontext():
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if direct is not None:
                    direct.bind((self.config.udp_host, self.config.udp_port or 0))
                    self.bound = _bound(direct)
                    nursery.start_soon(self.endpoint.serve_direct, direct)
                    log.info("transceiver: media on udp %s:%d", *self.bound)
                if relay_sock is not None and relay_at is not None:
                    relay_sock.bind(relay_at)
                    self.relay_input = _bound(relay_sock)
                    relays = NetworkAllowlist(self.config.relay_networks)
                    nursery.start_soon(self.endpoint.serve_relays, relay_sock, relays)
                    log.info("transceiver: relay input on udp %s:%d", *self.relay_input)
                started = self.bound or self.relay_input
                assert started is not None
                task_status.started(started)
                try:
                    await trio.sleep_forever()
                finally:
                    for session in list(self.sessions.values()):
                        session.end("shutdown")

    def pending(self, client: str | None = None) -> int:
        """Sessions not yet connected (all of them, or those of ``client``)."""
        count = 0
        for sid, session in self.sessions.items():
            if session.connected_at is not None:
                continue
            owner = self._owners.get(sid)
            if client is None or (owner is not None and owner.client == client):
                count += 1
        return count

    def session_key(self, session_id: str) -> str | None:
        """The secret that authorises changes to a live session, or None if there is none."""
        owner = self._owners.get(session_id)
        return None if owner is None else owner.key

    def create_session(
        self,
        offer_sdp: str,
        agent: str | None,
        params: Mapping[str, str],
        *,
        client: str = "local",
        ingress: Sequence[str] = (),
    ) -> tuple[Session, str]:
        """Answers an offer and starts its session. Raises RemoteProtocolError (a bad offer),
        AgentError, CapacityError.

        The cheap refusals come first (capacity, pending sessions, the offer's shape), so
        an offer that will be refused costs the event loop next to nothing.
        """
        if self._nursery is None:
            raise RuntimeError("the transceiver is not running")
        cfg = self.config
        if self.draining:
            self.m_rejected.inc(reason="draining")
            raise DrainingError("this transceiver is shutting down and takes no new calls")
        if len(self.sessions) >= cfg.max_sessions:
            self.m_rejected.inc(reason="capacity")
            raise CapacityError(f"at capacity ({cfg.max_sessions} sessions)")
        if self.pending(client) >= cfg.max_pending_per_client:
            self.m_rejected.inc(reason="pending_client")
            raise ClientLimitError(
                f"you already have {cfg.max_pending_per_client} sessions waiting for their "
                "first ICE check; connect or DELETE them first"
            )
        if self.pending() >= cfg.max_pending:
            self.m_rejected.inc(reason="pending")
            raise CapacityError(f"{cfg.max_pending} sessions are already waiting to connect")
        candidates = self.candidates_for(ingress)
        check_offer_limits(offer_sdp, cfg.offer_limits)
        offer = parse(offer_sdp)
        audio = analyze_offer(offer)
        agent_name = agent or self.config.default_agent
        agent_fn = create_agent(agent_name, params)
        ufrag = self.config.ufrag_factory()
        pwd = generate_password()
        now = trio.current_time()
        ssrc = secrets.randbits(32) or 1
        cname = secrets.token_urlsafe(12)
        ice = IceLiteAgent(
            ufrag,
            pwd,
            remote_ufrag=audio.remote_ufrag,
            remote_pwd=audio.remote_pwd,
            consent_timeout=self.config.consent_timeout,
        )
        info = SessionInfo(
            session_id=secrets.token_urlsafe(16), agent=agent_name, params=dict(params)
        )
        peer = PeerConnection(
            tracer=self._session_tracer(info.session_id, pwd),
            ice=ice,
            certificate=self.certificate,
            remote_fingerprints=audio.remote_fingerprints,
            is_dtls_server=True,
            local_ssrc=ssrc,
            cname=cname,
            now=now,
        )
        session = Session(
            ufrag=ufrag,
            peer=peer,
            agent=agent_fn,
            info=info,
            opus_payload_type=audio.opus_payload_type,
            send=self.endpoint.send,
            on_address=self._claim,
            limits=self.config.limits,
            local_ssrc=ssrc,
        )
        answer = build_answer(
            offer,
            audio,
            ice_ufrag=ufrag,
            ice_pwd=pwd,
            fingerprint=self.fingerprint,
            candidates=candidates,
            ssrc=ssrc,
            cname=cname,
        )
        self.sessions[session.id] = session
        self.watchers.register(session.id, short_term_key(pwd))
        self._owners[session.id] = _Owner(client=client, key=secrets.token_urlsafe(24))
        self.table.add(session)
        self.m_started.inc()
        self.m_active.set(len(self.sessions))
        self._nursery.start_soon(self._run_session, session)
        self._nursery.start_soon(self._first_check, session, ice)
        return session, answer

    def _session_tracer(self, session_id: str, pwd: str) -> SessionTracer | None:
        tracer = self.config.tracer
        if tracer is None:
            return None
        return tracer.session(session_id, self._local_address(), [short_term_key(pwd)])

    def _local_address(self) -> Address:
        """Our side of every call's 5-tuple as the client sees it (for traces)."""
        addresses = list(self.config.advertised) or [self.bound or ("0.0.0.0", 0)]
        return addresses[0]

    def watch(self, session_id: str) -> trio.MemoryReceiveChannel[Record] | None:
        """A live trace of one session from now on (the demo page's ladder), or None."""
        session = self.sessions.get(session_id)
        if session is None:
            return None
        return self.watchers.watch(session_id, session.peer, self._local_address())

    def _claim(self, session: Session, client: Address) -> None:
        self.table.claim(session, client)

    async def _first_check(self, session: Session, ice: IceLiteAgent) -> None:
        """Ends a session whose caller never sent one authenticated ICE check: an abandoned
        offer then frees its slot in ``check_timeout`` seconds, not the handshake timeout."""
        await trio.sleep_until(session.created_at + self.config.check_timeout)
        if session.end_reason == "running" and ice.counters["success_responses"] == 0:
            session.end("no ICE check")

    async def _run_session(self, session: Session) -> None:
        log.info("session %s: started (agent %s)", session.id, session.info.agent)
        try:
            await session.run()
        except Exception:
            # A bug in one call must not take the others with it: log it, end this one.
            log.exception("session %s: failed", session.id)
            session.end_reason = "internal error"
        finally:
            self.table.remove(session)
            self.watchers.forget(session.id)
            self.sessions.pop(session.id, None)
            self._owners.pop(session.id, None)
            self.m_active.set(len(self.sessions))
            self.m_ended.inc(reason=_reason_label(session.end_reason))
            if session.connected_at is not None:
                self.m_setup.observe(session.connected_at - session.created_at)
            self.media.session_ended(session)
            log.info(
                "session %s: ended (%s) after %.1f s; frames played %d sent %d; %s; counters %s",
                session.id,
                session.end_reason,
                trio.current_time() - session.created_at,
                session.frames_played,
                session.frames_sent,
                session.media_summary(),
                session.peer.counters,
            )
            if session.decoder is not None:
                log.info(
                    "session %s: media: fec recovered %d, concealed %d, jitter hold %.0f ms",
                    session.id,
                    session.decoder.fec_recovered,
                    session.decoder.concealed,
                    session.jitter.hold * 1e3,
                )

    async def drain(self, timeout: float) -> bool:
        """Takes no new session from now on and waits, up to ``timeout`` seconds, until every
        call in progress has ended by itself; True if they all did.

        What a transceiver does when its pod is deleted or scaled away: a call is a person
        talking, so it is let finish rather than cut, for as long as the operator allows.
        """
        self.draining = True
        with trio.move_on_after(timeout):
            while self.sessions:
                # A session leaves the table in the same step that sets its event.
                await next(iter(self.sessions.values())).ended.wait()
        return not self.sessions

    async def end_all(self, reason: str, *, grace: float) -> None:
        """Ends every call and waits (up to ``grace`` seconds) until they have said goodbye."""
        sessions = list(self.sessions.values())
        for session in sessions:
            session.end(reason)
        with trio.move_on_after(grace):
            for session in sessions:
                await session.ended.wait()

    def end_session(self, session_id: str, reason: str = "deleted") -> bool:
        session = self.sessions.get(session_id)
        if session is None:
            return False
        session.end(reason)
        return True


def _udp_socket(host: str) -> socket.socket:
    """A non-blocking UDP socket; the endpoint waits for it with Trio, reads it in batches."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    # Room for bursts of datagrams while the event loop is busy with other sessions.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return sock


def _bound(sock: socket.socket) -> Address:
    host, port = sock.getsockname()[:2]
    return host, port


def _reason_label(reason: str) -> str:
    """Keeps metric label values few: the reason's first words, lowercased."""
    return "_".join(reason.lower().replace(":", " ").split()[:3]) or "unknown"
