"""One WebRTC audio call as a single sans-IO object: ICE, DTLS, SRTP and RTP/RTCP together.

The protocol layers each handle one concern; a call needs them in a fixed arrangement, and
that arrangement is what this module teaches. Every datagram of the call arrives on one
5-tuple and is routed by its first byte (RFC 7983 §7):

* STUN goes to the ICE agent, which answers checks and decides which client address the
  media path uses (the *selected* address, RFC 8445 §8.2 for a lite agent);
* DTLS goes to the DTLS connection, but only from an address ICE has validated, because
  ICE is what proves the sender knows the session's password;
* SRTP and SRTCP are authenticated and decrypted with keys exported from DTLS
  (RFC 5764 §4.2), split into RTP and RTCP by payload type, and fed to the RTP session
  that keeps reception statistics and schedules our own reports.

The same object serves both ends: the transceiver's (ICE-lite, DTLS server) and the load
generator's synthetic caller (ICE controlling, DTLS client), so they cannot drift apart.

Like every layer it owns no socket and no clock: feed it datagrams and the time, drain
what it wants to send and what happened, and call it back at :meth:`get_timer`.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Protocol

from voice.counters import Counters
from voice.dtls import (
    DEFAULT_SRTP_PROFILES,
    Certificate,
    DtlsApplicationData,
    DtlsClosed,
    DtlsConnection,
    DtlsHandshakeComplete,
)
from voice.ice import (
    IceConnected,
    IceConsentExpired,
    IceControllingClient,
    IceEvent,
    IceSelectedPairChanged,
)
from voice.peer.errors import PeerUsageError
from voice.peer.events import (
    PeerAddressValidated,
    PeerClosed,
    PeerDtlsConnected,
    PeerEvent,
    PeerRtcpReceived,
    PeerRtpReceived,
)
from voice.rtp import RtpError, RtpPacket, RtpSession, is_rtcp, parse_rtcp
from voice.sansio import DatagramConnection
from voice.srtp import SrtpContext, SrtpError
from voice.srtp.profiles import SrtpProfile
from voice.stun import PacketKind, classify
from voice.types import Address

if TYPE_CHECKING:
    from voice.trace import DatagramTracer


class IceAgent(DatagramConnection[IceEvent], Protocol):
    """What the connection needs from either ICE role (the lite agent or the client): the
    driver contract, and whether an address has passed a check."""

    def is_validated(self, addr: Address) -> bool: ...


#: The counters every connection starts with, at zero, so an exporter sees a stable set;
#: SRTP failures add ``dropped_srtp_<reason>`` as they happen.
COUNTERS = (
    "stun_in",
    "dtls_in",
    "rtp_in",
    "rtcp_in",
    "rtp_out",
    "rtcp_out",
    "rtp_not_sent",  # send_rtp while media cannot flow (not up yet, or closed)
    "dtls_application_data_ignored",  # a voice call has no data channel
    "dropped_closed",  # anything after close
    "dropped_dtls_unvalidated",  # DTLS from an address ICE has not validated
    "dropped_rtp_unvalidated",  # SRTP from an address ICE has not validated
    "dropped_srtp_not_ready",  # SRTP before the keys
    "dropped_rtp_malformed",  # decrypted, but not RTP or RTCP
    "dropped_unknown_protocol",  # a first byte RFC 7983 assigns to nothing we speak
)


class PeerState(enum.Enum):
    NEW = "new"  # waiting for ICE
    CONNECTING = "connecting"  # ICE has a path, DTLS handshake running
    CONNECTED = "connected"  # SRTP keyed, media flows
    CLOSED = "closed"


#: The call's states and what moves it on; every change of :attr:`PeerConnection.state` is
#: checked against it, and ``docs/diagrams.md`` is drawn from it.
TRANSITIONS: Final[dict[PeerState, dict[str, PeerState]]] = {
    PeerState.NEW: {
        "ICE connected": PeerState.CONNECTING,
        # RFC 8445 §12.1: a browser runs DTLS on a valid pair before it nominates one.
        "DTLS complete before nomination": PeerState.CONNECTED,
        "closed or failed": PeerState.CLOSED,
    },
    PeerState.CONNECTING: {
        "DTLS handshake complete, SRTP keyed": PeerState.CONNECTED,
        "closed, consent expired, DTLS failed or no SRTP profile": PeerState.CLOSED,
    },
    PeerState.CONNECTED: {"closed, BYE or close_notify, consent expired": PeerState.CLOSED},
    PeerState.CLOSED: {},
}


class PeerConnection:
    """A call's transport stack on one path, sans-IO."""

    def __init__(
        self,
        *,
        ice: IceAgent,
        certificate: Certificate,
        remote_fingerprints: Sequence[tuple[str, str]] | None,
        is_dtls_server: bool,
        local_ssrc: int,
        cname: str,
        now: float,
        srtp_profiles: Sequence[SrtpProfile] | None = None,
        clock_rate: int = 48_000,
        tracer: DatagramTracer | None = None,
    ) -> None:
        self.ice = ice
        #: Sees every datagram in and out, and the DTLS key log (see :mod:`voice.trace`);
        #: None costs one test per datagram.
        self.tracer = tracer
        self._trace_now = now
        self.dtls = DtlsConnection(
            is_server=is_dtls_server,
            certificate=certificate,
            remote_fingerprints=remote_fingerprints,
            srtp_profiles=DEFAULT_SRTP_PROFILES if srtp_profiles is None else srtp_profiles,
            key_log=self._key_log,
        )
        self.rtp = RtpSession(local_ssrc, clock_rate, cname, now=now)
        self.is_dtls_server = is_dtls_server
        self.state = PeerState.NEW
        self.remote_address: Address | None = None
        self.srtp: SrtpContext | None = None
        self.srtp_profile: SrtpProfile | None = None
        self.close_reason: str | None = None
        self.counters: Counters[str] = Counters(COUNTERS)
        self._events: deque[PeerEvent] = deque()
        self._outgoing: list[tuple[bytes, Address]] = []
        self._claimed: set[Address] = set()
        self._dtls_source: Address | None = None

    @property
    def closed(self) -> bool:
        return self.state is PeerState.CLOSED

    def connect(self, now: float) -> None:
        """Caller's side only: starts the ICE checks (the DTLS client follows on success)."""
        if not isinstance(self.ice, IceControllingClient):
            raise PeerUsageError("only a peer with a controlling ICE agent starts the checks")
        self.ice.connect(now)
        self._pump_ice(now)

    # -- input ------------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Routes one datagram of the call by its first byte (RFC 7983 §7)."""
        try:
            if self.state is PeerState.CLOSED:
                self._count("dropped_closed")
                return
            kind = classify(data)
            if kind is PacketKind.STUN:
                self._count("stun_in")
                self.ice.receive_datagram(data, addr, now)
                self._pump_ice(now)
                if addr not in self._claimed and self.ice.is_validated(addr):
                    self._claimed.add(addr)
                    self._events.append(PeerAddressValidated(addr))
            elif kind is PacketKind.DTLS:
                if not self.ice.is_validated(addr):
                    # ICE has not vouched for this address: DTLS from it is not ours to answer.
                    self._count("dropped_dtls_unvalidated")
                    return
                self._count("dtls_in")
                self._dtls_source = addr
                self.dtls.receive_datagram(data, now)
                self._pump_dtls(now)
            elif kind is PacketKind.RTP:
                self._receive_srtp(data, addr, now)
            else:
                self._count("dropped_unknown_protocol")
            self._flush(now)
        finally:
            # Traced after it was handled, so the keys it revealed can decrypt it.
            if self.tracer is not None:
                self._trace_now = now
                self.tracer.datagram("in", data, addr, now)

    def handle_timeout(self, now: float) -> None:
        if self.tracer is not None:
            self._trace_now = now
        if self.state is PeerState.CLOSED:
            return
        self.ice.handle_timeout(now)
        self._pump_ice(now)
        if not self.closed:  # ICE consent may have just ended the call
            self.dtls.handle_timeout(now)
            self._pump_dtls(now)
        if self.state is PeerState.CONNECTED:
            self.rtp.handle_timeout(now)
        self._flush(now)

    def get_timer(self) -> float | None:
        if self.state is PeerState.CLOSED:
            return None
        timers = [self.ice.get_timer(), self.dtls.get_timer()]
        if self.state is PeerState.CONNECTED:
            timers.append(self.rtp.get_timer())
        pending = [t for t in timers if t is not None]
        return min(pending) if pending else None

    # -- output -----------------------------------------------------------------------

    @property
    def media_address(self) -> Address | None:
        """Where media goes: the selected address, or before ICE selects one, the validated
        address the DTLS handshake ran on.

        RFC 8445 §12.1: data may flow on a valid pair before a pair is selected. Browsers
        nominate some tens of milliseconds after their first check succeeds; waiting for it
        would delay the first audio for nothing. A strict lite agent would wait: its valid
        list only gains a pair from a nomination (RFC 8445 §7.3.2), and it sends nothing
        before (RFC 8445 §12.1.1); spec/rfc8445.md records this departure.
        """
        return self.remote_address or self._dtls_source

    def send_rtp(self, packet: RtpPacket, now: float) -> bool:
        """Protects and queues one RTP packet; False when media cannot flow yet (or any more)."""
        target = self.media_address
        if self.state is not PeerState.CONNECTED or self.srtp is None or target is None:
            self._count("rtp_not_sent")
            return False
        if self.tracer is not None:
            self._trace_now = now
        self.rtp.on_rtp_sent(packet, now)
        self._outgoing.append((self.srtp.protect_rtp(packet.encode()), target))
        self._count("rtp_out")
        return True

    def close(self, now: float, reason: str = "closed locally") -> None:
        """Ends the call politely: RTCP BYE and DTLS close_notify go out with the next drain."""
        if self.state is PeerState.CLOSED:
            return
        if self.state is PeerState.CONNECTED:
            self.rtp.close(now, reason)
            self._flush(now)
        self.dtls.close()
        self._drain_dtls_datagrams()
        self._finish(reason)

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._outgoing = self._outgoing, []
        if self.tracer is not None:
            for data, addr in out:
                self.tracer.datagram("out", data, addr, self._trace_now)
        return out

    def next_event(self) -> PeerEvent | None:
        return self._events.popleft() if self._events else None

    # -- internals --------------------------------------------------------------------

    def _key_log(self, line: str) -> None:
        # Once per handshake; a tracer attached after construction still gets the secret.
        if self.tracer is not None:
            self.tracer.key_log(line)

    def _enter(self, state: PeerState) -> None:
        if state not in TRANSITIONS[self.state].values():
            raise RuntimeError(f"no transition from {self.state.name} to {state.name}")
        self.state = state

    def _count(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount

    def _finish(self, reason: str) -> None:
        if self.state is PeerState.CLOSED:
            return
        self._enter(PeerState.CLOSED)
        self.close_reason = reason
        self._events.append(PeerClosed(reason))

    def _pump_ice(self, now: float) -> None:
        self._outgoing.extend(self.ice.datagrams_to_send())
        while (event := self.ice.next_event()) is not None:
            if isinstance(event, IceConnected):
                # The lite agent reports the peer it selected; the controlling client
                # reports its own mapped address, and its peer is the server it checks.
                peer = (
                    self.ice.remote_address
                    if isinstance(self.ice, IceControllingClient)
                    else event.address
                )
                self.remote_address = peer
                if self.state is PeerState.NEW:
                    self._enter(PeerState.CONNECTING)
                    self._events.append(IceConnected(peer))
                    if not self.is_dtls_server:
                        self.dtls.connect(now)
                        self._pump_dtls(now)
            elif isinstance(event, IceSelectedPairChanged):
                self.remote_address = event.address
                self._events.append(IceSelectedPairChanged(event.address))
            elif isinstance(event, IceConsentExpired):
                # RFC 7675 §5.1: without consent, stop sending media at once.
                self._finish("ICE consent expired")

    def _drain_dtls_datagrams(self) -> None:
        # Until ICE selects a path, answer DTLS where it came from: browsers start the
        # handshake as soon as a check succeeds, before they nominate (RFC 8445 §12.1),
        # and dropping our flight there would cost them a retransmission timeout.
        target = self.media_address
        for datagram in self.dtls.datagrams_to_send():
            if target is not None:
                self._outgoing.append((datagram, target))

    def _pump_dtls(self, now: float) -> None:
        self._drain_dtls_datagrams()
        while (event := self.dtls.next_event()) is not None:
            if isinstance(event, DtlsHandshakeComplete):
                if event.srtp_profile is None:
                    # RFC 5764 §4.1.1: without a common SRTP profile there is no media.
                    self.dtls.close()
                    self._drain_dtls_datagrams()
                    self._finish("DTLS negotiated no SRTP profile")
                    return
                self.srtp_profile = event.srtp_profile
                self.srtp = SrtpContext(
                    event.srtp_profile,
                    self.dtls.srtp_keying_material(),
                    is_server=self.is_dtls_server,
                )
                self._enter(PeerState.CONNECTED)
                self._events.append(PeerDtlsConnected(event.srtp_profile))
            elif isinstance(event, DtlsClosed):
                self._finish(f"DTLS closed: {event.reason}")
            elif isinstance(event, DtlsApplicationData):
                self._count("dtls_application_data_ignored")

    def _receive_srtp(self, data: bytes, addr: Address, now: float) -> None:
        if self.srtp is None:
            self._count("dropped_srtp_not_ready")
            return
        if not self.ice.is_validated(addr):
            self._count("dropped_rtp_unvalidated")
            return
        try:
            if is_rtcp(data):
                packets = parse_rtcp(self.srtp.unprotect_rtcp(data))
                self.rtp.on_rtcp_received(packets, now, size=len(data))
                self._count("rtcp_in")
                self._events.append(PeerRtcpReceived(tuple(packets)))
            else:
                packet = RtpPacket.parse(self.srtp.unprotect_rtp(data))
                self.rtp.on_rtp_received(packet, now)
                self._count("rtp_in")
                self._events.append(PeerRtpReceived(packet, now))
        except SrtpError as exc:
            self._count(f"dropped_srtp_{exc.reason}")
        except RtpError:
            self._count("dropped_rtp_malformed")

    def _flush(self, now: float) -> None:
        """Moves RTCP the RTP session wants to send into the outgoing queue, protected."""
        target = self.media_address
        if self.state is not PeerState.CONNECTED or self.srtp is None or target is None:
            return
        for report in self.rtp.rtcp_to_send():
            self._outgoing.append((self.srtp.protect_rtcp(report), target))
            self._count("rtcp_out")
