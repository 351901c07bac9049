"""Reception statistics for one remote source (RFC 3550 §6.4.1 and appendix A.1, A.3, A.8).

A receiver reports, per source, how many packets it expected and lost and how much their
arrival times wobble. The three pieces, each a short algorithm from appendix A:

* **Extended highest sequence number** (A.1): the 16-bit sequence number wraps every
  22 minutes at 50 packets a second, so the receiver counts wraps ("cycles") itself. It
  also validates a new source (a couple of packets in sequence before it counts) and
  tells a sender restart (a big jump, confirmed by a second packet) from a stray packet.
* **Loss** (A.3): expected = highest extended sequence - first sequence + 1; lost =
  expected - received, which goes negative when duplicates arrive. The fraction lost is
  the same over the interval since the previous report, as an 8-bit fraction.
* **Interarrival jitter** (A.8): how much the transit time (arrival time minus RTP
  timestamp, in timestamp units) changes between consecutive packets, smoothed with a
  gain of 1/16.
"""

from __future__ import annotations

from voice.rtp.rtcp import ReportBlock

RTP_SEQ_MOD = 1 << 16
#: RFC 3550 §A.1: a jump forward of fewer than this many packets is ordinary loss.
MAX_DROPOUT = 3000
#: RFC 3550 §A.1: a packet up to this far behind is late (reordered or duplicated).
MAX_MISORDER = 100
#: RFC 3550 §A.1: packets in sequence needed before a new source counts.
MIN_SEQUENTIAL = 2


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class SourceStatistics:
    """What we have received from one SSRC, kept the way RFC 3550 appendix A keeps it."""

    def __init__(self, ssrc: int, sequence_number: int, clock_rate: int) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        # RFC 3550 §A.1: a new source starts on probation, its first packet setting the
        # expectation for the second.
        self._init_sequence(sequence_number)
        self.max_seq = (sequence_number - 1) % RTP_SEQ_MOD
        self.probation = MIN_SEQUENTIAL
        self.jitter = 0.0  # in RTP timestamp units, as A.8 keeps it
        self._last_arrival: float | None = None
        self._last_timestamp = 0

    def _init_sequence(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1  # a value no sequence number can equal
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update_sequence(self, seq: int) -> bool:
        """Accounts one packet's sequence number; False when it is not (yet) counted.

        The decision table of RFC 3550 §A.1: in sequence while on probation; a small
        step forward (wrapping when the number goes down); a big jump, believed only when
        the next packet follows it; or a late packet, counted but not moving the maximum.
        """
        delta = (seq - self.max_seq) % RTP_SEQ_MOD
        if self.probation:
            if seq == (self.max_seq + 1) % RTP_SEQ_MOD:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_sequence(seq)
                    self.received += 1
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if delta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif delta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:
                # Two packets in sequence after a big jump: the sender restarted.
                self._init_sequence(seq)
            else:
                self.bad_seq = (seq + 1) % RTP_SEQ_MOD
                return False
        self.received += 1
        return True

    def update_jitter(self, timestamp: int, arrival: float) -> None:
        """RFC 3550 §A.8: smooth the change in transit time with a gain of 1/16.

        ``arrival`` is in seconds; the difference of two transit times is computed as the
        arrival gap (in timestamp units) minus the timestamp gap taken as a signed 32-bit
        number, which survives the RTP timestamp wrapping.
        """
        if self._last_arrival is not None:
            arrival_gap = (arrival - self._last_arrival) * self.clock_rate
            d = arrival_gap - _signed32(timestamp - self._last_timestamp)
            self.jitter += (abs(d) - self.jitter) / 16
        self._last_arrival = arrival
        self._last_timestamp = timestamp

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1

    @property
    def cumulative_lost(self) -> int:
        """RFC 3550 §A.3: expected minus received, clamped to the signed 24-bit field."""
        lost = self.expected - self.received
        return max(-(1 << 23), min(lost, (1 << 23) - 1))

    def interval_loss(self) -> tuple[int, int]:
        """Packets expected and lost since the last report (RFC 3550 §A.3), unchanged state."""
        expected_interval = self.expected - self.expected_prior
        received_interval = self.received - self.received_prior
        return expected_interval, expected_interval - received_interval

    def fraction_lost(self) -> int:
        """The 8-bit fraction lost since the last report; 0 when duplicates outnumber losses."""
        expected_interval, lost_interval = self.interval_loss()
        if expected_interval <= 0 or lost_interval <= 0:
            return 0
        return min(255, (lost_interval << 8) // expected_interval)

    def report_block(self, now: float, last_sr: tuple[int, float] | None = None) -> ReportBlock:
        """The reception report about this source, closing the current loss interval.

        ``last_sr`` is the middle 32 bits of the NTP timestamp of the last SR this source
        sent us and when it arrived, from which the sender computes the round trip.
        """
        fraction = self.fraction_lost()
        self.expected_prior = self.expected
        self.received_prior = self.received
        lsr = dlsr = 0
        if last_sr is not None:
            # RFC 3550 §6.4.1: echo the SR's timestamp and the delay since, in 1/65536 s.
            lsr = last_sr[0]
            dlsr = max(0, min(int((now - last_sr[1]) * 65536), 0xFFFFFFFF))
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            packets_lost=self.cumulative_lost,
            highest_sequence=self.extended_max & 0xFFFFFFFF,
            jitter=min(int(self.jitter), 0xFFFFFFFF),
            lsr=lsr,
            dlsr=dlsr,
        )
