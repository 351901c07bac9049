"""Tests of the outgoing stream numbering."""

from voice.rtp import RtpPacket
from voice.rtp.sender import RtpSender


def test_sequence_and_timestamp_advance_together_and_wrap() -> None:
    sender = RtpSender(ssrc=7, payload_type=111, samples_per_frame=960,
                       first_sequence=65534, first_timestamp=2**32 - 960)  # fmt: skip
    first, second, third = (sender.packet(i, b"x") for i in range(3))
    assert (first.sequence_number, second.sequence_number, third.sequence_number) == (
        65534, 65535, 0,
    )  # fmt: skip
    assert (first.timestamp, second.timestamp, third.timestamp) == (2**32 - 960, 0, 960)
    assert first.marker and not second.marker
    assert RtpPacket.parse(third.encode()) == third


def test_a_skipped_frame_leaves_a_gap_in_both_fields() -> None:
    sender = RtpSender(ssrc=7, payload_type=111, samples_per_frame=960,
                       first_sequence=100, first_timestamp=0)  # fmt: skip
    before, after = sender.packet(4, b"a"), sender.packet(6, b"b")
    assert after.sequence_number - before.sequence_number == 2
    assert after.timestamp - before.timestamp == 2 * 960


def test_origins_are_random() -> None:
    senders = [RtpSender(ssrc=1, payload_type=111, samples_per_frame=960) for _ in range(20)]
    starts = {(s.first_sequence, s.first_timestamp) for s in senders}
    assert len(starts) > 15


def test_every_packet_carries_the_one_payload_type() -> None:
    # RFC 3550 §5.1: the payload type is not a way to multiplex streams; a call's sender puts
    # its one stream on the one negotiated payload type, whatever the frame.
    sender = RtpSender(ssrc=7, payload_type=109, samples_per_frame=960)
    packets = [sender.packet(i, bytes([i % 256])) for i in (0, 1, 2, 5, 6, 400)]
    assert {p.payload_type for p in packets} == {109}
    assert {RtpPacket.parse(p.encode()).payload_type for p in packets} == {109}
    assert {p.ssrc for p in packets} == {7}
