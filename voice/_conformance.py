"""mypy's proof that every connection-like object keeps the driver contract.

Nothing imports this module at run time. Each assignment below type-checks only if the
class on the right has the methods of the :mod:`voice.sansio` protocol on the left, with
compatible signatures, so renaming ``get_timer`` in one layer (or adding a ``tick`` beside
it) fails ``mypy --strict`` here, at the line naming the layer.
"""

from __future__ import annotations

from voice.agents.events import SpeechStarted, SpeechStopped
from voice.agents.turns import TurnDetector
from voice.dtls import DtlsConnection, DtlsEvent
from voice.ice import IceControllingClient, IceEvent, IceLiteAgent
from voice.loadgen.impair import ImpairedPath
from voice.opus.pacing import FramePacer, OpusFrameDue
from voice.peer import PeerConnection, PeerEvent
from voice.relay.router import Router
from voice.relay.table import RouteTable
from voice.rtp.events import RtpEvent
from voice.rtp.jitterbuffer import JitterBuffer, JitterOutput
from voice.rtp.session import RtpSession
from voice.sansio import (
    DatagramConnection,
    EventSource,
    SinglePeerConnection,
    Timed,
    TimedEventSource,
)


def _conforms(
    *,
    lite: IceLiteAgent,
    controlling: IceControllingClient,
    peer: PeerConnection,
    rtcp: RtpSession,
    pacer: FramePacer,
    jitter: JitterBuffer,
    router: Router,
    table: RouteTable,
    impaired: ImpairedPath,
    turns: TurnDetector,
    dtls: DtlsConnection,
) -> None:
    _lite: DatagramConnection[IceEvent] = lite
    _controlling: DatagramConnection[IceEvent] = controlling
    _peer: DatagramConnection[PeerEvent] = peer
    _rtcp: TimedEventSource[RtpEvent] = rtcp
    _pacer: TimedEventSource[OpusFrameDue] = pacer
    _jitter: TimedEventSource[JitterOutput] = jitter
    _router: Timed = router
    _table: Timed = table
    _impaired: Timed = impaired
    _turns: EventSource[SpeechStarted | SpeechStopped] = turns
    _dtls: SinglePeerConnection[DtlsEvent] = dtls
