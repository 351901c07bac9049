"""RTP and RTCP (RFC 3550), header extensions (RFC 8285) and RTP/RTCP multiplexing
(RFC 5761), sans-IO.

* :class:`RtpPacket` parses and builds RTP packets; :func:`is_rtcp` tells RTCP from RTP
  on a shared port.
* :func:`parse_rtcp` / :func:`encode_rtcp` handle compound RTCP: :class:`SenderReport`,
  :class:`ReceiverReport`, :class:`SourceDescription`, :class:`Bye`, and
  :class:`UnknownRtcpPacket` for the feedback and extended-report types browsers send.
* :class:`RtpSession` keeps the statistics of one call and schedules the RTCP reports.

Everything a peer can get wrong raises :class:`RtpParseError` (a :class:`RtpError` and a
:class:`ValueError`), and nothing else.
"""

from voice.rtp.errors import RtpError, RtpParseError, RtpUsageError
from voice.rtp.events import RtpByeReceived, RtpSsrcCollision
from voice.rtp.extensions import ONE_BYTE_PROFILE, TWO_BYTE_PROFILE
from voice.rtp.packet import RtpPacket, is_rtcp
from voice.rtp.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    RtcpPacketType,
    SdesChunk,
    SdesItemType,
    SenderReport,
    SourceDescription,
    UnknownRtcpPacket,
    encode_rtcp,
    parse_rtcp,
)
from voice.rtp.session import RtpSession, RtpStats

__all__ = [
    "ONE_BYTE_PROFILE",
    "TWO_BYTE_PROFILE",
    "Bye",
    "ReceiverReport",
    "ReportBlock",
    "RtcpPacket",
    "RtcpPacketType",
    "RtpByeReceived",
    "RtpError",
    "RtpPacket",
    "RtpParseError",
    "RtpSession",
    "RtpSsrcCollision",
    "RtpStats",
    "RtpUsageError",
    "SdesChunk",
    "SdesItemType",
    "SenderReport",
    "SourceDescription",
    "UnknownRtcpPacket",
    "encode_rtcp",
    "is_rtcp",
    "parse_rtcp",
]
