"""Packing flights into datagrams and the retransmission timer (RFC 6347 §4.2.4)."""

from __future__ import annotations

from voice.dtls.flights import (
    INITIAL_TIMEOUT,
    MAX_RETRANSMISSIONS,
    MAX_TIMEOUT,
    FlightMessage,
    RetransmitTimer,
    pack_flight,
)
from voice.dtls.fragments import Reassembler, iter_fragments
from voice.dtls.record import AesGcmProtection, RecordLayer, iter_records


def test_flight_is_packed_and_fragmented_within_the_size() -> None:
    records = RecordLayer()
    messages = [
        FlightMessage(0, 2, 0, b"h" * 70),
        FlightMessage(0, 11, 1, b"c" * 900),
        FlightMessage(0, 14, 2, b""),
        FlightMessage(0, None),
    ]
    datagrams = pack_flight(messages, records, 300)
    assert all(len(d) <= 300 for d in datagrams)
    reassembler = Reassembler()
    ccs = 0
    seqs: list[int] = []
    for datagram in datagrams:
        for record in iter_records(datagram):
            seqs.append(record.sequence_number)
            if record.content_type == 20:
                ccs += 1
                continue
            for frag in iter_fragments(record.fragment):
                reassembler.add(frag)
    assert ccs == 1
    assert seqs == list(range(len(seqs)))  # every record has its own sequence number
    assert [reassembler.pop() for _ in range(3)] == [
        (2, 0, b"h" * 70),
        (11, 1, b"c" * 900),
        (14, 2, b""),
    ]


def test_records_after_change_cipher_spec_are_protected() -> None:
    records = RecordLayer()
    records.install_write(1, AesGcmProtection(bytes(16), b"salt"))
    datagrams = pack_flight(
        [FlightMessage(0, None), FlightMessage(1, 20, 5, b"v" * 12)], records, 1200
    )
    (datagram,) = datagrams
    ccs, finished = iter_records(datagram)
    assert (ccs.epoch, ccs.fragment) == (0, b"\x01")
    assert finished.epoch == 1 and len(finished.fragment) == 12 + 12 + 8 + 16


def test_timer_doubles_up_to_the_cap() -> None:
    timer = RetransmitTimer()
    assert timer.deadline is None and not timer.expired(100.0)
    timer.start(10.0)
    assert timer.deadline == 10.0 + INITIAL_TIMEOUT
    assert not timer.expired(10.5) and timer.expired(11.0)
    waits = []
    now = 11.0
    for _ in range(8):
        timer.back_off(now)
        assert timer.deadline is not None
        waits.append(timer.deadline - now)
        now = timer.deadline
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, MAX_TIMEOUT, MAX_TIMEOUT, MAX_TIMEOUT]
    assert timer.exhausted and timer.retransmissions >= MAX_RETRANSMISSIONS
    timer.start(now)
    assert not timer.exhausted and timer.timeout == INITIAL_TIMEOUT
    timer.stop()
    assert timer.deadline is None
