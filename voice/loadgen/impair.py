"""A userspace impairment link: a UDP forwarder that loses, delays, jitters, reorders and
duplicates datagrams, for measuring calls over a bad network on a machine without netem.

The link sits between one caller and one server. The caller sends to the link instead of the
server (:class:`voice.loadgen.caller.Caller` takes a ``route`` for that); the link forwards
what the caller sends to the server and what the server answers back to the caller, each
direction through its own :class:`ImpairedPath`. The server sees the link's address as the
caller's, as it would see a NAT's.

Two layers, as everywhere in ``voice``:

* :class:`ImpairedPath` decides the fate of each datagram and when it leaves. It owns no
  socket and no clock, and keeps the driver contract of :mod:`voice.sansio`:
  ``submit(datagram, now)``, then ``handle_timeout(now)`` lets out what must leave by
  ``now`` for ``datagrams_to_send()``, and ``get_timer()`` says when to ask next. Every
  random choice comes from one ``random.Random(seed)`` drawn in a fixed order per datagram,
  so a seed and a sequence of submissions give the same losses and delays on every run:
  tests pass explicit times and need no sleeping.
* :class:`ImpairmentLink` is the Trio driver: one socket, a receive loop and a send loop.

What each setting of :class:`Impairment` does to a datagram, in this order:

* ``loss``: dropped with this probability, independently of every other datagram
  (a Bernoulli channel: isolated losses, the easy case for concealment);
* ``burst``: a Gilbert–Elliott channel on top: a two-state Markov chain (good, bad) stepped
  once per datagram, with a loss probability in each state. Real losses come in runs
  (a queue overflowing, a radio fading) and a run defeats Opus in-band FEC, which carries
  only the previous frame: this is the hard case;
* ``duplicate``: a surviving datagram is sent twice with this probability; the copy draws
  its own delay;
* ``delay`` and ``jitter``: each copy leaves ``delay`` plus a uniform draw in
  ``[-jitter, +jitter]`` seconds after it arrived (never before it arrived). Draws are
  independent, as in netem without a rate limit: when the jitter exceeds half the packet
  spacing, packets overtake each other, which is what real multi-path jitter does;
* ``reorder``: with this probability a datagram is held back ``reorder_delay`` more, so on
  a 20 ms stream it arrives after the next one or two: reordering without extra jitter.
"""

from __future__ import annotations

import heapq
import logging
import math
import random
from dataclasses import dataclass, field

import trio

from voice.types import Address

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GilbertElliott:
    """The two-state burst-loss channel: ``p`` the chance per datagram of moving from the good
    to the bad state, ``r`` of moving back; in the good state a datagram is lost with
    ``loss_good``, in the bad state with ``loss_bad``.

    With ``loss_good`` 0 and ``loss_bad`` 1 (Gilbert's original model), the long-run loss
    rate is ``p / (p + r)`` and a run of losses lasts ``1 / r`` datagrams on average.
    """

    p: float
    r: float
    loss_good: float = 0.0
    loss_bad: float = 1.0

    def __post_init__(self) -> None:
        for name in ("p", "r", "loss_good", "loss_bad"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Gilbert–Elliott {name}={value} is not a probability")
        if self.r == 0.0 and self.p > 0.0:
            raise ValueError("Gilbert–Elliott r=0: once bad, the channel never recovers")

    @classmethod
    def from_rate(cls, rate: float, mean_burst: float = 3.0) -> GilbertElliott:
        """The channel that loses ``rate`` of all datagrams in runs of ``mean_burst`` on
        average (every datagram in the bad state lost, none in the good state)."""
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"burst loss rate {rate} outside 0..1")
        if mean_burst < 1.0:
            raise ValueError(f"a burst lasts at least one datagram, not {mean_burst}")
        r = 1.0 / mean_burst
        return cls(p=rate * r / (1.0 - rate), r=r)

    @property
    def loss_rate(self) -> float:
        """The long-run share of datagrams lost."""
        if self.p + self.r == 0.0:
            return self.loss_good
        bad = self.p / (self.p + self.r)
        return (1.0 - bad) * self.loss_good + bad * self.loss_bad


@dataclass(frozen=True, slots=True)
class Impairment:
    """What one direction of the link does to the datagrams crossing it (module docstring).

    Probabilities are 0..1; times are seconds. The default impairs nothing.
    """

    loss: float = 0.0
    burst: GilbertElliott | None = None
    delay: float = 0.0
    jitter: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.040
    duplicate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("loss", "reorder", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value} is not a probability")
        for name in ("delay", "jitter", "reorder_delay"):
            if getattr(self, name) < 0.0:
                raise ValueError(f"{name} must not be negative")

    def describe(self) -> str:
        """A short human label: ``10% loss``, ``40±20 ms``, ``none``."""
        parts = []
        if self.loss:
            parts.append(f"{self.loss:.0%} loss")
        if self.burst is not None:
            parts.append(f"{self.burst.loss_rate:.0%} burst loss ({1 / self.burst.r:.0f} long)")
        if self.delay or self.jitter:
            parts.append(f"{self.delay * 1e3:.0f}±{self.jitter * 1e3:.0f} ms")
        if self.reorder:
            parts.append(f"{self.reorder:.0%} reorder")
        if self.duplicate:
            parts.append(f"{self.duplicate:.0%} duplicate")
        return ", ".join(parts) or "none"


@dataclass
class PathStats:
    """What a path did, by datagram."""

    submitted: int = 0
    lost_random: int = 0
    lost_burst: int = 0
    duplicated: int = 0
    reordered: int = 0
    delivered: int = 0

    @property
    def lost(self) -> int:
        return self.lost_random + self.lost_burst


@dataclass(order=True)
class _Pending:
    leaves_at: float
    order: int  # submission order breaks ties, so equal times keep arrival order
    datagram: bytes = field(compare=False)


class ImpairedPath:
    """One direction of the link, sans-IO: decides each datagram's fate and departure time."""

    def __init__(self, impairment: Impairment, seed: int = 0) -> None:
        self.impairment = impairment
        self.stats = PathStats()
        self._rng = random.Random(seed)
        self._bad = False  # the Gilbert–Elliott state
        self._queue: list[_Pending] = []
        self._order = 0
        self._leaving: list[bytes] = []

    def submit(self, datagram: bytes, now: float) -> None:
        """A datagram entered the path at ``now``: drop it, or schedule it (and any copy).

        The random draws happen in the same order for every datagram, whatever the settings
        that use them, so changing one setting does not reshuffle the others' choices.
        """
        imp, rng = self.impairment, self._rng
        self.stats.submitted += 1
        random_draw, state_draw, burst_draw, dup_draw = (rng.random() for _ in range(4))
        delays = (rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0))
        reorder_draws = (rng.random(), rng.random())
        lost_burst = False
        if imp.burst is not None:
            ge = imp.burst
            # Step the chain, then lose with the new state's probability.
            self._bad = (state_draw >= ge.r) if self._bad else (state_draw < ge.p)
            lost_burst = burst_draw < (ge.loss_bad if self._bad else ge.loss_good)
        if random_draw < imp.loss:
            self.stats.lost_random += 1
            return
        if lost_burst:
            self.stats.lost_burst += 1
            return
        copies = 2 if dup_draw < imp.duplicate else 1
        self.stats.duplicated += copies - 1
        for n in range(copies):
            wait = max(0.0, imp.delay + imp.jitter * delays[n])
            if reorder_draws[n] < imp.reorder:
                wait += imp.reorder_delay
                self.stats.reordered += 1
            self._order += 1
            heapq.heappush(self._queue, _Pending(now + wait, self._order, datagram))

    def get_timer(self) -> float | None:
        """When the next datagram leaves; None when nothing is waiting."""
        return self._queue[0].leaves_at if self._queue else None

    def handle_timeout(self, now: float) -> None:
        """Lets every datagram whose time has come leave, in departure order, for
        :meth:`datagrams_to_send`."""
        queue, leaving = self._queue, self._leaving
        while queue and queue[0].leaves_at <= now:
            leaving.append(heapq.heappop(queue).datagram)
            self.stats.delivered += 1

    def datagrams_to_send(self) -> list[bytes]:
        """Drains the datagrams that have left, in departure order."""
        out, self._leaving = self._leaving, []
        return out

    def __len__(self) -> int:
        return len(self._queue)


class ImpairmentLink:
    """The Trio driver: one UDP socket between one client and the ``upstream`` server.

    A datagram from ``upstream`` goes to the client through the ``down`` path; a datagram
    from anyone else is the client's (the last sender is remembered, as a NAT would) and
    goes to ``upstream`` through the ``up`` path. Until ``upstream`` is known (a caller
    learns it from the answer, then calls :meth:`route`), the client's datagrams are
    counted in :attr:`unrouted` and dropped.
    """

    def __init__(
        self,
        up: Impairment,
        down: Impairment | None = None,
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        upstream: Address | None = None,
    ) -> None:
        self.up = ImpairedPath(up, seed=seed)
        # A different stream per direction: the same seed would lose the same positions.
        self.down = ImpairedPath(down if down is not None else up, seed=seed + 0x9E3779B1)
        self.host = host
        self.upstream = upstream
        self.client: Address | None = None
        self.address: Address | None = None
        self.unrouted = 0
        self._sock: trio.socket.SocketType | None = None
        self._changed = trio.Event()

    def route(self, server: Address) -> Address:
        """Forwards to ``server`` from now on; returns the address to send to instead.

        Fits :class:`voice.loadgen.caller.Caller`'s ``route`` hook.
        """
        if self.address is None:
            raise RuntimeError("the link is not running yet")
        self.upstream = server
        return self.address

    async def run(
        self, *, task_status: trio.TaskStatus[Address] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Binds, reports the link's address through ``task_status``, forwards until
        cancelled."""
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
            await sock.bind((self.host, 0))
            self._sock = sock
            host, port = sock.getsockname()[:2]
            self.address = (host, port)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._send_loop)
                task_status.started(self.address)
                await self._receive_loop()

    async def _receive_loop(self) -> None:
        assert self._sock is not None
        while True:
            data, source = await self._sock.recvfrom(65536)
            now = trio.current_time()
            sender = (source[0], source[1])
            if sender == self.upstream:
                self.down.submit(data, now)
            else:
                self.client = sender
                if self.upstream is None:
                    self.unrouted += 1
                    continue
                self.up.submit(data, now)
            self._changed.set()

    async def _send_loop(self) -> None:
        assert self._sock is not None
        while True:
            timers = [t for t in (self.up.get_timer(), self.down.get_timer()) if t is not None]
            with trio.move_on_at(min(timers, default=math.inf)):
                await self._changed.wait()
            self._changed = trio.Event()
            now = trio.current_time()
            for path, target in ((self.up, self.upstream), (self.down, self.client)):
                path.handle_timeout(now)
                for data in path.datagrams_to_send():
                    if target is None:
                        continue
                    try:
                        await self._sock.sendto(data, target)
                    except OSError as exc:  # the far end went away: a lost datagram
                        log.debug("impairment link: send to %s failed: %s", target, exc)
