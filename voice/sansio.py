"""The driver contract: the few methods every sans-IO object offers its driver.

A protocol object in ``voice`` owns no socket, no clock and no task. Its driver (a Trio task
in :mod:`voice.transceiver`, :mod:`voice.relay` or :mod:`voice.loadgen`, or a test feeding
plain numbers) does all the I/O and all the waiting, through these methods only:

``receive_datagram(data, addr, now)``
    Feed input that arrived at ``now``. A layer whose input is not a datagram names the
    method after what it takes (``JitterBuffer.push``, ``RtpSession.on_rtp_received``); it
    always takes ``now`` last.
``datagrams_to_send()``
    Drain what to send, as ``(bytes, addr)`` pairs. A layer with one peer returns plain
    ``bytes``; a layer whose output is not datagrams drains it under its own name
    (``RtpSession.rtcp_to_send``). Calling it twice returns the second time only what is new.
``next_event()``
    Drain what happened, one event at a time, ``None`` when there is no more. Events are
    frozen dataclasses named ``<Layer><WhatHappened>`` (``IceConnected``).
``get_timer()``
    The absolute time (same origin as ``now``) at which :meth:`handle_timeout` must be
    called next, or ``None`` when nothing is scheduled. It may change after any input.
``handle_timeout(now)``
    Do what was due at or before ``now`` (retransmit, expire, emit a frame). Calling it early
    or twice is harmless: it does only what is due.

The driver's loop is the same for every layer::

    while True:
        with trio.move_on_at(conn.get_timer() or math.inf):
            data, addr = await sock.recvfrom(2048)
            conn.receive_datagram(data, addr, trio.current_time())
        conn.handle_timeout(trio.current_time())
        for payload, to in conn.datagrams_to_send():
            await sock.sendto(payload, to)
        while (event := conn.next_event()) is not None:
            handle(event)

The contract is split into small :class:`typing.Protocol` pieces because not every object
has every part (a pacer has no input, a router has no events); an object conforms to the
pieces it has, and :mod:`voice._conformance` makes mypy check that it does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypeVar

from voice.types import Address

E_co = TypeVar("E_co", covariant=True)
E = TypeVar("E")


class Timed(Protocol):
    """Something that must be woken at a time it chooses."""

    def get_timer(self) -> float | None:
        """When :meth:`handle_timeout` is due next; ``None`` for never (until new input)."""
        ...

    def handle_timeout(self, now: float) -> None:
        """Does everything due at or before ``now``."""
        ...


class EventSource(Protocol[E_co]):
    """Something that reports what happened, drained one event at a time."""

    def next_event(self) -> E_co | None:
        """The oldest event not yet returned, or ``None``."""
        ...


class TimedEventSource(Timed, EventSource[E_co], Protocol[E_co]):
    """Timer-driven and reporting events: a pacer, a jitter buffer, an RTCP session."""


class DatagramConnection(TimedEventSource[E_co], Protocol[E_co]):
    """The whole contract, for a connection that talks to peers by ``(bytes, addr)``."""

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Feeds one datagram that arrived from ``addr`` at ``now``."""
        ...

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        """Drains the datagrams to send, each with its destination."""
        ...


class SinglePeerConnection(TimedEventSource[E_co], Protocol[E_co]):
    """The whole contract for a connection bound to one peer: no addresses to pass."""

    def receive_datagram(self, data: bytes, now: float) -> None:
        """Feeds one datagram from the peer that arrived at ``now``."""
        ...

    def datagrams_to_send(self) -> list[bytes]:
        """Drains the datagrams to send to the peer."""
        ...


def drain_events(source: EventSource[E]) -> Iterator[E]:
    """Yields ``source``'s events until it has none: ``for event in drain_events(conn)``."""
    while (event := source.next_event()) is not None:
        yield event
