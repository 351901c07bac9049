"""One call, as a Trio task tree.

A session owns a sans-IO :class:`voice.peer.PeerConnection` and drives it:

* datagrams are **delivered synchronously**: the endpoint's receive loop calls
  :meth:`Session.deliver`, which feeds the peer connection and sends what it answers at
  once, with no task switch per packet (a datagram costs tens of microseconds; a Trio task
  switch would cost as much again);
* a **timer task** sleeps until the peer connection's next deadline (ICE consent, DTLS
  retransmission, RTCP) and fires it; every delivery moves that deadline if it changed;
* once DTLS is up, the **playout loop** pops the jitter buffer every 20 ms, decodes (or
  conceals a loss) and offers the PCM frame to the agent, and the **send loop** takes one
  frame from the agent every 20 ms (silence when it has none), encodes it and sends it;
* the **agent** itself.

The session ends when any of them decides so: ICE consent expires, the peer closes DTLS or
sends a fatal alert, the agent returns, signaling deletes it, the handshake does not finish
in time, or nothing at all arrives for the idle timeout. Ending is one thing: the session's
cancel scope is cancelled, every task goes with it, and the ``finally`` removes the session
from the table and logs its figures.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import trio

from voice.opus import (
    FRAME_DURATION,
    FRAME_SAMPLES,
    SILENCE,
    FramePacer,
    OpusDecoder,
    OpusEncoder,
    OpusError,
)
from voice.peer import (
    IceSelectedPairChanged,
    PeerAddressValidated,
    PeerClosed,
    PeerConnection,
    PeerDtlsConnected,
    PeerRtpReceived,
)
from voice.rtp.jitterbuffer import JitterBuffer
from voice.rtp.sender import RtpSender
from voice.sansio import drain_events
from voice.transceiver.agents import AgentFunction, SessionInfo
from voice.transceiver.pacer import run_pacer
from voice.types import Address

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionLimits:
    handshake_timeout: float = 10.0  # from creation to DTLS connected
    idle_timeout: float = 30.0  # no datagram at all for this long ends the call
    #: libopus encoder complexity, 0-10. Encoding is most of a call's CPU: 1 costs about a
    #: third of 10 (bench/media.py) for speech that is still clear at 32 kbit/s.
    opus_complexity: int = 1
    opus_bitrate: int = 32_000


class Session:
    """A call between one client and one agent."""

    #: Numbers calls in the order they were created: a label for metrics that, unlike the
    #: session id (which names the resource signaling deletes), reveals nothing.
    _serials = itertools.count(1)

    def __init__(
        self,
        *,
        ufrag: str,
        peer: PeerConnection,
        agent: AgentFunction,
        info: SessionInfo,
        opus_payload_type: int,
        send: Callable[[bytes, Address], None],
        on_address: Callable[[Session, Address], None],
        limits: SessionLimits,
        local_ssrc: int,
    ) -> None:
        self.id = info.session_id
        self.serial = next(Session._serials)
        self.ufrag = ufrag
        self.peer = peer
        self.info = info
        self.created_at = trio.current_time()
        self.connected_at: float | None = None
        self.first_audio_at: float | None = None
        self.ended = trio.Event()
        self.end_reason = "running"
        self._agent = agent
        self._payload_type = opus_payload_type
        self._send = send
        self._on_address = on_address
        self._limits = limits
        self._ssrc = local_ssrc
        self._timer_scope: trio.CancelScope | None = None
        self._timer_at = math.inf
        self._scope = trio.CancelScope()
        self._dtls_up = trio.Event()
        self._last_input = self.created_at
        self.jitter = JitterBuffer()
        self._pushed = trio.Event()
        self.last_rtp_at = -math.inf
        self._rtp_arrived = trio.Event()
        self.frames_played = 0
        self.frames_dropped = 0
        self.frames_malformed = 0
        self.frames_sent = 0
        self.frames_held_back = 0  # due while catching up, with nothing to send: not sent
        self.pacer: FramePacer | None = None  # the send loop's, once it runs
        #: The decoder of the caller's audio, once playing: its FEC and concealment counts.
        self.decoder: OpusDecoder | None = None

    # -- called by the endpoint and by signaling ----------------------------------------

    def deliver(self, data: bytes, client: Address, arrived: float) -> bool:
        """Feeds one datagram to the call and sends whatever it answers, synchronously.

        Runs inside the endpoint's receive loop, which serves every session: so nothing a
        peer sends may raise out of here. The protocol layers never raise on input; a bug
        that did would end this session (logged), never the loop or another session.
        """
        if self.end_reason != "running":
            return False
        self._last_input = arrived
        try:
            self.peer.receive_datagram(data, client, arrived)
            self._after_peer()
        except Exception:
            log.exception("session %s: failed on a datagram from %s", self.id, client)
            self.end("internal error")
        return True

    async def rtp_after(self, moment: float) -> float:
        """Waits for the caller's audio to arrive after ``moment``; returns when it did."""
        while self.last_rtp_at <= moment:
            await self._rtp_arrived.wait()
        return self.last_rtp_at

    def end(self, reason: str) -> None:
        """Ends the call from outside (DELETE, shutdown); safe to call more than once."""
        if self.end_reason == "running":
            self.end_reason = reason
        self._scope.cancel()

    # -- the task tree -------------------------------------------------------------------

    async def run(self) -> None:
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._timer_loop)
                    nursery.start_soon(self._watchdog)
                    await self._dtls_up.wait()
                    agent_in_send, agent_in = trio.open_memory_channel[bytes](8)
                    # An agent that keeps its own output queue (voice.agents.conversation)
                    # asks for an unbuffered channel, so that it can drop all of it at once.
                    out_frames: int = getattr(self._agent, "output_frames", 2)
                    agent_out_send, agent_out = trio.open_memory_channel[bytes](out_frames)
                    nursery.start_soon(self._playout_loop, agent_in_send)
                    nursery.start_soon(self._send_loop, agent_out)
                    nursery.start_soon(self._run_agent, agent_in, agent_out_send)
        finally:
            await self._goodbye()
            self.ended.set()

    async def _goodbye(self) -> None:
        """Sends RTCP BYE and close_notify (best effort) as the session ends."""
        with trio.CancelScope(shield=True):
            self.peer.close(trio.current_time(), self.end_reason)
            self._flush()

    async def _timer_loop(self) -> None:
        """Fires the peer connection's timers; :meth:`_rearm` moves the wake-up time."""
        while True:
            with trio.CancelScope(deadline=self._timer_at) as scope:
                self._timer_scope = scope
                await trio.sleep_forever()
            self._timer_scope = None
            now = trio.current_time()
            timer = self.peer.get_timer()
            if timer is not None and now >= timer:
                self.peer.handle_timeout(now)
                self._after_peer()
            self._timer_at = math.inf if (t := self.peer.get_timer()) is None else t

    def _rearm(self) -> None:
        timer = self.peer.get_timer()
        at = math.inf if timer is None else timer
        if at != self._timer_at:
            self._timer_at = at
            if self._timer_scope is not None:
                self._timer_scope.deadline = at

    def _after_peer(self) -> None:
        """Acts on what the peer connection reports, sends what it queued, re-arms the timer."""
        while (event := self.peer.next_event()) is not None:
            if isinstance(event, PeerRtpReceived):
                packet = event.packet
                if packet.payload_type == self._payload_type:
                    self.jitter.push(
                        packet.sequence_number, packet.timestamp, packet.payload, event.received_at
                    )
                    self._pushed.set()
                    self.last_rtp_at = event.received_at
                    self._rtp_arrived.set()
                    self._rtp_arrived = trio.Event()
            elif isinstance(event, PeerAddressValidated | IceSelectedPairChanged):
                self._on_address(self, event.address)
            elif isinstance(event, PeerDtlsConnected):
                self.connected_at = trio.current_time()
                self._dtls_up.set()
            elif isinstance(event, PeerClosed):
                if self.end_reason == "running":
                    self.end_reason = event.reason
                self._flush()
                self._scope.cancel()
                return
        self._flush()
        self._rearm()

    def _flush(self) -> None:
        for data, addr in self.peer.datagrams_to_send():
            self._send(data, addr)

    async def _watchdog(self) -> None:
        """Ends a call whose handshake stalls or whose client went silent."""
        await trio.sleep_until(self.created_at + self._limits.handshake_timeout)
        if not self._dtls_up.is_set():
            self.end("handshake timeout")
            return
        while True:
            deadline = self._last_input + self._limits.idle_timeout
            if trio.current_time() >= deadline:
                self.end("idle timeout")
                return
            await trio.sleep_until(deadline)

    async def _playout_loop(self, agent_in: trio.MemorySendChannel[bytes]) -> None:
        """Plays the jitter buffer out at the times it asks for, decoding or concealing."""
        decoder = self.decoder = OpusDecoder()
        async with agent_in:
            while True:
                timer = self.jitter.get_timer()
                # Sleep until the next frame is due, or until a push may have moved it.
                with trio.move_on_at(math.inf if timer is None else timer):
                    await self._pushed.wait()
                self._pushed = trio.Event()
                now = trio.current_time()
                self.jitter.handle_timeout(now)
                while (out := self.jitter.next_event()) is not None:
                    try:
                        pcm = out.decode(decoder)
                    except OpusError:
                        # RFC 6716 §3.4: a malformed packet is not decoded; the frame it
                        # should have been is concealed like a lost one.
                        self.frames_malformed += 1
                        pcm = decoder.conceal()
                    self.frames_played += 1
                    try:
                        agent_in.send_nowait(pcm)
                    except trio.WouldBlock:
                        self.frames_dropped += 1  # the agent is not listening (tone), or slow

    async def _send_loop(self, agent_out: trio.MemoryReceiveChannel[bytes]) -> None:
        """Sends one encoded frame every 20 ms on absolute deadlines: the agent's, or silence."""
        encoder = OpusEncoder(
            bitrate=self._limits.opus_bitrate, complexity=self._limits.opus_complexity
        )
        pacer = FramePacer(start=trio.current_time(), frame_duration=FRAME_DURATION)
        self.pacer = pacer
        numbering = RtpSender(self._ssrc, self._payload_type, FRAME_SAMPLES)

        def send_frame(index: int, pcm: bytes | None = None) -> None:
            if pcm is None:
                try:
                    pcm = agent_out.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    if pacer.deadline(index + 1) < pacer.get_timer():  # more are due
                        # Catching up after a stall with nothing to say: silence sent now
                        # would be a gap in the middle of the agent's audio. Not sent.
                        self.frames_held_back += 1
                        return
                    pcm = SILENCE
            # RFC 3550 §5.1: one sequence number per packet sent. Numbered by the frames
            # actually sent, not by the pacer's index: frames the pacer skipped (the loop
            # was held up) leave no gap in the sequence numbers or the timestamps, which a
            # receiver would conceal as a loss and play as a cut; the stream goes on where
            # it was, only sent late, as network jitter would.
            packet = numbering.packet(
                index - pacer.skipped - self.frames_held_back, encoder.encode(pcm)
            )
            if self.peer.send_rtp(packet, trio.current_time()):
                self.frames_sent += 1
                if self.first_audio_at is None:
                    self.first_audio_at = trio.current_time()
            self._flush()
            self._rearm()

        # Silence until the agent's first frame, which goes out the moment it is ready
        # rather than at the next tick (up to a frame later): the start of the answer is
        # what the caller waits for. The schedule keeps that phase from then on.
        first: bytes | None = None
        while first is None:
            with trio.move_on_at(pacer.get_timer()):
                try:
                    first = await agent_out.receive()
                except trio.EndOfChannel:
                    break
            now = trio.current_time()
            if first is not None:
                pacer.due_now(now)
                now = max(now, pacer.get_timer())  # due now, to the last rounding bit
            pacer.handle_timeout(now)
            due = [frame.index for frame in drain_events(pacer)]
            for index in due:
                send_frame(index, first if index == due[-1] else SILENCE)
        await run_pacer(pacer, send_frame)

    @property
    def pacer_skipped(self) -> int:
        """Frames the send loop skipped because it was held up (see FramePacer), or did
        not send while catching up because the agent had nothing for them."""
        return self.frames_held_back + (0 if self.pacer is None else self.pacer.skipped)

    def media_summary(self) -> str:
        """The call's playout and sending figures, for its end-of-call log line."""
        s = self.jitter.stats
        return (
            f"jitter buffer played {s.played} concealed {s.concealed} late {s.late} "
            f"overflow {s.overflow} trimmed {s.trimmed} hold {1000 * self.jitter.hold:.0f} ms; "
            f"pacer skipped {self.pacer_skipped}"
        )

    async def _run_agent(
        self, agent_in: trio.MemoryReceiveChannel[bytes], agent_out: trio.MemorySendChannel[bytes]
    ) -> None:
        try:
            await self._agent(self.info, agent_in, agent_out)
        except Exception:
            log.exception("session %s: agent %s failed", self.id, self.info.agent)
            self.end("agent failed")
            return
        self.end("agent finished")
