"""An adaptive jitter buffer for one incoming RTP audio stream, sans-IO.

Packets leave the sender evenly spaced and arrive unevenly: late, early, out of order, twice,
or never; and sometimes in a heap, when a sender flushes the audio it captured before the
call was up, or a stalled path (or a paused process) lets go of what it held. The jitter
buffer holds each frame until its *playout time*, hands the frames to the decoder in sequence
order at the pace they were captured, and says which ones are missing so the decoder can
conceal them. It owns no clock: the driver passes ``now`` (seconds, any monotonic origin) to
every call.

Driving it::

    jb.push(packet.sequence_number, packet.timestamp, packet.payload, now)   # per packet
    jb.handle_timeout(now)                                                   # when due
    while (out := jb.next_event()) is not None:
        pcm = out.decode(decoder)          # Frame: decode; Lost: FEC from the next packet,
                                           # if it is already here, else conceal
    deadline = jb.get_timer()              # sleep until then (or the next packet)

It keeps the driver contract of :mod:`voice.sansio`; its input is :meth:`JitterBuffer.push`
and its events are the frames to play.

The policy
==========

The buffer's one promise is that it *converges*: whatever arrived before, it comes back to a
small hold (how long a frame waits between arriving and playing), about the jitter it has
measured plus at most one frame, and it never stops playing while packets arrive.

**Time.** Each packet gets a *nominal arrival time* on the local clock: the time it would have
arrived with no jitter, derived from its RTP timestamp (RFC 3550 §5.1: the timestamp counts
sampling instants and keeps advancing across silence, so the difference of two timestamps
over the clock rate is the time between them at the sender). It is computed relative to the
newest packet, so the 32-bit timestamp may wrap any number of times over a long call. The
*transit* of a packet is its real arrival time minus its nominal one: a constant for a
perfect network, varying with the jitter otherwise. A frame plays at ``nominal + P``; the
playout offset ``P`` is the only thing the policy moves, and a frame's hold is ``P`` minus
its transit.

**Start: at once.** The first packet plays as soon as it arrives (``initial_delay``, 0 by
default): there is nothing to protect yet, and every millisecond before the first frame is
heard is a millisecond of set-up the caller notices. The margin (below) is taken after the
first quiet frame, where the wait is not heard.

**Where the playout moves: in a pause.** Every change of ``P`` is heard in what the buffer
feeds: growing it leaves a gap in the output, shrinking it drops a frame. Whatever consumes
the frames at a steady pace (an echo sent back at 20 ms a frame, a listener placing frames by
their timestamps) carries that gap or cut into the audio for good, and a cut in a word is
what wideband PESQ (and an ear) punishes hardest, while the same cut in a pause between
words goes unnoticed. So every move that can wait is made in a *quiet frame*: an Opus
payload of at most ``QUIET_BYTES`` (32) bytes, since at 32 kbit/s with in-band FEC silence
and pauses take 17-21 bytes and speech 40-110 (the buffer sees payloads, not audio; a sender
at a very low bitrate is all "quiet", and moves anywhere, as before). An encoder that spends
more on silence still spends least on it: Chromium's takes 32 bytes in silence and 35 in the
pauses between words, against 40-120 in speech. So once the last ``QUIET_MEMORY`` (10 s)
has shown both (its largest payload at least twice its smallest, the *floor*), a payload
within a quarter above the floor is quiet too. A move that finds no quiet frame within
``QUIET_PATIENCE`` (2 s) is made anyway.

**Up: when a packet demands it.** A packet that arrives after its playout time, while its
slot is still open (nothing later was buffered, so it was not declared lost), raises ``P`` at
once so that it plays now (the output has already waited for it: no new gap); the margin of
``min_delay`` (one frame by default) on top is added after the next quiet frame. A packet
whose slot has already passed (declared lost, and concealed from the next packet's FEC)
asks for ``P`` to grow by its lateness and the margin, if that lateness is at most
``max_delay``, so the next one like it is in time; nothing waits for that growth, so it too
is made after the next quiet frame (at once if the frame just played was quiet or a loss).
Growth requests that meet before they are made overlap rather than add up. A loss found
only when the packet after it arrives (the hold was shorter than a frame) moves the frames
after it by as much, at once, so that the output never carries two frames at once. The
buffer grows as much as the network showed it must.

Why a one-frame margin: with a hold under a frame, a lost packet is noticed only when the
next one arrives, a frame after the loss should have played; with a frame of margin the
next packet is already there, so the loss is concealed on time, from that packet's FEC.

**Down: when a whole second says it may.** The buffer remembers the transits of the packets
of the last second (``WINDOW``; the highest and lowest, with two monotonic queues, O(1) per
packet). A second holds 50 packets: enough to see the jitter of a path, short enough that
a backlog is gone about a second after it arrived. The *spread* between the highest and
lowest transit is the measured jitter. If even the slowest packet of
that second would still have waited the margin plus a whole frame, the hold is a frame
longer than the network needs, and the buffer *drops one frame* (counted as *trimmed*), the
next quiet one, and lowers ``P`` by its duration, so that the frame after it plays in its
place. Dropping whole
frames, never playing faster, keeps the output at exactly one frame per frame duration:
whatever consumes it (an agent, a sender paced at 20 ms) never sees a backlog it would have
to hold. A missing frame whose slot comes while the hold is too long is skipped the same way
instead of being concealed. Trims are spread out, one in every ``TRIM_SPACING + 1`` frames
(at most 20 ms removed per 120 ms played), and wait after a *straggler*, a packet that came
later than packets sent after it: late, or in time but overtaken by the next packet more
than half a frame before it came (not merely within a heap of packets). Reordering is a
property of the path, and comes back: the wait is ``STRAGGLER_MEMORY`` (3 s) after a lone
straggler and ``STRAGGLER_MEMORY_MAX`` (6 s) after one that came within
``STRAGGLER_HORIZON`` (30 s) of the one before it, so a path that reorders every few
seconds keeps the hold that covers it (a trim would make the next straggler late, and
concealed) while ten calm seconds still bring the hold down.
An excess of ``max_delay`` or more is not jitter protection but stale audio (a backlog):
it is dropped as soon as can be, all of it, its quiet frames at once and its
speech after ``FLUSH_PATIENCE`` (1 s). The hold therefore settles between the spread
plus the margin and one frame more, the spread counted up to ``max_delay``: about the
measured jitter plus one frame.

Figures, with 20 ms frames and the defaults (``min_delay`` 20 ms, ``max_delay`` 200 ms,
``WINDOW`` 1 s), from the scenarios of ``tests/rtp/test_jitterbuffer.py`` (the hold read as
``P`` minus the mean transit):

* a steady network: the first frame plays the moment it arrives, the frames after the
  first quiet one a frame later: hold 20 ms, the margin;
* a start-up burst of 30, 60 or 200 packets (0.6-4 s of audio captured before the call was
  up, delivered within 3-10 ms), then live audio: the first frame plays on arrival, the
  backlog plays for one window, then the excess is dropped in one go, and the hold is
  30-40 ms from 1.05 s after the burst on (200 packets: 131 dropped at once as overflow,
  68 trimmed); 601 frames played in 12 s, nothing concealed;
* a stall of 0.1-3 s with its backlog delivered at once: the first late frame plays on
  arrival, the backlog is dropped a window later, hold under 80 ms 1.05-1.15 s after the
  stall (a stall over a second is a jump of the timeline: one resync); without a backlog
  (the path lost it) the missing frames are counted lost, at most one is concealed, and the
  hold does not change;
* a sender clock 1 % fast: 29 frames trimmed in a minute, hold 37 ms; 1 % slow: ``P``
  follows the packets up, nothing trimmed or lost, hold under 25 ms;
* uniform jitter of 0-60 ms: hold about 44-53 ms, at most a few packets late in 3000;
* speech-sized payloads (``test_a_small_excess_is_trimmed_in_a_pause_not_in_a_word`` and
  the tests after it): trims, growth and a backlog's drops all land in pauses; a packet
  reordered by 50 ms in a word is concealed from FEC, and the hold grows in the next pause;
  with no pause at all, each move waits ``QUIET_PATIENCE``; pauses of 35 bytes after a
  floor of 32 (Chromium's sizes) are quiet; a packet overtaken every 2.5-5 s keeps a hold
  of 65 ms, with one packet concealed, until 6 s after the last one;
* the worst order after a stall, the first live packet ahead of the backlog: part of the
  backlog is late, playing goes on after a pause of at most ``max_delay``, and the hold is
  back within ``STRAGGLER_MEMORY`` (3 s).

The RFC 3550 §A.8 interarrival jitter (a running mean, gain 1/16, of how much the transit
of each packet differs from the previous one's) is estimated too, for reports; the policy
uses the spread, which sees a rare long delay that a mean would smooth away.

**Order and loss.** Frames play in sequence order (the 16-bit sequence number is extended
across wrap-around, RFC 3550 §A.1). When the next frame is missing but a later one is
already here, the missing one is declared :class:`Lost` at its playout time, carrying the
payload of the frame after it when that one is buffered, so an Opus decoder can recover it
from in-band FEC. Nothing is declared lost while the buffer is empty: the sender may just be
silent (DTX), and an empty buffer yields ``None``.

**What is dropped, and counted** (in :attr:`JitterBuffer.stats`):

* *late*: a packet whose slot was already played or declared lost (unless it is a copy);
  and a frame found more than ``max_delay`` past its playout time (the driver fell behind),
  which is dropped rather than played stale;
* *duplicate*: a packet already buffered, or a copy of one recently played;
* *trimmed*: a frame dropped to bring the hold down (above);
* *overflow*: the oldest frame, when more than ``capacity`` are held (a heap of packets far
  ahead of playout); it lowers ``P`` like a trim;
* *skipped losses*: a missing frame not concealed, either because it was discovered more
  than one frame duration after its playout time (the sender came back after an outage;
  concealing it now would delay every later frame by the length of the outage), or because
  the hold was too long anyway;
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
* a packet whose transit differs from the previous packet's by more than
  ``max(1 s, 5 * max_delay)`` means the sender's timestamps jumped, or our clock did (a
  suspended host): re-anchor so that it counts as arriving like the packet before it. The
  previous packet, not a mean: in a heap of packets each one's transit is a frame below the
  last, which is no jump, however long the heap.

And a sequence gap with no time gap behind it (the numbering jumped forward by less than
``MAX_DROPOUT``) is stepped over without declaring the numbers lost (counted in *skipped*).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from voice.rtp.errors import RtpUsageError

#: RFC 3550 §A.1: a sequence number more than this far ahead is a jump, not a loss burst...
MAX_DROPOUT = 3000
#: ... and more than this far behind is a jump, not a late packet.
MAX_MISORDER = 100
#: Late, consecutive packets that together mean "the sender restarted behind us".
RESTART_RUN = 4
#: RFC 3550 §A.8: the gain of the jitter estimator (and of the mean transit).
GAIN = 1 / 16
#: Seconds of arrivals whose transits decide how short the hold may be.
WINDOW = 1.0
#: Frames played between two trims while the excess hold is under ``max_delay``.
TRIM_SPACING = 5
#: Seconds after a straggler (a packet later than the packets behind it) without small
#: trims: reordering is a property of the path, and comes back.
STRAGGLER_MEMORY = 3.0
#: The same after a straggler that came within ``STRAGGLER_HORIZON`` of the one before it:
#: a path that reorders again and again keeps the hold that covers it longer (and ten calm
#: seconds still bring the hold down).
STRAGGLER_MEMORY_MAX = 6.0
#: Seconds within which a second straggler means the path keeps reordering.
STRAGGLER_HORIZON = 30.0
#: Opus payloads of at most this many bytes are *quiet* frames: silence and the pauses
#: between words (17-21 bytes at 32 kbit/s with in-band FEC, where speech takes 40-110).
#: Moving the playout inside a quiet frame, by dropping it or by waiting after it, is not
#: heard; inside speech it is an audible cut or gap.
QUIET_BYTES = 32
#: Seconds of payloads whose smallest is the stream's *floor* and largest its *peak*. An
#: encoder with a higher bitrate or more redundancy spends more on silence (Chromium: 32-35
#: bytes in pauses, where speech takes 40-120), but still least on it: once the peak is at
#: least twice the floor (the stream has shown pauses and speech), a payload within a
#: quarter above the floor is quiet too, however large.
QUIET_MEMORY = 10.0
#: Seconds a move of the playout that is not urgent waits for a quiet frame before it is
#: made anyway (a stream that is never quiet: music, or a codec at a high bitrate).
QUIET_PATIENCE = 2.0
#: Seconds a backlog (an excess of ``max_delay`` or more) waits for quiet frames to drop
#: before it drops speech: stale audio is worth less than a pause, but not for long.
FLUSH_PATIENCE = 1.0
#: Lateness below this (a microsecond) is rounding, not the network.
_EPSILON = 1e-6
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


#: What :meth:`JitterBuffer.next_event` returns once something is due.
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
    #: Losses not concealed: found more than a frame late, or skipped to shorten the hold.
    skipped_losses: int = 0
    #: Frames dropped to bring the hold down to what the network needs.
    trimmed: int = 0

    @property
    def concealed(self) -> int:
        """Losses handed out as :class:`Lost`, for the decoder to conceal (or rebuild)."""
        return self.lost - self.skipped_losses


@dataclass(slots=True)
class _Entry:
    sequence_number: int
    timestamp: int
    payload: bytes
    nominal: float  # nominal arrival time on the local clock
    arrival: float  # when it came


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
    packet (960: 20 ms). Delays are in seconds: ``min_delay`` is the least a frame of the
    slowest recent packets waits, ``max_delay`` the most jitter the hold covers,
    ``initial_delay`` the wait of the very first frame. ``capacity`` bounds the frames held
    (default: a window and twice ``max_delay`` worth, 70 frames).
    """

    def __init__(
        self,
        *,
        clock_rate: int = 48_000,
        frame_samples: int = 960,
        min_delay: float | None = None,
        max_delay: float = 0.2,
        initial_delay: float = 0.0,
        capacity: int | None = None,
    ) -> None:
        if clock_rate <= 0 or frame_samples <= 0:
            raise RtpUsageError("clock_rate and frame_samples must be positive")
        self.clock_rate = clock_rate
        self.frame_samples = frame_samples
        self.frame_duration = frame_samples / clock_rate
        if min_delay is None:
            min_delay = min(self.frame_duration, max_delay)
        if not 0 <= min_delay <= max_delay:
            raise RtpUsageError(f"need 0 <= min_delay <= max_delay, got {min_delay}, {max_delay}")
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.initial_delay = min(max(initial_delay, 0.0), max_delay)
        self.capacity = capacity or max(
            4, math.ceil((WINDOW + 2 * max_delay) / self.frame_duration)
        )
        #: Transit change beyond which the sender's timestamps (or our clock) jumped.
        self.jump_threshold = max(1.0, 5 * max_delay)
        self.stats = JitterStats()
        self.reset()

    def reset(self) -> None:
        """Forgets the stream (keeps the counters): the next packet starts afresh, as for a
        new SSRC."""
        self._buffer: dict[int, _Entry] = {}  # by extended sequence number
        self._ready: deque[JitterOutput] = deque()  # due, not yet taken by next_event()
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
        self._offset = 0.0  # P: playout time = nominal + P
        # Arrivals of the last WINDOW: (arrival, transit), transits decreasing in _highs
        # and increasing in _lows, so the first of each is the window's extreme.
        self._highs: deque[tuple[float, float]] = deque()
        self._lows: deque[tuple[float, float]] = deque()
        self._history_start = 0.0  # first arrival since the start or since a long gap
        self._last_arrival = -math.inf
        self._since_trim = TRIM_SPACING
        self._straggler_at = -math.inf  # the last straggler's arrival...
        self._straggler_memory = STRAGGLER_MEMORY  # ...and how long small trims wait after it
        self._flushing = False
        self._due_since: float | None = None  # since when a small trim waits for quiet
        self._pending_up = 0.0  # growth of P that waits for a quiet frame...
        self._pending_since = 0.0  # ...since then
        self._after_quiet = True  # whether the last slot played was a quiet frame
        # Payload sizes of the last QUIET_MEMORY, increasing (the first is the floor) and
        # decreasing (the first is the peak).
        self._smallest: deque[tuple[float, int]] = deque()
        self._largest: deque[tuple[float, int]] = deque()
        self._quiet_bytes = QUIET_BYTES

    # -- what the driver reads -------------------------------------------------------------

    @property
    def jitter(self) -> float:
        """The interarrival jitter estimate, in seconds (RFC 3550 §A.8)."""
        return self._jitter

    @property
    def spread(self) -> float:
        """The measured jitter the hold covers: highest minus lowest transit of the packets
        of the last ``WINDOW`` (as of the last push or handle_timeout)."""
        if not self._highs:
            return 0.0
        return self._highs[0][1] - self._lows[0][1]

    @property
    def target_delay(self) -> float:
        """How long the fastest recent packets should wait: the spread (at most
        ``max_delay``) plus ``min_delay``; the hold settles up to one frame above it."""
        return min(self.spread, self.max_delay) + self.min_delay

    @property
    def hold(self) -> float:
        """How long an average packet waits now, between arriving and playing (``P`` minus
        the mean transit)."""
        return self._offset - self._transit

    @property
    def delay(self) -> float:
        """The same as :attr:`hold`."""
        return self.hold

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
            raise RtpUsageError("sequence_number is 16 bits and timestamp 32 bits")
        self.stats.received += 1
        if self._max_ext is None:
            self._max_ext, self._max_seq = sequence_number, sequence_number
            self._ref_ts, self._ref_nominal = timestamp, now
            self._prev_transit = 0.0  # the first packet defines transit 0...
            self._offset = self.initial_delay  # ...and plays after the initial delay
            # The margin is taken after the first quiet frame: not heard, and not in the
            # way of the first frame.
            self._after_quiet = False
            self._raise_later(max(0.0, self.min_delay - self.initial_delay), now)
            self._history_start = now
            self._remember_arrival(now, 0.0)
            self._remember_size(len(payload), now)
            self._buffer[sequence_number] = _Entry(sequence_number, timestamp, payload, now, now)
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
            after = self._buffer.get(ext + 1)
            if after is not None and now - after.arrival >= self.frame_duration / 2:
                # Overtaken well before it came (not merely within one heap of packets):
                # in time now, but the path reorders, and a trim would make the next one late.
                self._on_straggler(now)
        self._buffer[ext] = _Entry(seq, timestamp, payload, nominal, now)
        self._remember_size(len(payload), now)
        self._catch_up(ext, nominal, now)
        while len(self._buffer) > self.capacity:
            self._overflow()

    def _catch_up(self, ext: int, nominal: float, now: float, *, margin: bool = True) -> None:
        """Up: a frame arriving after its playout time, with its slot still open, plays now
        and the frames after it keep their spacing; beyond ``max_delay`` only when it is the
        first frame waiting, so that the stream always goes on. The output has already
        waited for it, so that much is no new gap; the margin on top is, and waits for a
        quiet frame."""
        lateness = now - (nominal + self._offset)
        if lateness > _EPSILON and (lateness <= self.max_delay or ext == min(self._buffer)):
            self._offset += lateness
            if margin:
                self._raise_later(self.min_delay, now)

    def _raise_later(self, amount: float, now: float) -> None:
        """Makes ``P`` grow by ``amount`` now if the last frame played was quiet, else after
        the next quiet frame played (or after ``QUIET_PATIENCE``): the wait it adds to the
        output falls in a pause. Requests made before it is done overlap, they do not add
        up."""
        if self._pending_up <= 0.0:
            self._pending_since = now
        self._pending_up = max(self._pending_up, amount)
        if self._after_quiet:
            self._offset += self._pending_up
            self._pending_up = 0.0

    def _remember_size(self, size: int, now: float) -> None:
        """Tracks the stream's floor and peak (its smallest and largest payloads of the last
        ``QUIET_MEMORY``), and with them the size up to which a payload is quiet."""
        smallest, largest = self._smallest, self._largest
        while smallest and smallest[-1][1] >= size:
            smallest.pop()
        smallest.append((now, size))
        while largest and largest[-1][1] <= size:
            largest.pop()
        largest.append((now, size))
        for sizes in (smallest, largest):
            while sizes[0][0] < now - QUIET_MEMORY:
                sizes.popleft()
        floor, peak = smallest[0][1], largest[0][1]
        self._quiet_bytes = max(QUIET_BYTES, floor * 5 // 4) if 2 * floor <= peak else QUIET_BYTES

    def _is_quiet(self, payload: bytes) -> bool:
        """Whether a payload is a pause: at most ``QUIET_BYTES``, or near the floor."""
        return len(payload) <= self._quiet_bytes

    def _observe(self, timestamp: int, now: float) -> float:
        """Returns the packet's nominal arrival time and feeds the estimators."""
        # RFC 3550 §5.1: timestamps advance with the sampling clock, so their difference over
        # the clock rate is the time between the packets at the sender.
        nominal = self._ref_nominal + _sdiff32(timestamp, self._ref_ts) / self.clock_rate
        transit = now - nominal
        previous = self._prev_transit if self._prev_transit is not None else self._transit
        if abs(transit - previous) > self.jump_threshold:
            # The sender's timestamps jumped (restart, or silence without advancing them),
            # or our clock did: re-anchor so this packet arrives like the one before it, and
            # keep the jump out of J.
            self.stats.resyncs += 1
            transit = previous
            nominal = now - transit
        else:
            # RFC 3550 §A.8: J += (|D(i-1, i)| - J) / 16, with D the difference of transits.
            self._jitter += (abs(transit - previous) - self._jitter) * GAIN
        self._prev_transit = transit
        self._transit += (transit - self._transit) * GAIN
        self._remember_arrival(now, transit)
        return nominal

    def _remember_arrival(self, now: float, transit: float) -> None:
        """Adds an arrival to the window of transits that decides how short the hold may
        be; after a silence longer than the window, the history starts afresh."""
        if now - self._last_arrival > WINDOW:
            self._history_start = now
        self._last_arrival = max(self._last_arrival, now)
        while self._highs and self._highs[-1][1] <= transit:
            self._highs.pop()
        self._highs.append((now, transit))
        while self._lows and self._lows[-1][1] >= transit:
            self._lows.pop()
        self._lows.append((now, transit))
        self._expire(now)

    def _expire(self, now: float) -> None:
        for window in (self._highs, self._lows):
            while len(window) > 1 and window[0][0] < now - WINDOW:
                window.popleft()

    def _on_jump(self, seq: int, timestamp: int, payload: bytes, now: float) -> None:
        probe = self._probe
        if probe is not None and seq == (probe.sequence_number + 1) & 0xFFFF:
            # RFC 3550 §A.1: two in a row: the sender restarted its numbering. Continue the
            # stream with it, right after the newest packet.
            self._probe = None
            self._splice(probe.sequence_number, probe.timestamp, probe.payload, probe.arrival)
            assert self._max_ext is not None
            # The probe waited for this packet, not for the network: it plays now, and the
            # hold grows by that wait alone.
            self._catch_up(self._max_ext, self._buffer[self._max_ext].nominal, now, margin=False)
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
            return
        self.stats.late += 1
        # A straggler: its slot is gone, but it shows how late packets come now. Up by its
        # lateness (within max_delay) so that the next one like it is in time.
        lateness = now - (self._observe(timestamp, now) + self._offset)
        if lateness <= self.max_delay:
            self._on_straggler(now)
        if _EPSILON < lateness <= self.max_delay:
            # Its slot was concealed already (from FEC, usually well): nothing is waiting
            # for the growth, so it is made where it is not heard.
            self._raise_later(lateness + self.min_delay, now)

    def _on_straggler(self, now: float) -> None:
        """Remembers a packet that came after packets sent later than it, and for how long:
        longer if it is not the first lately."""
        again = now - self._straggler_at <= STRAGGLER_HORIZON
        self._straggler_memory = STRAGGLER_MEMORY_MAX if again else STRAGGLER_MEMORY
        self._straggler_at = now

    def _splice(self, seq: int, timestamp: int, payload: bytes, arrival: float) -> None:
        """Continues the stream with a packet of a new numbering and timeline."""
        assert self._max_ext is not None
        self.stats.resyncs += 1
        ext = self._max_ext + 1
        transit = self._prev_transit if self._prev_transit is not None else self._transit
        nominal = arrival - transit  # the new timeline: this packet arrives like the last
        self._max_ext, self._max_seq = ext, seq
        self._ref_ts, self._ref_nominal = timestamp, nominal
        self._remember_arrival(arrival, transit)
        self._buffer[ext] = _Entry(seq, timestamp, payload, nominal, arrival)
        while len(self._buffer) > self.capacity:
            self._overflow()

    def _overflow(self) -> None:
        """Drops the oldest held frame; playout continues after it, in its place when it
        was the next to play."""
        oldest = min(self._buffer)
        entry = self._buffer.pop(oldest)
        self.stats.overflow += 1
        if self._next is None or self._next == oldest:
            self._offset -= self._packet_samples / self.clock_rate
        if self._next is not None:
            self._next = oldest + 1
            self._last_nominal = entry.nominal

    # -- output ----------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When the next frame (or loss) is due for :meth:`handle_timeout`; None while the
        buffer is empty (the next :meth:`push` may change it). It may step over a sequence
        jump that has no time gap behind it (counted in ``skipped``), as
        :meth:`handle_timeout` would."""
        slot = self._next_slot()
        return None if slot is None else slot[1]

    def handle_timeout(self, now: float) -> None:
        """Takes every frame to play and every loss to conceal whose time has come, in
        order, for :meth:`next_event`."""
        while (out := self._take_due(now)) is not None:
            self._ready.append(out)

    def next_event(self) -> JitterOutput | None:
        """The next frame to play (or loss to conceal) that :meth:`handle_timeout` found
        due, or None. Drain it before the next :meth:`push`."""
        return self._ready.popleft() if self._ready else None

    def _take_due(self, now: float) -> JitterOutput | None:
        self._expire(now)
        while True:
            slot = self._next_slot()
            if slot is None or slot[1] > now:
                return None
            ext, deadline, entry = slot
            if entry is not None:
                del self._buffer[ext]
                self._next = ext + 1
                self._remember(ext, entry.timestamp)
                self._last_nominal = entry.nominal
                if now - deadline > self.max_delay:
                    self.stats.late += 1  # the driver fell behind: not played stale
                    continue
                quiet = self._is_quiet(entry.payload)
                after = self._buffer.get(ext + 1)
                if after is not None and self._trim_due(now, quiet=quiet):
                    # Down: the frame after this one plays in its place.
                    self.stats.trimmed += 1
                    self._offset -= after.nominal - entry.nominal
                    continue
                self.stats.played += 1
                self._since_trim += 1
                self._after_quiet = quiet
                if self._pending_up > 0.0 and (
                    quiet or now - self._pending_since >= QUIET_PATIENCE
                ):
                    # Up, where it is not heard: the wait comes after a quiet frame.
                    self._offset += self._pending_up
                    self._pending_up = 0.0
                return Frame(entry.sequence_number, entry.timestamp, entry.payload)
            lost = self._lost(ext)
            # A loss in a pause, or before one, is quiet; one in the middle of a word, its
            # sound rebuilt from the next packet's FEC, is not.
            self._after_quiet = lost.next_payload is None or self._is_quiet(lost.next_payload)
            self._next = ext + 1
            self._last_nominal = deadline - self._offset
            self.stats.lost += 1
            if self._trim_due(now):
                # Down, for free: the hold is too long, so the gap closes instead of being
                # concealed.
                self.stats.skipped_losses += 1
                self._offset -= lost.samples / self.clock_rate
                continue
            # Concealment is for the present: a loss found more than a frame after its
            # playout time (the sender resumed after an outage) is skipped, not played
            # late, or every frame after it would be late by as much, for the rest of
            # the call.
            if now - deadline <= self.frame_duration + _EPSILON:
                # Found late (the hold was shorter than a frame, so only the next packet
                # showed it): the frames after it move by as much, so that the output keeps
                # one frame per frame duration. The loss demanded that much hold.
                self._offset += max(0.0, now - deadline)
                return lost
            self.stats.skipped_losses += 1

    def _trim_due(self, now: float, *, quiet: bool = True) -> bool:
        """Whether the hold is a frame longer than a whole window of arrivals needed (and a
        trim is allowed now, of a frame that is ``quiet`` or has waited long enough for
        one); counts the trim's spacing when it is."""
        if not self._highs or now - self._history_start < WINDOW:
            return False
        needed = min(self._highs[0][1], self._lows[0][1] + self.max_delay) + self.min_delay
        spare = self._offset + self._pending_up - needed
        if self._pending_up > 0.0 and spare < self.max_delay:
            return False  # the hold is about to grow, not shrink
        self._pending_up = 0.0
        if spare < self.frame_duration:
            self._flushing = False
            self._due_since = None
            return False
        # An excess of max_delay or more is dropped as soon as can be, all of it: the quiet
        # frames at once, speech after FLUSH_PATIENCE.
        self._flushing = self._flushing or spare >= self.max_delay
        if self._due_since is None:
            self._due_since = now
        if self._flushing:
            if not quiet and now - self._due_since < FLUSH_PATIENCE:
                return False
        else:
            if self._since_trim < TRIM_SPACING or now - self._straggler_at < self._straggler_memory:
                return False
            if not quiet and now - self._due_since < QUIET_PATIENCE:
                return False  # a cut in speech is heard: wait for a pause
        self._since_trim = 0
        return True

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
