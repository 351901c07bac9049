"""How long to wait between RTCP reports (RFC 3550 §6.2, §6.3.1 and appendix A.7).

RTCP must stay a small, fixed share of the session's bandwidth however many participants
there are, so each participant spaces its reports by the time its share of the RTCP
bandwidth needs to carry one average-sized report per member. Senders, whose reports
carry the timestamps receivers synchronise with, get a quarter of the RTCP bandwidth when
they are a quarter of the members or fewer. The result is never below a minimum (5 s, or
the reduced minimum), is halved before the first report so new members are heard quickly,
and is spread by a random factor so participants that joined together do not report in
lock-step.
"""

from __future__ import annotations

import math

from voice.rtp.errors import RtpUsageError

#: RFC 3550 §6.2: the recommended minimum interval between reports, in seconds.
RTCP_MIN_TIME = 5.0
#: RFC 3550 §6.3.1: senders' share of the RTCP bandwidth when they are few.
SENDER_BANDWIDTH_FRACTION = 0.25
RECEIVER_BANDWIDTH_FRACTION = 1.0 - SENDER_BANDWIDTH_FRACTION
#: RFC 3550 §6.3.1: dividing by e - 3/2 compensates for timer reconsideration, which
#: otherwise makes the average interval come out shorter than intended.
COMPENSATION = math.e - 1.5
#: RFC 3550 §6.2: the usual RTCP share of the session bandwidth.
RTCP_BANDWIDTH_FRACTION = 0.05


def reduced_minimum(session_bandwidth: float) -> float:
    """The reduced minimum interval for a session of ``session_bandwidth`` bits per second.

    RFC 3550 §6.2: an implementation may scale the minimum down to 360 divided by the
    session bandwidth in kilobits per second (0.36 s at 1 Mb/s), never above 5 s. A
    voice call of 64 kb/s gains nothing from it; it matters for high-rate sessions.
    """
    return min(RTCP_MIN_TIME, 360.0 / (session_bandwidth / 1000.0))


def deterministic_interval(
    *,
    members: int,
    senders: int,
    rtcp_bandwidth: float,
    we_sent: bool,
    avg_rtcp_size: float,
    initial: bool,
    minimum: float = RTCP_MIN_TIME,
) -> float:
    """The interval before randomisation (``Td`` of RFC 3550 §6.3.5 when computed as a
    receiver), in seconds; ``rtcp_bandwidth`` is in octets per second."""
    # RFC 3550 §6.3.1: half the minimum before the first report.
    min_time = minimum / 2 if initial else minimum
    n = members
    bandwidth = rtcp_bandwidth
    if senders <= members * SENDER_BANDWIDTH_FRACTION:
        if we_sent:
            bandwidth *= SENDER_BANDWIDTH_FRACTION
            n = senders
        else:
            bandwidth *= RECEIVER_BANDWIDTH_FRACTION
            n -= senders
    return max(avg_rtcp_size * max(n, 1) / bandwidth, min_time)


def rtcp_interval(
    *,
    members: int,
    senders: int,
    rtcp_bandwidth: float,
    we_sent: bool,
    avg_rtcp_size: float,
    initial: bool,
    random_factor: float,
    minimum: float = RTCP_MIN_TIME,
) -> float:
    """The randomised interval to the next report (RFC 3550 §6.3.1), in seconds.

    ``random_factor`` is uniform on [0.5, 1.5]; it is a parameter so that the caller
    chooses the random source and tests can fix it.
    """
    if not 0.5 <= random_factor <= 1.5:
        raise RtpUsageError("random_factor must be in [0.5, 1.5]")
    base = deterministic_interval(
        members=members,
        senders=senders,
        rtcp_bandwidth=rtcp_bandwidth,
        we_sent=we_sent,
        avg_rtcp_size=avg_rtcp_size,
        initial=initial,
        minimum=minimum,
    )
    return base * random_factor / COMPENSATION
