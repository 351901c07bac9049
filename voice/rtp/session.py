"""Per-call RTP bookkeeping and the RTCP a real endpoint sends (RFC 3550 §6.3, §6.4), sans-IO.

An :class:`RtpSession` is told about every RTP packet sent and received and every RTCP
packet received, and in return produces the RTCP compound packets a well-behaved endpoint
sends: a sender report (SR) while we are sending, a receiver report (RR) otherwise, each
with reception reports about the sources we hear and an SDES with our CNAME; a BYE when
the call ends. It owns no clock: every method takes ``now`` (seconds on any monotonic
origin) and :meth:`get_timer` says when to call :meth:`handle_timeout` next.

A Trio driver's share::

    session = RtpSession(ssrc, 48000, cname, now=trio.current_time())
    ...on every packet: session.on_rtp_sent(pkt, now) / on_rtp_received / on_rtcp_received
    ...in the timer task:
        await sleep_until(session.get_timer())
        session.handle_timeout(trio.current_time())
        for compound in session.rtcp_to_send():
            send(srtp.protect_rtcp(compound))
"""

from __future__ import annotations

import random as _random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from voice.rtp.errors import RtpUsageError
from voice.rtp.events import RtpByeReceived, RtpEvent, RtpSsrcCollision
from voice.rtp.interval import (
    RTCP_BANDWIDTH_FRACTION,
    RTCP_MIN_TIME,
    deterministic_interval,
    rtcp_interval,
)
from voice.rtp.packet import RtpPacket
from voice.rtp.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    SdesChunk,
    SdesItemType,
    SenderReport,
    SourceDescription,
    encode_rtcp,
)
from voice.rtp.stats import SourceStatistics

#: Seconds from the NTP epoch (1900) to the Unix epoch (1970).
NTP_EPOCH_OFFSET = 2_208_988_800
#: RFC 3550 §6.2: 5 % of a 64 kb/s voice session, in octets per second.
DEFAULT_RTCP_BANDWIDTH = RTCP_BANDWIDTH_FRACTION * 64_000 / 8
#: What each RTCP datagram carries besides the RTCP bytes: IPv4 and UDP headers (28) and
#: the SRTCP index and 80-bit tag (14).
DEFAULT_PACKET_OVERHEAD = 28 + 14
#: RFC 3550 §6.3.5: a member silent for this many deterministic intervals has left.
MEMBER_TIMEOUT_INTERVALS = 5
#: RFC 3550 §6.3.5: a sender silent for this many report intervals is a receiver again.
SENDER_TIMEOUT_INTERVALS = 2
#: RFC 3550 §6.4: at most 31 report blocks fit the 5-bit count of one SR or RR.
MAX_REPORT_BLOCKS = 31


def ntp_timestamp(unix_time: float) -> int:
    """A Unix time as a 64-bit NTP timestamp: seconds since 1900 in 32.32 fixed point."""
    return int((unix_time + NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, the compact form in LSR (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class RtpStats:
    """A snapshot of one session's counters.

    Our side: ``packets_sent``/``bytes_sent`` (payload octets, as the SR counts them),
    ``packets_received``/``bytes_received`` (every RTP packet handed to the session),
    and for the most recent remote source ``packets_lost`` (cumulative, RFC 3550 §A.3),
    ``fraction_lost`` (0-1, since our last report) and ``jitter`` (seconds). The peer's
    side, from its last report about our stream: ``remote_*`` and ``round_trip_time``
    (seconds), None until one arrives.
    """

    packets_sent: int
    bytes_sent: int
    packets_received: int
    bytes_received: int
    packets_lost: int
    fraction_lost: float
    jitter: float
    remote_ssrc: int | None
    round_trip_time: float | None
    remote_packets_lost: int | None
    remote_fraction_lost: float | None
    remote_jitter: float | None
    rtcp_sent: int
    rtcp_received: int
    members: int
    senders: int


@dataclass(slots=True)
class _Member:
    last_heard: float
    last_rtp: float | None = None  # set while the member counts as a sender


class RtpSession:
    """RTP statistics and the RTCP schedule for one call.

    ``rtcp_bandwidth`` is the RTCP share of the session bandwidth in octets per second
    (RFC 3550 §6.2 suggests 5 %). ``min_interval`` is the minimum report interval: 5 s by
    default, or the reduced minimum (:func:`voice.rtp.interval.reduced_minimum`).
    ``packet_overhead`` is counted into the average RTCP size for the bytes each datagram
    carries below RTCP and around it (RFC 3711 §3.4 asks for the SRTCP fields to count).
    ``wallclock`` is the Unix time at ``now``, for the NTP timestamps of our SRs; without
    it they count from the Unix epoch as if ``now`` were 0, which is enough for the round
    trip time but not for synchronising with other streams. ``random`` returns a uniform
    float in [0, 1) and exists so tests can fix the schedule.
    """

    def __init__(
        self,
        local_ssrc: int,
        clock_rate: int = 48000,
        cname: str = "",
        *,
        now: float,
        rtcp_bandwidth: float = DEFAULT_RTCP_BANDWIDTH,
        min_interval: float = RTCP_MIN_TIME,
        packet_overhead: int = DEFAULT_PACKET_OVERHEAD,
        wallclock: float | None = None,
        random: Callable[[], float] | None = None,
    ) -> None:
        if rtcp_bandwidth <= 0:
            raise RtpUsageError("rtcp_bandwidth must be positive")
        self.local_ssrc = local_ssrc
        self.clock_rate = clock_rate
        # RFC 7022 has WebRTC endpoints pick a random CNAME per session.
        self.cname = cname or secrets.token_urlsafe(12)
        self.rtcp_bandwidth = rtcp_bandwidth
        self.min_interval = min_interval
        self.packet_overhead = packet_overhead
        self._random = random or _random.SystemRandom().random
        self._wall_offset = (wallclock if wallclock is not None else 0.0) - now
        self._now = now

        self._members: dict[int, _Member] = {}
        self._sources: dict[int, SourceStatistics] = {}
        self._last_sr: dict[int, tuple[int, float]] = {}
        self._heard_since_report: set[int] = set()
        self._remote_ssrc: int | None = None
        self._events: list[RtpEvent] = []
        self._outgoing: list[bytes] = []
        self._closed = False

        self._packets_sent = 0
        self._octets_sent = 0
        self._packets_received = 0
        self._octets_received = 0
        self._last_sent_timestamp = 0
        self._last_sent_time: float | None = None
        self._sent_this_interval = False
        self._sent_last_interval = False
        self._rtcp_sent = 0
        self._rtcp_received = 0
        self._round_trip_time: float | None = None
        self._remote_report: ReportBlock | None = None

        # RFC 3550 §6.3.2: start with ourselves as the only member, the initial flag set,
        # and an average RTCP size guessed from the first report we would send.
        self._initial = True
        self._pmembers = 1
        self._avg_rtcp_size = float(len(self._compound(now)) + packet_overhead)
        self._tp = now
        self._interval = self._next_interval()
        self._tn: float | None = now + self._interval

    # --- what the driver tells us -------------------------------------------------------

    def on_rtp_sent(self, packet: RtpPacket, now: float) -> None:
        """Counts one packet we sent, for our next SR (RFC 3550 §6.4.1)."""
        self._now = now
        self._packets_sent += 1
        self._octets_sent += len(packet.payload)
        self._last_sent_timestamp = packet.timestamp
        self._last_sent_time = now
        self._sent_this_interval = True

    def on_rtp_received(self, packet: RtpPacket, now: float) -> None:
        """Accounts one received packet in its source's statistics (RFC 3550 §A.1, §A.8)."""
        self._now = now
        ssrc = packet.ssrc
        if ssrc == self.local_ssrc:
            self._events.append(RtpSsrcCollision(ssrc))
            return
        self._packets_received += 1
        self._octets_received += len(packet.payload)
        member = self._heard_from(ssrc, now)
        member.last_rtp = now
        source = self._sources.get(ssrc)
        if source is None:
            source = self._sources[ssrc] = SourceStatistics(
                ssrc, packet.sequence_number, self.clock_rate
            )
        if source.update_sequence(packet.sequence_number):
            source.update_jitter(packet.timestamp, now)
        self._heard_since_report.add(ssrc)
        self._remote_ssrc = ssrc

    def on_rtcp_received(
        self, packets: Sequence[RtcpPacket], now: float, *, size: int | None = None
    ) -> None:
        """Takes in one compound RTCP packet from the peer, as :func:`parse_rtcp` returned it.

        ``size`` is its length on the wire before SRTCP was removed; without it the
        packets are re-encoded to measure them.
        """
        self._now = now
        self._rtcp_received += 1
        if size is None:
            size = len(encode_rtcp(packets)) + self.packet_overhead
        # RFC 3550 §6.3.3: every RTCP packet received moves the average size 1/16 of the way.
        self._avg_rtcp_size += (size - self._avg_rtcp_size) / 16
        for packet in packets:
            if isinstance(packet, SenderReport | ReceiverReport):
                if packet.ssrc == self.local_ssrc:
                    self._events.append(RtpSsrcCollision(packet.ssrc))
                    continue
                self._heard_from(packet.ssrc, now)
                if isinstance(packet, SenderReport):
                    self._last_sr[packet.ssrc] = (ntp_middle(packet.ntp_timestamp), now)
                for block in packet.reports:
                    if block.ssrc == self.local_ssrc:
                        self._on_report_about_us(block, now)
            elif isinstance(packet, Bye):
                for ssrc in packet.sources:
                    if ssrc != self.local_ssrc:
                        self._on_bye(ssrc, packet.reason, now)

    def close(self, now: float | None = None, reason: str = "") -> None:
        """Ends the session: queues a last report with a BYE and stops the timer.

        RFC 3550 §6.3.7 lets a participant in a session of fewer than 50 members send its
        BYE at once, which is always our case.
        """
        if self._closed:
            return
        if now is not None:
            self._now = now
        bye = Bye((self.local_ssrc,), reason.encode())
        self._outgoing.append(encode_rtcp([*self._report_packets(self._now), bye]))
        self._rtcp_sent += 1
        self._closed = True
        self._tn = None

    # --- what the driver asks -----------------------------------------------------------

    def get_timer(self) -> float | None:
        """When :meth:`handle_timeout` should next run; None once closed."""
        return self._tn

    def handle_timeout(self, now: float) -> None:
        """Sends a report if one is due, after reconsidering the interval (RFC 3550 §6.3.6).

        Timer reconsideration: the interval is computed again with what we know now, and
        if the last report plus that new interval is still in the future the report waits
        until then. It keeps a crowd that joins at once from flooding the session.
        """
        self._now = now
        if self._tn is None or now < self._tn:
            return
        self._expire_members(now)
        interval = self._next_interval()
        if self._tp + interval > now:
            self._tn = self._tp + interval
            return
        compound = self._compound(now)
        self._outgoing.append(compound)
        self._rtcp_sent += 1
        # RFC 3550 §6.3.6: our own report moves the average size like a received one.
        self._avg_rtcp_size += (len(compound) + self.packet_overhead - self._avg_rtcp_size) / 16
        self._sent_last_interval = self._sent_this_interval
        self._sent_this_interval = False
        self._tp = now
        self._initial = False
        self._pmembers = self.members
        self._interval = self._next_interval()
        self._tn = now + self._interval

    def rtcp_to_send(self) -> list[bytes]:
        """Drains the compound RTCP packets to send, unprotected (SRTCP is the caller's)."""
        out, self._outgoing = self._outgoing, []
        return out

    def next_event(self) -> RtpEvent | None:
        """The next :class:`RtpByeReceived` or :class:`RtpSsrcCollision`, or None."""
        return self._events.pop(0) if self._events else None

    @property
    def members(self) -> int:
        """Participants we know of, ourselves included (RFC 3550 §6.3.3)."""
        return len(self._members) + 1

    @property
    def senders(self) -> int:
        """Participants currently counted as senders, ourselves included when we are one."""
        remote = sum(1 for m in self._members.values() if m.last_rtp is not None)
        return remote + (1 if self.we_sent else 0)

    @property
    def we_sent(self) -> bool:
        """RFC 3550 §6.3: we sent RTP since the report before last."""
        return self._sent_this_interval or self._sent_last_interval

    @property
    def stats(self) -> RtpStats:
        source = self._sources.get(self._remote_ssrc) if self._remote_ssrc is not None else None
        report = self._remote_report
        return RtpStats(
            packets_sent=self._packets_sent,
            bytes_sent=self._octets_sent,
            packets_received=self._packets_received,
            bytes_received=self._octets_received,
            packets_lost=source.cumulative_lost if source else 0,
            fraction_lost=source.fraction_lost() / 256 if source else 0.0,
            jitter=source.jitter / self.clock_rate if source else 0.0,
            remote_ssrc=self._remote_ssrc,
            round_trip_time=self._round_trip_time,
            remote_packets_lost=report.packets_lost if report else None,
            remote_fraction_lost=report.fraction_lost / 256 if report else None,
            remote_jitter=report.jitter / self.clock_rate if report else None,
            rtcp_sent=self._rtcp_sent,
            rtcp_received=self._rtcp_received,
            members=self.members,
            senders=self.senders,
        )

    # --- inside -------------------------------------------------------------------------

    def _ntp_now(self, now: float) -> int:
        return ntp_timestamp(now + self._wall_offset)

    def _heard_from(self, ssrc: int, now: float) -> _Member:
        member = self._members.get(ssrc)
        if member is None:
            # RFC 3550 §6.3.3: a new SSRC joins the member table.
            member = self._members[ssrc] = _Member(last_heard=now)
        member.last_heard = now
        return member

    def _next_interval(self) -> float:
        return rtcp_interval(
            members=self.members,
            senders=self.senders,
            rtcp_bandwidth=self.rtcp_bandwidth,
            we_sent=self.we_sent,
            avg_rtcp_size=self._avg_rtcp_size,
            initial=self._initial,
            random_factor=0.5 + self._random(),
            minimum=self.min_interval,
        )

    def _on_report_about_us(self, block: ReportBlock, now: float) -> None:
        self._remote_report = block
        if block.lsr:
            # RFC 3550 §6.4.1: round trip = arrival - LSR - DLSR, all in 1/65536 s.
            rtt = (ntp_middle(self._ntp_now(now)) - block.lsr - block.dlsr) & 0xFFFFFFFF
            if rtt < 0x80000000:  # a negative value means clock trouble: ignore it
                self._round_trip_time = rtt / 65536

    def _on_bye(self, ssrc: int, reason: bytes, now: float) -> None:
        # RFC 3550 §6.3.4: a departing member leaves the table at once.
        if self._members.pop(ssrc, None) is not None:
            self._sources.pop(ssrc, None)
            self._last_sr.pop(ssrc, None)
            self._heard_since_report.discard(ssrc)
            self._reverse_reconsider(now)
        self._events.append(RtpByeReceived(ssrc, reason))

    def _expire_members(self, now: float) -> None:
        """RFC 3550 §6.3.5: forget silent members and demote silent senders."""
        td = deterministic_interval(
            members=self.members,
            senders=self.senders,
            rtcp_bandwidth=self.rtcp_bandwidth,
            we_sent=False,
            avg_rtcp_size=self._avg_rtcp_size,
            initial=False,
            minimum=RTCP_MIN_TIME,
        )
        gone = [
            ssrc
            for ssrc, member in self._members.items()
            if now - member.last_heard > MEMBER_TIMEOUT_INTERVALS * td
        ]
        for ssrc in gone:
            del self._members[ssrc]
            self._sources.pop(ssrc, None)
            self._last_sr.pop(ssrc, None)
        for member in self._members.values():
            last = member.last_rtp
            if last is not None and now - last > SENDER_TIMEOUT_INTERVALS * self._interval:
                member.last_rtp = None
        if gone:
            self._reverse_reconsider(now)

    def _reverse_reconsider(self, now: float) -> None:
        """RFC 3550 §6.3.4: when members leave, pull the next report closer in proportion."""
        if self._tn is None or self.members >= self._pmembers:
            return
        ratio = self.members / self._pmembers
        self._tn = now + ratio * (self._tn - now)
        self._tp = now - ratio * (now - self._tp)
        self._pmembers = self.members

    def _report_packets(self, now: float) -> list[RtcpPacket]:
        """SR or RR with our reception reports, then SDES CNAME (RFC 3550 §6.1)."""
        blocks = []
        for ssrc in sorted(self._heard_since_report)[:MAX_REPORT_BLOCKS]:
            source = self._sources.get(ssrc)
            if source is not None and not source.probation:
                blocks.append(source.report_block(now, self._last_sr.get(ssrc)))
        self._heard_since_report.clear()
        report: RtcpPacket
        if self.we_sent:
            rtp_timestamp = self._last_sent_timestamp
            if self._last_sent_time is not None:
                # RFC 3550 §6.4.1: the RTP time of the same instant as the NTP timestamp,
                # extrapolated from the last packet sent.
                elapsed = now - self._last_sent_time
                rtp_timestamp = (rtp_timestamp + round(elapsed * self.clock_rate)) & 0xFFFFFFFF
            report = SenderReport(
                ssrc=self.local_ssrc,
                ntp_timestamp=self._ntp_now(now),
                rtp_timestamp=rtp_timestamp,
                packet_count=self._packets_sent & 0xFFFFFFFF,
                octet_count=self._octets_sent & 0xFFFFFFFF,
                reports=tuple(blocks),
            )
        else:
            report = ReceiverReport(ssrc=self.local_ssrc, reports=tuple(blocks))
        sdes = SourceDescription(
            (SdesChunk(self.local_ssrc, ((SdesItemType.CNAME, self.cname.encode()),)),)
        )
        return [report, sdes]

    def _compound(self, now: float) -> bytes:
        return encode_rtcp(self._report_packets(now))
