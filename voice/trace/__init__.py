"""See the protocol: every datagram of a call, decoded and annotated with its RFC sections.

* :class:`FlowDecoder` turns one datagram into a :class:`Field` tree (STUN, DTLS, SRTP/RTP,
  SRTCP/RTCP, Opus TOC), decrypting what the :class:`KeyRing` lets it.
* :class:`Tracer` is what a driver builds and hands to the sans-IO objects
  (``PeerConnection(tracer=...)``, ``Router(tracer=...)``); it writes JSON lines, a coloured
  terminal view, a pcap with synthetic IP/UDP headers (:class:`PcapWriter`) and the NSS key
  log that lets Wireshark decrypt the same capture.
* ``voice trace FILE`` reads a JSON-lines trace back, filters and follows it.
"""

from voice.trace.decode import Decoded, FlowDecoder, KeyRing
from voice.trace.pcap import PcapWriter, ip_udp_packet
from voice.trace.tracer import DatagramTracer, SessionTracer, Tracer, format_address
from voice.trace.tree import Field
from voice.trace.view import format_record

__all__ = [
    "DatagramTracer",
    "Decoded",
    "Field",
    "FlowDecoder",
    "KeyRing",
    "PcapWriter",
    "SessionTracer",
    "Tracer",
    "format_address",
    "format_record",
    "ip_udp_packet",
]
