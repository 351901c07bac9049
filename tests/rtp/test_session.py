"""Tests of RtpSession: statistics, the RTCP schedule and the reports it sends
(RFC 3550 §6), on a fake clock."""

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.rtp.events import RtpByeReceived, RtpSsrcCollision
from voice.rtp.interval import COMPENSATION, RTCP_MIN_TIME
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
    parse_rtcp,
)
from voice.rtp.session import NTP_EPOCH_OFFSET, RtpSession, ntp_middle, ntp_timestamp

US, PEER = 0x1111, 0x2222
WALL = 1_700_000_000.0  # a Unix time for the NTP timestamps


def middle() -> float:
    return 0.5  # random() == 0.5: the randomisation factor is exactly 1


def session(now: float = 0.0, **kwargs: object) -> RtpSession:
    kwargs.setdefault("random", middle)
    kwargs.setdefault("wallclock", WALL)
    return RtpSession(US, 48000, "us@example", now=now, **kwargs)  # type: ignore[arg-type]


def opus(seq: int, ssrc: int = PEER, payload: bytes = b"\x00" * 80) -> RtpPacket:
    return RtpPacket(111, seq & 0xFFFF, (seq * 960) & 0xFFFFFFFF, ssrc, payload)


def run_until_report(s: RtpSession) -> list[RtcpPacket]:
    timer = s.get_timer()
    assert timer is not None
    s.handle_timeout(timer)
    [compound] = s.rtcp_to_send()
    return parse_rtcp(compound)


def test_first_report_after_half_the_minimum() -> None:
    s = session(now=100.0)
    assert s.get_timer() == pytest.approx(100.0 + RTCP_MIN_TIME / 2 / COMPENSATION)
    s.handle_timeout(101.0)  # early: nothing happens
    assert s.rtcp_to_send() == []
    report, sdes = run_until_report(s)
    # Not sending: an RR with no blocks (nobody heard), then our CNAME.
    assert report == ReceiverReport(US)
    assert sdes == SourceDescription((SdesChunk(US, ((SdesItemType.CNAME, b"us@example"),)),))
    # The next one a full minimum interval later.
    assert s.get_timer() == pytest.approx(100.0 + 2.5 / COMPENSATION + 5.0 / COMPENSATION)


def test_sender_report_counts_what_we_sent() -> None:
    s = session()
    for i in range(50):
        s.on_rtp_sent(RtpPacket(111, i, 1000 + i * 960, US, bytes(100)), now=i * 0.02)
    timer = s.get_timer()
    assert timer is not None
    report, _ = run_until_report(s)
    assert isinstance(report, SenderReport)
    assert (report.ssrc, report.packet_count, report.octet_count) == (US, 50, 5000)
    # RFC 3550 §6.4.1: NTP and RTP timestamps name the same instant; the RTP one is
    # extrapolated from the last packet sent at 0.98 s.
    assert report.ntp_timestamp == ntp_timestamp(WALL + timer)
    assert report.rtp_timestamp == 1000 + 49 * 960 + round((timer - 0.98) * 48000)
    assert s.stats.packets_sent == 50
    assert s.stats.bytes_sent == 5000


def test_receiver_report_about_the_peer() -> None:
    s = session()
    # 100 packets 20 ms apart, with seq 50 lost and a steady arrival.
    for seq in range(100):
        if seq != 50:
            s.on_rtp_received(opus(seq), now=0.5 + seq * 0.02)
    report, _ = run_until_report(s)
    assert isinstance(report, ReceiverReport)
    [block] = report.reports
    assert block.ssrc == PEER
    # Probation swallowed seq 0, so 1..99 were expected and one of them was lost.
    assert block.highest_sequence == 99
    assert block.packets_lost == 1
    assert block.fraction_lost == 256 // 99
    assert block.jitter == 0
    stats = s.stats
    assert stats.packets_received == 99
    assert stats.bytes_received == 99 * 80
    assert stats.packets_lost == 1
    assert stats.remote_ssrc == PEER
    assert stats.members == 2


def test_lsr_and_dlsr_echo_the_peers_sender_report() -> None:
    s = session()
    s.on_rtp_received(opus(1), now=0.1)
    s.on_rtp_received(opus(2), now=0.12)
    peer_ntp = ntp_timestamp(WALL + 123.0)
    s.on_rtcp_received([SenderReport(PEER, peer_ntp, 0, 2, 160)], now=1.0)
    timer = s.get_timer()
    assert timer is not None
    report, _ = run_until_report(s)
    assert isinstance(report, ReceiverReport)
    [block] = report.reports
    assert block.lsr == ntp_middle(peer_ntp)
    assert block.dlsr == int((timer - 1.0) * 65536)


def test_round_trip_time_from_the_peers_report() -> None:
    s = session()
    s.on_rtp_sent(RtpPacket(111, 1, 960, US, b"x"), now=0.0)
    timer = s.get_timer()
    assert timer is not None
    sr, _ = run_until_report(s)
    assert isinstance(sr, SenderReport)
    # The peer got it 40 ms later, held it 300 ms, and its report took 40 ms back.
    block = ReportBlock(
        ssrc=US,
        fraction_lost=64,
        packets_lost=3,
        highest_sequence=1,
        jitter=480,
        lsr=ntp_middle(sr.ntp_timestamp),
        dlsr=int(0.3 * 65536),
    )
    s.on_rtcp_received([ReceiverReport(PEER, (block,))], now=timer + 0.38)
    stats = s.stats
    assert stats.round_trip_time == pytest.approx(0.08, abs=1 / 65536 * 2)
    assert stats.remote_fraction_lost == 0.25
    assert stats.remote_packets_lost == 3
    assert stats.remote_jitter == pytest.approx(0.01)
    assert stats.rtcp_received == 1


def test_timer_reconsideration_postpones_the_report() -> None:
    # The first interval is drawn with the smallest factor, the check at expiry with the
    # largest: the report waits for the later time instead of going out early.
    draws = itertools.chain([0.0, 1.0], itertools.repeat(0.5))
    s = session(random=lambda: next(draws))
    first = s.get_timer()
    assert first == pytest.approx(2.5 * 0.5 / COMPENSATION)
    s.handle_timeout(first)
    assert s.rtcp_to_send() == []
    assert s.get_timer() == pytest.approx(2.5 * 1.5 / COMPENSATION)
    s.handle_timeout(2.5 * 1.5 / COMPENSATION)
    assert len(s.rtcp_to_send()) == 1


def test_average_size_counts_srtcp_and_lower_layers() -> None:
    # RFC 3711 §3.4: the SRTCP fields count in the average RTCP size. With a tiny minimum
    # and bandwidth the interval is set by that size, so 42 bytes of overhead show up as
    # 42 / (3/4 of the bandwidth) seconds, compensated, on the first timer.
    bare = session(packet_overhead=0, min_interval=0.001, rtcp_bandwidth=10.0)
    full = session(packet_overhead=42, min_interval=0.001, rtcp_bandwidth=10.0)
    bare_timer, full_timer = bare.get_timer(), full.get_timer()
    assert bare_timer is not None and full_timer is not None
    assert full_timer - bare_timer == pytest.approx(42 / (10.0 * 0.75) / COMPENSATION)


def test_received_rtcp_moves_the_average_size() -> None:
    # RFC 3550 §6.3.3: a large report from the peer raises the average size, and with it
    # the interval: at expiry, reconsideration finds the report is not due yet.
    quiet = session(min_interval=0.001, rtcp_bandwidth=10.0)
    busy = session(min_interval=0.001, rtcp_bandwidth=10.0)
    busy.on_rtcp_received([ReceiverReport(PEER, extension=bytes(1000))], now=0.0, size=1050)
    timer = quiet.get_timer()
    assert timer is not None and busy.get_timer() == timer
    quiet.handle_timeout(timer)
    busy.handle_timeout(timer)
    assert len(quiet.rtcp_to_send()) == 1
    assert busy.rtcp_to_send() == []
    postponed = busy.get_timer()
    assert postponed is not None and postponed > timer


def test_bye_from_the_peer() -> None:
    s = session()
    for seq in range(10):
        s.on_rtp_received(opus(seq), now=seq * 0.02)
    assert s.members == 2
    run_until_report(s)  # the report remembers there were two members
    scheduled = s.get_timer()
    assert scheduled is not None
    s.on_rtcp_received([ReceiverReport(PEER), Bye((PEER,), b"hangup")], now=3.0)
    assert s.next_event() == RtpByeReceived(PEER, b"hangup")
    assert s.next_event() is None
    assert s.members == 1
    # RFC 3550 §6.3.4: with half the members gone the next report comes twice as soon.
    timer = s.get_timer()
    assert timer is not None
    assert timer - 3.0 == pytest.approx((scheduled - 3.0) / 2)


def test_close_sends_bye_and_stops() -> None:
    s = session()
    s.on_rtp_sent(RtpPacket(111, 1, 960, US, b"x"), now=0.5)
    s.close(now=1.0, reason="bye now")
    [compound] = s.rtcp_to_send()
    packets = parse_rtcp(compound)
    assert isinstance(packets[0], SenderReport)
    assert isinstance(packets[1], SourceDescription)
    assert packets[2] == Bye((US,), b"bye now")
    assert s.get_timer() is None
    s.handle_timeout(100.0)
    s.close()
    assert s.rtcp_to_send() == []


def test_silent_members_time_out_and_senders_become_receivers() -> None:
    s = session()
    s.on_rtp_received(opus(1), now=0.0)
    s.on_rtp_received(opus(2), now=0.02)
    s.on_rtcp_received([ReceiverReport(0x3333)], now=0.0)
    assert (s.members, s.senders) == (3, 1)
    now = 0.0
    while now < 40.0:  # keep 0x3333 alive with reports, let PEER fall silent
        timer = s.get_timer()
        assert timer is not None
        now = timer
        s.on_rtcp_received([ReceiverReport(0x3333)], now=now)
        s.handle_timeout(now)
        s.rtcp_to_send()
    # RFC 3550 §6.3.5: PEER stopped sending (a receiver after two intervals) and, silent
    # for five deterministic intervals (25 s), left the member table.
    assert s.members == 2
    assert s.senders == 0


def test_our_own_ssrc_from_the_network_is_a_collision() -> None:
    s = session()
    s.on_rtp_received(opus(1, ssrc=US), now=0.0)
    s.on_rtcp_received([ReceiverReport(US)], now=0.0)
    assert s.next_event() == RtpSsrcCollision(US)
    assert s.next_event() == RtpSsrcCollision(US)
    assert s.stats.packets_received == 0
    assert s.members == 1


def test_random_cname_when_none_given() -> None:
    a = RtpSession(1, now=0.0)
    b = RtpSession(1, now=0.0)
    assert a.cname and b.cname and a.cname != b.cname
    with pytest.raises(ValueError, match="rtcp_bandwidth"):
        RtpSession(1, now=0.0, rtcp_bandwidth=0)


def test_ntp_conversion() -> None:
    assert ntp_timestamp(0.0) == NTP_EPOCH_OFFSET << 32
    assert ntp_timestamp(0.5) == (NTP_EPOCH_OFFSET << 32) | 0x80000000
    assert ntp_middle(0x1234_5678_9ABC_DEF0) == 0x5678_9ABC


def test_two_endpoints_over_a_lossy_link() -> None:
    """Two sessions talk for a minute over a link that delays 30 ms each way and drops
    every 20th packet of A's stream; each learns what the other sees."""
    rng = random.Random(7)
    a = RtpSession(0xA, 48000, "a", now=0.0, wallclock=WALL, random=rng.random)
    b = RtpSession(0xB, 48000, "b", now=0.0, wallclock=WALL + 0.25, random=rng.random)
    delay = 0.030
    in_flight: list[tuple[float, str, object]] = []
    now = 0.0
    seq = 0
    while now < 60.0:
        for sender, ssrc, name in ((a, 0xA, "b"), (b, 0xB, "a")):
            packet = RtpPacket(111, seq & 0xFFFF, seq * 960, ssrc, bytes(60))
            sender.on_rtp_sent(packet, now)
            if not (ssrc == 0xA and seq % 20 == 7):
                in_flight.append((now + delay, name, packet))
        for s, name in ((a, "b"), (b, "a")):
            timer = s.get_timer()
            if timer is not None and timer <= now:
                s.handle_timeout(now)
            for compound in s.rtcp_to_send():
                in_flight.append((now + delay, name, parse_rtcp(compound)))
        due = [item for item in in_flight if item[0] <= now]
        in_flight = [item for item in in_flight if item[0] > now]
        for at, name, item in due:
            target = b if name == "b" else a
            if isinstance(item, RtpPacket):
                target.on_rtp_received(item, at)
            else:
                target.on_rtcp_received(item, at)  # type: ignore[arg-type]
        seq += 1
        now = round(now + 0.02, 6)

    a_stats, b_stats = a.stats, b.stats
    # Each sent an SR roughly every 5 s (randomised, compensated): about a dozen a minute.
    assert 8 <= a_stats.rtcp_sent <= 20
    assert 8 <= b_stats.rtcp_received <= 20
    # B lost 1 in 20 of A's packets and says so; A hears it through B's reports.
    assert b_stats.packets_lost == pytest.approx(150, abs=2)
    assert a_stats.remote_packets_lost == pytest.approx(b_stats.packets_lost, abs=20)
    assert a_stats.remote_fraction_lost == pytest.approx(1 / 20, abs=0.01)
    assert b_stats.remote_packets_lost == 0
    # The round trip is twice the one-way delay, within the 20 ms step of this loop.
    assert a_stats.round_trip_time == pytest.approx(0.060, abs=0.021)
    assert b_stats.round_trip_time == pytest.approx(0.060, abs=0.021)
    assert a_stats.jitter < 0.001 and b_stats.jitter < 0.001


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(
        st.one_of(
            st.tuples(
                st.just("rtp"),
                st.integers(0, 0xFFFF),
                st.integers(0, 2**32 - 1),
                st.sampled_from([PEER, 0x3333, US]),
            ),
            st.tuples(st.just("time"), st.floats(0, 30)),
            st.tuples(
                st.just("rtcp"), st.sampled_from([PEER, 0x3333, US]), st.integers(0, 2**32 - 1)
            ),
            st.tuples(st.just("bye"), st.sampled_from([PEER, 0x3333, US])),
        ),
        max_size=60,
    )
)
def test_any_sequence_of_inputs_keeps_the_session_consistent(events: list[tuple]) -> None:  # type: ignore[type-arg]
    s = session()
    now = 0.0
    for event in events:
        if event[0] == "rtp":
            s.on_rtp_received(RtpPacket(111, event[1], event[2], event[3]), now)
        elif event[0] == "time":
            now += event[1]
            s.handle_timeout(now)
        elif event[0] == "rtcp":
            block = ReportBlock(US, lsr=event[2] & 0xFFFFFFFF, dlsr=event[2] >> 16)
            s.on_rtcp_received([SenderReport(event[1], event[2], 0, 0, 0, (block,))], now)
        else:
            s.on_rtcp_received([Bye((event[1],))], now)
        timer = s.get_timer()
        assert timer is not None and timer >= 0
        for compound in s.rtcp_to_send():
            assert parse_rtcp(compound)
        assert s.members >= 1
        stats = s.stats
        assert 0.0 <= stats.fraction_lost <= 1.0
        assert stats.round_trip_time is None or stats.round_trip_time >= 0
