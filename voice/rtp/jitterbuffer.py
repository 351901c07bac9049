"""An adaptive jitter buffer for one incoming RTP audio stream, sans-IO.

Packets leave the sender evenly spaced and arrive unevenly: late, early, out of order, twice,
or never. The jitter buffer holds each one until its *playout time*, hands them to the
decoder in sequence order, and says which ones are missing so the decoder can conceal them.
It owns no clock: the driver passes ``now`` (seconds, any monotonic origin) to every call.

Driving it::

    jb.push(packet.sequence_number, packet.timestamp, packet.payload, now)   # per packet
    while (out := jb.pop(now)) is not None:                                  # when due
        pcm = out.decode(decoder)          # Frame: decode; Lost: FEC from the next packet,
                                           # if it is already here, else conceal
    deadline = jb.get_timer()              # sleep until then (or the next packet)

The policy
==========

**Time.** Each packet gets a *nominal arrival time* on the local clock: the time it would have
arrived with no jitter, derived from its RTP timestamp (RFC 3550 §5.1: the timestamp counts
sampling instants, so the difference of two timestamps over the clock rate is the time
between them at the sender). It is computed relative to the newest packet, so the 32-bit
timestamp may wrap any number of times over a long call. The *transit* of a packet is its
real arrival time minus its nominal one: a constant for a perfect network, varying with the
jitter otherwise.

**Jitter.** The interarrival jitter ``J`` is the estimator of RFC 3550 §A.8: a running mean,
with gain 1/16, of how much the transit of each packet differs from the previous one's. A
running mean of the transit itself, ``T`` (same gain), follows slow changes such as the
sender's clock running a little fast or slow.

**Delay.** A packet plays at ``nominal + P``. The *target* is ``P* = T + clamp(4 * J,
min_delay, max_delay)``: wait four times the jitter beyond the mean transit, which lets
nearly every packet arrive in time, but never less than ``min_delay`` nor more than
``max_delay``. ``P`` starts at ``initial_delay`` (the first packet defines transit 0) and
follows the target asymmetrically:
it grows at once when the target rises (jitter got worse: protect the next packets), and
shrinks by only 0.5 ms per frame played (25 ms per second at 20 ms frames) when it falls,
so a momentary calm does not empty the buffer just before the next burst, and shrinking
never shortens a frame by more than a sliver.

**Order and loss.** Frames play in sequence order (the 16-bit sequence number is extended
across wrap-around, RFC 3550 §A.1). When the next frame is missing but a later one is
already here, the missing one is declared :class:`Lost` at its estimated playout time,
carrying the payload of the frame after it when that one is buffered, so an Opus decoder
can recover it from in-band FEC. Nothing is declared lost while the buffer is empty: the
sender may just be silent (DTX), and an empty buffer yields ``None``.

**What is dropped, and counted** (in :attr:`JitterBuffer.stats`):

* *late*: a packet whose slot was already played or declared lost (unless it is a copy);
  and a frame found more than ``max_delay`` past its playout time (the driver fell behind),
  which is dropped rather than played stale;
* *duplicate*: a packet already buffered, or a copy of one recently played;
* *overflow*: the oldest frame, when more than ``capacity`` are held (a burst of packets
  far ahead of playout); playout skips ahead to the next one;
* *skipped losses*: a missing frame discovered more than one frame duration after its
  playout time (the sender came back after an outage) is counted lost but not handed out:
  concealing it now would delay every later frame by the length of the outage;
* *stray*: a packet whose sequence number is far from the stream's (RFC 3550 §A.1's
  ``MAX_DROPOUT`` ahead or ``MAX_MISORDER`` behind) and was not followed by its successor.

**Resynchronisation** (counted in *resyncs*), so that a sender that restarts never stalls
the stream:

* a sequence jump confirmed by the next packet (two in a row: the probation of
  RFC 3550 §A.1) splices the new numbering onto the old, right after the newest packet;
* a run of at least four consecutive, in-order but late packets that are not copies of
  frames already played (same number, same timestamp), spread over at least two frame
  durations with nothing fresh in between, means the sender restarted its numbering
  slightly behind ours (stragglers come in bursts or between fresh packets): splice too;
* a packet whose transit differs from the mean by more than ``max(1 s, 5 * max_delay)`` means
  the sender's timestamps jumped: re-anchor so that it counts as arriving on time.

And a sequence gap with no time gap behind it (the numbering jumped forward by less than
``MAX_DROPOUT``) is stepped over without declaring the numbers lost (counted in *skipped*).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

#: RFC 3550 §A.1: a sequence number more than this far ahead is a jump, not a loss burst...
MAX_DROPOUT = 3000
#: ... and more than this far behind is a jump, not a late packet.
MAX_MISORDER = 100
#: Late, consecutive packets that together mean "the sender restarted behind us".
RESTART_RUN = 4
#: RFC 3550 §A.8: the gain of the jitter estimator (and of the mean transit).
GAIN = 1 / 16
#: The target waits this many times the jitter beyond the mean transit.
JITTER_MULTIPLIER = 4
#: How many played frames are remembered to tell a copy ("duplicate") from a straggler.
_HISTORY = 128


class FrameDecoder(Protocol):
    """What :meth:`Frame.decode` and :meth:`Lost.decode` need: :class:`voice.opus.OpusDecoder`
    fits, and so does any codec with the same three methods."""

    def decode(self, payload: bytes) -> bytes: ...

    def conceal(self) -> bytes: ...

    def decode_fec(self, next_payload: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Frame:
    """A received frame whose playout time has come: decode it."""

    sequence_number: int
    timestamp: int
    payload: bytes

    def decode(self, decoder: FrameDecoder) -> bytes:
        return decoder.decode(self.payload)


@dataclass(frozen=True, slots=True)
class Lost:
    """A frame that did not arrive in time: conceal it.

    ``next_payload`` is the payload of the frame right after it when that one is already
    buffered: an Opus decoder can recover the lost frame from its in-band FEC. ``timestamp``
    and ``samples`` are estimated from the frames around the gap.
    """

    sequence_number: int
    timestamp: int
    samples: int
    next_payload: bytes | None

    def decode(self, decoder: FrameDecoder) -> bytes:
        if self.next_payload is not None:
            return decoder.decode_fec(self.next_payload)
        return decoder.conceal()


#: What :meth:`JitterBuffer.pop` returns when something is due.
JitterOutput = Frame | Lost


@dataclass(slots=True)
class JitterStats:
    """Counters a driver can export; see the module docstring for what each one means."""

    received: int = 0
    played: int = 0
    lost: int = 0
    late: int = 0
    duplicate: int = 0
    reordered: int = 0
    overflow: int = 0
    stray: int = 0
    resyncs: int = 0
    skipped: int = 0
    #: Losses found more than a frame after their playout time, skipped instead of concealed.
    skipped_losses: int = 0


@dataclass(slots=True)
class _Entry:
    sequence_number: int
    timestamp: int
    payload: bytes
    nominal: float  # nominal arrival time on the local clock


@dataclass(slots=True)
class _Probe:
    sequence_number: int
    timestamp: int
    payload: bytes
    arrival: float


def _sdiff16(a: int, b: int) -> int:
    """``a - b`` for 16-bit sequence numbers, in -32768..32767 (RFC 3550 §A.1)."""
    return (a - b + 0x8000) % 0x10000 - 0x8000


def _sdiff32(a: int, b: int) -> int:
    """``a - b`` for 32-bit RTP timestamps, in -2**31..2**31-1."""
    return (a - b + 0x8000_0000) % 0x1_0000_0000 - 0x8000_0000


class JitterBuffer:
    """Reorders, times and thins one RTP stream for playout; see the module docstring.

    ``clock_rate`` is the RTP clock (48 000 for Opus), ``frame_samples`` the usual samples per
    packet (960: 20 ms). Delays are in seconds. ``capacity`` bounds the frames held (default:
    three times ``max_delay`` worth).
    """

    def __init__(
        self,
        *,
        clock_rate: int = 48_000,
        frame_samples: int = 960,
        min_delay: float = 0.02,
        max_delay: float = 0.2,
        initial_delay: float = 0.04,
        capacity: int | None = None,
    ) -> None:
        if clock_rate <= 0 or frame_samples <= 0:
            raise ValueError("clock_rate and frame_samples must be positive")
        if not 0 <= min_delay <= max_delay:
            raise ValueError(f"need 0 <= min_delay <= max_delay, got {min_delay}, {max_delay}")
        self.clock_rate = clock_rate
        self.frame_samples = frame_samples
        self.frame_duration = frame_samples / clock_rate
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.initial_delay = min(max(initial_delay, min_delay), max_delay)
        self.capacity = capacity or max(4, math.ceil(3 * max_delay / self.frame_duration))
        #: Transit deviation beyond which the sender's timestamps are taken to have jumped.
        self.jump_threshold = max(1.0, 5 * max_delay)
        self.stats = JitterStats()
        self.reset()

    def reset(self) -> None:
        """Forgets the stream (keeps the counters): the next packet starts afresh, as for a
        new SSRC."""
        self._buffer: dict[int, _Entry] = {}  # by extended sequence number
        self._max_ext: int | None = None  # highest extended sequence number accepted
        self._max_seq = 0  # its 16-bit value on the wire
        self._ref_ts = 0  # timestamp and nominal time of that packet: the time reference
        self._ref_nominal = 0.0
        self._next: int | None = None  # extended sequence number of the next slot to play
        self._last_nominal = 0.0  # nominal time of the last slot played or lost
        self._packet_samples = self.frame_samples  # the sender's packet duration, as seen
        self._played: dict[int, int] = {}  # timestamps of the last frames played, by slot
        self._probe: _Probe | None = None
        self._late_run = 0
        self._late_run_start = 0.0
        self._late_seq = 0
        self._transit = 0.0  # T: mean transit
        self._prev_transit: float | None = None
        self._jitter = 0.0  # J, in seconds
        self._offset = self.initial_delay  # P: playout time = nominal + P

    # -- what the driver reads -------------------------------------------------------------

    @property
    def jitter(self) -> float:
        """The interarrival jitter estimate, in seconds (RFC 3550 §A.8)."""
        return self._jitter

    @property
    def target_delay(self) -> float:
        """How long the policy wants an average packet to wait: ``4 * J`` within bounds."""
        return min(max(JITTER_MULTIPLIER * self._jitter, self.min_delay), self.max_delay)

    @property
    def delay(self) -> float:
        """How long an average packet waits now (``P`` minus the mean transit)."""
        return self._offset - self._transit

    @property
    def in_probation(self) -> bool:
        """Whether a packet far from the stream's numbering is held, waiting to see if its
        successor confirms a restart (RFC 3550 §A.1)."""
        return self._probe is not None

    def __len__(self) -> int:
        """Frames held."""
        return len(self._buffer)

    # -- input -----------------------------------------------------------------------------

    def push(self, sequence_number: int, timestamp: int, payload: bytes, now: float) -> None:
        """Takes one received RTP packet (its header fields and payload) that arrived at
        ``now``. Never raises for anything a sender does; counts what it drops."""
        if not 0 <= sequence_number <= 0xFFFF or not 0 <= timestamp <= 0xFFFF_FFFF:
            raise ValueError("sequence_number is 16 bits and timestamp 32 bits")
        self.stats.received += 1
        if self._max_ext is None:
            self._max_ext, self._max_seq = sequence_number, sequence_number
            self._ref_ts, self._ref_nominal = timestamp, now
            self._prev_transit = 0.0  # the first packet defines transit 0
            self._buffer[sequence_number] = _Entry(sequence_number, timestamp, payload, now)
            return
        delta = _sdiff16(sequence_number, self._max_seq)
        # RFC 3550 §A.1: a number far from the stream is either garbage or a restart; only
        # its successor arriving next tells which (probation).
        if delta > MAX_DROPOUT or delta < -MAX_MISORDER:
            self._on_jump(sequence_number, timestamp, payload, now)
            return
        if self._probe is not None:
            self._probe = None
            self.stats.stray += 1
        ext = self._max_ext + delta
        if self._next is not None and ext < self._next:
            self._on_late(ext, sequence_number, timestamp, payload, now)
            return
        if ext in self._buffer:
            self.stats.duplicate += 1
            return
        self._late_run = 0
        self._insert(ext, sequence_number, timestamp, payload, now)

    def _insert(self, ext: int, seq: int, timestamp: int, payload: bytes, now: float) -> None:
        assert self._max_ext is not None
        nominal = self._observe(timestamp, now)
        if ext > self._max_ext:
            previous = self._buffer.get(ext - 1)
            if ext == self._max_ext + 1 and previous is not None:
                step = _sdiff32(timestamp, previous.timestamp)
                if 0 < step <= 5760:  # a plausible packet duration, not a DTX gap
                    self._packet_samples = step
            self._max_ext, self._max_seq = ext, seq
            self._ref_ts, self._ref_nominal = timestamp, nominal
        else:
            self.stats.reordered += 1
        self._buffer[ext] = _Entry(seq, timestamp, payload, nominal)
        # Grow the delay at once when the target rises.
        self._offset = max(self._offset, self._transit + self.target_delay)
        while len(self._buffer) > self.capacity:
            self._overflow()

    def _observe(self, timestamp: int, now: float) -> float:
        """Returns the packet's nominal arrival time and feeds the estimators."""
        # RFC 3550 §5.1: timestamps advance with the sampling clock, so their difference over
        # the clock rate is the time between the packets at the sender.
        nominal = self._ref_nominal + _sdiff32(timestamp, self._ref_ts) / self.clock_rate
        transit = now - nominal
        if abs(transit - self._transit) > self.jump_threshold:
            # The sender's timestamps jumped (restart, or silence without advancing them):
            # re-anchor so this packet counts as on time, and keep the jump out of J.
            self.stats.resyncs += 1
            self._prev_transit = self._transit
            return now - self._transit
        # RFC 3550 §A.8: J += (|D(i-1, i)| - J) / 16, with D the difference of transits.
        if self._prev_transit is not None:
            self._jitter += (abs(transit - self._prev_transit) - self._jitter) * GAIN
        self._prev_transit = transit
        self._transit += (transit - self._transit) * GAIN
        return nominal

    def _on_jump(self, seq: int, timestamp: int, payload: bytes, now: float) -> None:
        probe = self._probe
        if probe is not None and seq == (probe.sequence_number + 1) & 0xFFFF:
            # RFC 3550 §A.1: two in a row: the sender restarted its numbering. Continue the
            # stream with it, right after the newest packet.
            self._probe = None
            self._splice(probe.sequence_number, probe.timestamp, probe.payload, probe.arrival)
            assert self._max_ext is not None
            self._insert(self._max_ext + 1, seq, timestamp, payload, now)
            return
        if probe is not None:
            self.stats.stray += 1
        self._probe = _Probe(seq, timestamp, payload, now)

    def _on_late(self, ext: int, seq: int, timestamp: int, payload: bytes, now: float) -> None:
        if self._played.get(ext) == timestamp:
            self.stats.duplicate += 1  # a copy of a frame already played
            return
        if self._late_run and seq == (self._late_seq + 1) & 0xFFFF:
            self._late_run += 1
        else:
            self._late_run, self._late_run_start = 1, now
        self._late_seq = seq
        if self._late_run >= RESTART_RUN and now - self._late_run_start >= 2 * self.frame_duration:
            # New packets (not copies), in order, steadily paced, and all behind us: a sender
            # that restarted its numbering a little behind ours, not stragglers, which come
            # in bursts or between fresh packets. Follow it.
            self._late_run = 0
            self._splice(seq, timestamp, payload, now)
        else:
            self.stats.late += 1

    def _splice(self, seq: int, timestamp: int, payload: bytes, arrival: float) -> None:
        """Continues the stream with a packet of a new numbering and timeline."""
        assert self._max_ext is not None
        self.stats.resyncs += 1
        ext = self._max_ext + 1
        nominal = arrival - self._transit  # the new timeline: this packet is on time
        self._max_ext, self._max_seq = ext, seq
        self._ref_ts, self._ref_nominal = timestamp, nominal
        self._prev_transit = self._transit
        self._buffer[ext] = _Entry(seq, timestamp, payload, nominal)
        while len(self._buffer) > self.capacity:
            self._overflow()

    def _overflow(self) -> None:
        """Drops the oldest held frame; playout continues after it."""
        oldest = min(self._buffer)
        entry = self._buffer.pop(oldest)
        self.stats.overflow += 1
        if self._next is not None:
            self._next = oldest + 1
            self._last_nominal = entry.nominal

    # -- output ----------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When the next frame (or loss) is due for :meth:`pop`; None while the buffer is
        empty (the next :meth:`push` may change it). It may step over a sequence jump that
        has no time gap behind it (counted in ``skipped``), as :meth:`pop` would."""
        slot = self._next_slot()
        return None if slot is None else slot[1]

    def pop(self, now: float) -> JitterOutput | None:
        """The next frame to play, or the next loss to conceal, if its time has come;
        otherwise None. Call it until it returns None."""
        while True:
            slot = self._next_slot()
            if slot is None or slot[1] > now:
                return None
            ext, deadline, entry = slot
            stale = now - deadline > self.max_delay
            if entry is not None:
                del self._buffer[ext]
                self._next = ext + 1
                self._remember(ext, entry.timestamp)
                self._last_nominal = entry.nominal
                if stale:
                    self.stats.late += 1
                    continue
                self.stats.played += 1
                # Shrink the delay slowly towards a lower target.
                target = self._transit + self.target_delay
                self._offset = max(target, self._offset - self.frame_duration / 40)
                return Frame(entry.sequence_number, entry.timestamp, entry.payload)
            lost = self._lost(ext)
            self._next = ext + 1
            self._last_nominal = deadline - self._offset
            self.stats.lost += 1
            # Concealment is for the present: a loss found more than a frame after its
            # playout time (the sender resumed after an outage) is skipped, not played
            # late, or every frame after it would be late by as much, for the rest of
            # the call.
            if now - deadline <= self.frame_duration:
                return lost
            self.stats.skipped_losses += 1

    def _next_slot(self) -> tuple[int, float, _Entry | None] | None:
        """(extended sequence number, playout time, entry or None if missing) of the next
        slot; steps over a sequence gap that has no time gap behind it."""
        if not self._buffer:
            return None
        # Until the first frame plays, the stream starts at the lowest number held, so that
        # a packet overtaken at the very start still plays first.
        ext = self._next if self._next is not None else min(self._buffer)
        entry = self._buffer.get(ext)
        if entry is not None:
            return ext, entry.nominal + self._offset, entry
        assert self._next is not None
        head_ext = min(self._buffer)
        head = self._buffer[head_ext]
        # How many packets fit in the time between the last slot and the next frame held: a
        # sequence gap wider than that is the numbering jumping, not packets lost.
        span = head.nominal - self._last_nominal
        fits = max(0, round(span * self.clock_rate / self._packet_samples) - 1)
        if head_ext - self._next > fits:
            self.stats.skipped += head_ext - self._next - fits
            self._next = head_ext - fits
            if fits == 0:
                return head_ext, head.nominal + self._offset, head
        # The missing slot plays where it would have, counting back from the next frame held
        # by the sender's packet duration (after a silence, the loss is the talkspurt's start).
        back = (head_ext - self._next) * self._packet_samples / self.clock_rate
        return self._next, head.nominal - back + self._offset, None

    def _lost(self, ext: int) -> Lost:
        head_ext = min(self._buffer)
        head = self._buffer[head_ext]
        after = self._buffer.get(ext + 1)
        return Lost(
            sequence_number=(head.sequence_number - (head_ext - ext)) & 0xFFFF,
            timestamp=(head.timestamp - (head_ext - ext) * self._packet_samples) & 0xFFFF_FFFF,
            samples=self._packet_samples,
            next_payload=None if after is None else after.payload,
        )

    def _remember(self, ext: int, timestamp: int) -> None:
        """Records a played frame, so that a copy of it arriving later is a duplicate."""
        self._played[ext] = timestamp
        self._played.pop(ext - _HISTORY, None)
        if len(self._played) > 2 * _HISTORY:  # after skips: forget the old ones
            self._played = {k: v for k, v in self._played.items() if k > ext - _HISTORY}
