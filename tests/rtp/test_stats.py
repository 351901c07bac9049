"""Tests of per-source reception statistics (RFC 3550 §A.1, §A.3, §A.8)."""

import pytest

from voice.rtp.stats import MAX_DROPOUT, MAX_MISORDER, SourceStatistics


def feed(seqs: list[int], *, start: int | None = None) -> SourceStatistics:
    """A source that saw ``seqs`` in that order; returns its statistics."""
    stats = SourceStatistics(1, seqs[0] if start is None else start, 48000)
    for seq in seqs:
        stats.update_sequence(seq & 0xFFFF)
    return stats


def test_new_source_is_on_probation_for_one_packet() -> None:
    stats = SourceStatistics(1, 100, 48000)
    assert stats.update_sequence(100) is False  # the first packet only sets expectations
    assert stats.update_sequence(101) is True
    assert stats.received == 1
    assert stats.base_seq == 101
    assert stats.update_sequence(102) is True
    assert (stats.received, stats.expected, stats.cumulative_lost) == (2, 2, 0)


def test_out_of_order_during_probation_restarts_it() -> None:
    stats = SourceStatistics(1, 100, 48000)
    assert not stats.update_sequence(100)
    assert not stats.update_sequence(105)  # not 101: probation starts over from 105
    assert stats.update_sequence(106)
    assert stats.base_seq == 106


def test_loss_and_fraction() -> None:
    # 100 packets expected after probation, every tenth missing.
    seqs = [1000] + [1001 + i for i in range(100) if i % 10 != 5]
    stats = feed(seqs)
    assert stats.expected == 100
    assert stats.received == 90
    assert stats.cumulative_lost == 10
    assert stats.fraction_lost() == 25  # floor(10 * 256 / 100)
    block = stats.report_block(now=0.0)
    assert (block.fraction_lost, block.packets_lost) == (25, 10)
    assert block.highest_sequence == 1100
    # The interval closes: with nothing new the next fraction is 0, the total stays.
    assert stats.fraction_lost() == 0
    assert stats.cumulative_lost == 10


def test_duplicates_make_loss_negative_and_fraction_zero() -> None:
    stats = feed([1, 2, 3, 3, 3, 4])
    assert stats.expected == 3
    assert stats.received == 5
    assert stats.cumulative_lost == -2
    assert stats.fraction_lost() == 0


def test_sequence_wrap_counts_a_cycle() -> None:
    stats = feed([65533, 65534, 65535, 0, 1, 2])
    assert stats.cycles == 65536
    assert stats.extended_max == 65536 + 2
    assert stats.expected == 5
    assert stats.cumulative_lost == 0
    assert stats.report_block(0.0).highest_sequence == 0x00010002


def test_late_packet_is_counted_without_moving_the_maximum() -> None:
    stats = feed([10, 11, 12, 14, 15, 13])
    assert stats.max_seq == 15
    assert stats.cumulative_lost == 0
    # Late across a wrap: 65535 arriving after 0 and 1 is not a new cycle.
    stats = feed([65534, 65535, 1, 0])
    assert stats.extended_max == 65536 + 1
    assert stats.cumulative_lost == 0


def test_big_jump_needs_a_second_packet_to_count() -> None:
    stats = feed([1, 2, 3])
    far = 3 + MAX_DROPOUT + 10
    assert stats.update_sequence(far) is False  # a stray packet: ignored
    assert stats.max_seq == 3
    assert stats.update_sequence(4) is True
    assert stats.update_sequence(far) is False
    assert stats.update_sequence(far + 1) is True  # in sequence: the sender restarted
    assert stats.base_seq == far + 1
    assert stats.received == 1


def test_very_late_packet_is_not_a_restart() -> None:
    stats = feed(list(range(1000, 1300)))
    assert stats.update_sequence(1299 - MAX_MISORDER - 50) is False


def test_cumulative_loss_is_clamped_to_24_bits() -> None:
    stats = feed([1, 2])
    stats.received -= 1 << 24  # as if that many had been lost
    assert stats.cumulative_lost == (1 << 23) - 1


def test_jitter_is_zero_for_a_steady_stream() -> None:
    stats = SourceStatistics(1, 0, 48000)
    for i in range(50):
        stats.update_jitter(timestamp=i * 960, arrival=10.0 + i * 0.020)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)


def test_jitter_converges_for_alternating_delay() -> None:
    # Every other packet arrives 5 ms late: each transit difference is 240 timestamp
    # units, so the estimate converges to 240.
    stats = SourceStatistics(1, 0, 48000)
    for i in range(400):
        late = 0.005 if i % 2 else 0.0
        stats.update_jitter(timestamp=i * 960, arrival=i * 0.020 + late)
    assert stats.jitter == pytest.approx(240, rel=1e-3)


def test_jitter_survives_timestamp_wrap() -> None:
    stats = SourceStatistics(1, 0, 48000)
    base = 2**32 - 5 * 960
    for i in range(10):
        stats.update_jitter(timestamp=(base + i * 960) % 2**32, arrival=i * 0.020)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)


def test_report_block_echoes_the_last_sender_report() -> None:
    stats = feed([1, 2, 3])
    block = stats.report_block(now=12.5, last_sr=(0x12345678, 10.0))
    assert block.lsr == 0x12345678
    assert block.dlsr == int(2.5 * 65536)
    assert stats.report_block(now=13.0).lsr == 0
