"""The record layer: framing, the replay window, AEAD protection, epochs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.dtls.errors import DtlsParseError
from voice.dtls.record import (
    AesGcmProtection,
    ChaChaPolyProtection,
    Record,
    RecordDrop,
    RecordLayer,
    ReplayWindow,
    iter_records,
)


def test_several_records_in_one_datagram() -> None:
    a = Record(22, 0xFEFD, 0, 1, b"abc")
    b = Record(20, 0xFEFD, 0, 2, b"\x01")
    c = Record(23, 0xFEFD, 1, 2**48 - 1, b"")
    assert list(iter_records(a.encode() + b.encode() + c.encode())) == [a, b, c]


def test_header_layout() -> None:
    record = Record(22, 0xFEFD, 0x0102, 0x030405060708, b"xy")
    assert record.encode() == bytes.fromhex("16 fefd 0102 030405060708 0002") + b"xy"


@pytest.mark.parametrize(
    "data",
    [
        b"\x16\xfe\xfd\x00",  # header cut short
        b"\x16\xfe\xfd" + bytes(8) + b"\x00\x05abc",  # length past the end
        b"\x16\xfe\xfd" + bytes(8) + b"\xff\xff" + bytes(65535),  # longer than 2^14 + 2048
    ],
)
def test_bad_framing_raises_after_the_good_records(data: bytes) -> None:
    good = Record(22, 0xFEFD, 0, 0, b"ok")
    records = iter_records(good.encode() + data)
    assert next(records) == good
    with pytest.raises(DtlsParseError):
        next(records)


@given(st.binary(max_size=200))
@settings(max_examples=2000)
def test_framing_never_raises_anything_else(data: bytes) -> None:
    try:
        for record in iter_records(data):
            assert len(record.fragment) <= len(data)
    except DtlsParseError:
        pass


def test_replay_window() -> None:
    window = ReplayWindow()
    assert not window.is_replay(0)
    window.mark(0)
    assert window.is_replay(0)
    window.mark(100)
    assert window.is_replay(100) and window.is_replay(36)  # 36 is 64 behind: outside
    assert not window.is_replay(37) and not window.is_replay(99) and not window.is_replay(101)
    window.mark(99)
    assert window.is_replay(99) and not window.is_replay(98)


@given(st.lists(st.integers(min_value=0, max_value=300), max_size=60))
def test_replay_window_accepts_each_number_at_most_once(seqs: list[int]) -> None:
    window = ReplayWindow()
    accepted: list[int] = []
    for seq in seqs:
        if not window.is_replay(seq):
            window.mark(seq)
            accepted.append(seq)
    assert len(accepted) == len(set(accepted))
    # Anything newer than all seen so far is always accepted.
    assert not window.is_replay(max(seqs, default=-1) + 1)


@pytest.mark.parametrize(
    "protection",
    [
        AesGcmProtection(bytes(16), b"salt"),
        AesGcmProtection(bytes(32), b"salt"),
        ChaChaPolyProtection(bytes(32), bytes(12)),
    ],
)
def test_aead_round_trip_and_tamper(protection: AesGcmProtection | ChaChaPolyProtection) -> None:
    sealed = protection.seal(23, 0xFEFD, 1, 5, b"secret")
    assert len(sealed) == len(b"secret") + protection.overhead
    assert protection.open(23, 0xFEFD, 1, 5, sealed) == b"secret"
    # RFC 6347 §4.1.2.1: epoch, sequence number, type and version are all authenticated.
    assert protection.open(23, 0xFEFD, 1, 6, sealed) is None
    assert protection.open(23, 0xFEFD, 2, 5, sealed) is None
    assert protection.open(22, 0xFEFD, 1, 5, sealed) is None
    assert protection.open(23, 0xFEFF, 1, 5, sealed) is None
    assert protection.open(23, 0xFEFD, 1, 5, sealed[:-1] + bytes([sealed[-1] ^ 1])) is None
    assert protection.open(23, 0xFEFD, 1, 5, sealed[:5]) is None


def test_gcm_explicit_nonce_is_epoch_and_sequence() -> None:
    sealed = AesGcmProtection(bytes(16), b"salt").seal(23, 0xFEFD, 1, 5, b"x")
    assert sealed[:8] == bytes.fromhex("0001000000000005")


def test_record_layer_epochs_and_drop_reasons() -> None:
    sender, receiver = RecordLayer(), RecordLayer()
    key = AesGcmProtection(bytes(16), b"salt")
    plain = sender.seal(22, b"hello")
    sender.install_write(1, key)
    protected = sender.seal(23, b"data")
    assert next(iter_records(plain)).sequence_number == 0
    assert next(iter_records(protected)).sequence_number == 0  # a new epoch counts from 0
    assert sender.seal(22, b"again", epoch=0)[5:11] == (1).to_bytes(6, "big")
    assert receiver.open(next(iter_records(plain))) == b"hello"
    assert receiver.open(next(iter_records(protected))) is RecordDrop.FUTURE_EPOCH
    receiver.install_read(1, key)
    assert receiver.open(next(iter_records(protected))) == b"data"
    assert receiver.open(next(iter_records(protected))) is RecordDrop.REPLAYED
    forged = Record(23, 0xFEFD, 1, 9, b"\x00" * 30)
    assert receiver.open(forged) is RecordDrop.BAD_MAC
    assert receiver.open(Record(23, 0xFEFD, 7, 0, b"")) is RecordDrop.UNKNOWN_EPOCH
    # The forged record did not move the window: record 8 is still welcome.
    assert not receiver._read[1].window.is_replay(8)


def test_sequence_number_stops_at_its_last_value_instead_of_wrapping() -> None:
    # RFC 6347 §4.1: a record sequence number never wraps within an epoch. Sending carries
    # on up to 2^48 - 1, and the record after that is refused rather than numbered 0 again.
    layer = RecordLayer()
    layer.install_write(1, AesGcmProtection(bytes(16), b"salt"))
    layer._write[1].next_seq = 2**48 - 1
    last = layer.seal(23, b"last")
    assert next(iter_records(last)).sequence_number == 2**48 - 1
    with pytest.raises(OverflowError):
        layer.seal(23, b"one too many")
    with pytest.raises(OverflowError):
        layer.seal(23, b"and it stays refused")
    # Epoch 0 keeps its own numbering and is not affected.
    assert next(iter_records(layer.seal(22, b"hello", epoch=0))).sequence_number == 0
