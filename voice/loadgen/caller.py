"""A synthetic caller: a real WebRTC endpoint built from our own layers, in the client role.

It places a call the way a browser does: a JSEP-shaped offer POSTed to the signaling
endpoint, ICE as the controlling agent (checks with USE-CANDIDATE, then consent checks), the
DTLS client with its own certificate, SRTP, and 20 ms Opus frames paced on the Trio clock,
with RTCP reports from :class:`voice.rtp.RtpSession`. Every layer is the same code the
transceiver runs, on the other side (:class:`voice.peer.PeerConnection`).

What it sends is a **probe signal**: silence with a 100 ms tone burst once a second. The
``echo`` agent sends it back, and the caller measures the round trip from the moment it sent
a burst to the moment the echoed burst arrives. It recognises the echo without decoding it:
Opus spends few bytes on silence and many on a tone, so the first large packet after small
ones is the echoed burst. A caller therefore costs no Opus work per frame at all (the probe
packets are encoded once per process), which keeps the load generator from being the
bottleneck of what it measures.

Two options make it the impolite caller real stacks can be (both off by default):

* ``start_burst=N``: the caller's stack holds its microphone until DTLS is up, then sends
  the ``N`` frames it captured meanwhile all at once, and live frames after them;
* ``stall_at=T, stall=S``: ``T`` seconds after DTLS the caller's sender stops for ``S``
  seconds (a paused process, a busy event loop), then sends everything it owes at once
  (``stall_backlog=True``) or skips it, as :class:`voice.opus.FramePacer` does.

With ``record=True`` it also keeps every payload it receives, with its arrival time, so a
test can decode what came back and look for its own tone.
"""

from __future__ import annotations

import logging
import math
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import urljoin

import trio

from voice.dtls import Certificate
from voice.ice import IceControllingClient, generate_password, generate_ufrag
from voice.opus import FRAME_DURATION, FRAME_SAMPLES, SILENCE, FramePacer, OpusEncoder
from voice.opus.pacing import DEFAULT_MAX_CATCH_UP
from voice.peer import IceConnected, PeerClosed, PeerConnection, PeerDtlsConnected, PeerRtpReceived
from voice.rtp.packet import RtpPacket
from voice.rtp.sender import RtpSender
from voice.sansio import drain_events
from voice.sdp import SdpError, analyze_answer, build_offer, parse
from voice.transceiver.agents import tone_frames
from voice.types import Address

log = logging.getLogger(__name__)

#: The probe: one burst of BURST_FRAMES tone frames every CYCLE_FRAMES frames.
CYCLE_FRAMES = 50
BURST_FRAMES = 5


@cache
def probe_packets() -> tuple[tuple[bytes, ...], int]:
    """One cycle of the probe, Opus-encoded once per process, and the size threshold that
    tells an encoded burst from encoded silence."""
    encoder = OpusEncoder(complexity=1)
    tone = tone_frames(1000, 0.5)
    pcm = [tone[i] if i < BURST_FRAMES else SILENCE for i in range(CYCLE_FRAMES)]
    # Two cycles, keeping the second: the encoder has settled by then.
    packets = [encoder.encode(frame) for frame in pcm + pcm][CYCLE_FRAMES:]
    burst = min(len(p) for p in packets[:BURST_FRAMES])
    silence = max(len(p) for p in packets[BURST_FRAMES:])
    return tuple(packets), (burst + silence) // 2


@cache
def caller_certificate() -> Certificate:
    """One certificate for every caller of a process: generating keys is not what we measure."""
    return Certificate.generate()


#: Redirects a caller follows before it gives up on an offer.
MAX_REDIRECTS = 3


class CallSetupError(Exception):
    """The call could not be set up: the signaling refused it, or ICE/DTLS did not finish."""


@dataclass
class CallResult:
    """What one call measured; times are seconds on the Trio clock."""

    posted_at: float = math.nan
    answered_at: float = math.nan
    ice_at: float = math.nan
    dtls_at: float = math.nan
    first_audio_at: float = math.nan
    ended_at: float = math.nan
    end_reason: str = ""
    round_trips: list[float] = field(default_factory=list)
    #: When each round trip was measured (the echo's arrival), for windowed statistics.
    round_trip_at: list[float] = field(default_factory=list)
    #: The server's view of our stream, from its last RTCP receiver report.
    remote_packets_lost: int | None = None
    packets_sent: int = 0
    packets_received: int = 0
    packets_lost: int = 0
    jitter: float = 0.0
    failed: str | None = None

    @property
    def setup_time(self) -> float:
        """From the POST to the first audio coming back."""
        return self.first_audio_at - self.posted_at


def http(
    method: str, url: str, body: bytes | None = None, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """A blocking HTTP request (run in a thread): status, headers (names in lower case, as
    HTTP/2 and hypercorn write them), body; never raises on 4xx."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/sdp")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            headers = {k.lower(): v for k, v in response.headers.items()}
            return response.status, headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


class Caller:
    """One call from a synthetic caller to a ``voice`` (or any WHIP-shaped) endpoint."""

    def __init__(
        self,
        base_url: str,
        *,
        agent: str = "echo",
        bind_host: str = "127.0.0.1",
        setup_timeout: float = 10.0,
        start_burst: int = 0,
        stall_at: float | None = None,
        stall: float = 0.0,
        stall_backlog: bool = True,
        record: bool = False,
        query: str = "",
        route: Callable[[Address], Address] | None = None,
        payloads: Callable[[int], bytes] | None = None,
        on_rtp: Callable[[RtpPacket, float], None] | None = None,
    ) -> None:
        """``route`` maps the media address of the answer to the one to send to (an
        impairment link in between, :mod:`voice.loadgen.impair`); ``payloads`` gives the
        Opus payload of each 20 ms frame by index instead of the probe (speech,
        :mod:`voice.loadgen.speech`); ``on_rtp`` sees every RTP packet received."""
        if start_burst < 0 or stall < 0:
            raise ValueError("start_burst and stall cannot be negative")
        self.base_url = base_url.rstrip("/") + "/"
        self.route = route
        self.payloads = payloads
        self.on_rtp = on_rtp
        self.start_burst = start_burst
        self.stall_at = stall_at
        self.stall = stall
        self.stall_backlog = stall_backlog
        #: (arrival time, Opus payload) of every RTP packet received, with ``record=True``.
        self.received: list[tuple[float, bytes]] | None = [] if record else None
        self.agent = agent
        #: More query parameters for the POST (``name=value&...``), e.g. ``ingress=b``.
        self.query = query
        self.bind_host = bind_host
        self.setup_timeout = setup_timeout
        self.result = CallResult()
        self.location: str | None = None
        #: The URL that answered the offer (after redirects): the session URL's base.
        self.answered_by = self.base_url
        self.peer: PeerConnection | None = None
        self.connected = trio.Event()
        self.closed = trio.Event()
        self.last_rtp_at = -math.inf
        self._rtp_arrived = trio.Event()
        self.muted = False  # when True nothing at all is sent: the caller "vanishes"
        self._sock: trio.socket.SocketType | None = None
        self._server: Address | None = None
        self._burst_sent_at: float | None = None
        self._in_burst = False

    async def run(self, duration: float, *, hang_up: bool = True) -> CallResult:
        """Places the call, keeps it up for ``duration`` seconds after DTLS, then hangs up
        (DELETE) unless ``hang_up`` is False.

        A load generator must survive its calls failing: a refused offer, an unreachable
        server, a handshake that never finishes all end up in ``result.failed``, and only
        this caller's tasks end.
        """
        try:
            family = trio.socket.AF_INET6 if ":" in self.bind_host else trio.socket.AF_INET
            with trio.socket.socket(family, trio.socket.SOCK_DGRAM) as sock:
                await sock.bind((self.bind_host, 0))
                self._sock = sock
                async with trio.open_nursery() as nursery:
                    await self._place(nursery)
                    await self._wait_connected()
                    nursery.start_soon(self._send_loop)
                    await trio.sleep(duration)
                    if hang_up:
                        await self.hang_up()
                    nursery.cancel_scope.cancel()
        except* CallSetupError as group:
            self.result.failed = str(group.exceptions[0])
        except* (OSError, SdpError) as group:
            self.result.failed = f"{type(group.exceptions[0]).__name__}: {group.exceptions[0]}"
        if self.result.failed and self.location is not None:
            with trio.move_on_after(5):  # free the server's session even on failure
                await self.hang_up()
        self._collect()
        return self.result

    async def _wait_connected(self) -> None:
        with trio.move_on_after(self.setup_timeout) as waited:
            await self.connected.wait()
        if waited.cancelled_caught:
            raise CallSetupError("ICE/DTLS did not complete in time")

    async def rtp_after(self, moment: float) -> float:
        """Waits for an RTP packet received after ``moment``; returns when it arrived."""
        while self.last_rtp_at <= moment:
            await self._rtp_arrived.wait()
        return self.last_rtp_at

    async def hang_up(self) -> None:
        if self.location is not None:
            await trio.to_thread.run_sync(http, "DELETE", urljoin(self.answered_by, self.location))
            self.location = None

    # -- set-up --------------------------------------------------------------------------

    async def _place(self, nursery: trio.Nursery) -> None:
        ufrag, pwd = generate_ufrag(), generate_password()
        certificate = caller_certificate()
        ssrc = secrets.randbits(32) or 1
        offer = build_offer(
            ice_ufrag=ufrag,
            ice_pwd=pwd,
            fingerprint=("sha-256", certificate.fingerprint("sha-256")),
            ssrc=ssrc,
            cname=secrets.token_urlsafe(9),
        )
        self.result.posted_at = trio.current_time()
        url = f"{self.base_url}v1/sessions?agent={self.agent}" + (
            f"&{self.query}" if self.query else ""
        )
        for _ in range(MAX_REDIRECTS + 1):
            status, headers, body = await trio.to_thread.run_sync(http, "POST", url, offer.encode())
            # RFC 9725 §4.5: a WHIP client follows a 307 (a steering front's) with the same
            # POST and body to the new URL; the session URL is then relative to that one.
            if status not in (307, 308) or "location" not in headers:
                break
            url = urljoin(url, headers["location"])
        self.answered_by = url
        if status != 201:
            raise CallSetupError(
                f"signaling answered {status}: {body.decode(errors='replace').strip()}"
            )
        self.result.answered_at = trio.current_time()
        self.location = headers.get("location")
        if self.location is None:
            raise CallSetupError("signaling answered 201 without a Location header")
        answer = analyze_answer(parse(body.decode()))
        self._server = answer.address if self.route is None else self.route(answer.address)
        self._payload_type = answer.opus_payload_type
        self._ssrc = ssrc
        ice = IceControllingClient(ufrag, pwd, answer.remote_ufrag, answer.remote_pwd, self._server)
        self.peer = PeerConnection(
            ice=ice,
            certificate=certificate,
            remote_fingerprints=answer.remote_fingerprints,
            is_dtls_server=answer.setup == "active",
            local_ssrc=ssrc,
            cname=secrets.token_urlsafe(9),
            now=trio.current_time(),
        )
        nursery.start_soon(self._io_loop)
        self.peer.connect(trio.current_time())
        await self._flush()

    # -- the loops -----------------------------------------------------------------------

    async def _io_loop(self) -> None:
        assert self.peer is not None and self._sock is not None
        peer, sock = self.peer, self._sock
        while True:
            timer = peer.get_timer()
            with trio.move_on_at(math.inf if timer is None else timer):
                data, addr = await sock.recvfrom(2048)
                peer.receive_datagram(data, (addr[0], addr[1]), trio.current_time())
            now = trio.current_time()
            timer = peer.get_timer()
            if timer is not None and now >= timer:
                peer.handle_timeout(now)
            self._events()
            await self._flush()

    def _events(self) -> None:
        assert self.peer is not None
        _, threshold = probe_packets()
        while (event := self.peer.next_event()) is not None:
            now = trio.current_time()
            if isinstance(event, PeerRtpReceived):
                self.last_rtp_at = now
                self._rtp_arrived.set()
                self._rtp_arrived = trio.Event()
                if self.on_rtp is not None:
                    self.on_rtp(event.packet, now)
                if math.isnan(self.result.first_audio_at):
                    self.result.first_audio_at = now
                if self.received is not None:
                    self.received.append((now, event.packet.payload))
                loud = len(event.packet.payload) >= threshold
                if loud and not self._in_burst and self._burst_sent_at is not None:
                    self.result.round_trips.append(now - self._burst_sent_at)
                    self.result.round_trip_at.append(now)
                self._in_burst = loud
            elif isinstance(event, IceConnected):
                self.result.ice_at = now
            elif isinstance(event, PeerDtlsConnected):
                self.result.dtls_at = now
                self.connected.set()
            elif isinstance(event, PeerClosed):
                self.result.end_reason = event.reason
                self.result.ended_at = now
                self.closed.set()

    async def _flush(self) -> None:
        assert self.peer is not None and self._sock is not None
        for data, addr in self.peer.datagrams_to_send():
            if not self.muted:
                try:
                    await self._sock.sendto(data, addr)
                except OSError as exc:
                    log.debug("caller send failed: %s", exc)

    async def _send_loop(self) -> None:
        assert self.peer is not None
        packets, _ = probe_packets()
        start = trio.current_time()
        # Catching up on everything owed is what "sending the backlog" means.
        catch_up = 1 << 30 if self.stall_backlog else DEFAULT_MAX_CATCH_UP
        pacer = FramePacer(start=start, frame_duration=FRAME_DURATION, max_catch_up=catch_up)
        numbering = RtpSender(self._ssrc, self._payload_type, FRAME_SAMPLES)
        first = self.start_burst  # frames 0..first-1 were "captured" before DTLS was up
        stall_at = math.inf if self.stall_at is None else start + self.stall_at

        def send(index: int, now: float) -> None:
            assert self.peer is not None
            position = index % CYCLE_FRAMES
            if position == 0:
                self._burst_sent_at = now
            payload = packets[position] if self.payloads is None else self.payloads(index)
            self.peer.send_rtp(numbering.packet(index, payload), now)

        for index in range(first):
            send(index, start)
        await self._flush()
        while True:
            await trio.sleep_until(pacer.get_timer())
            now = trio.current_time()
            if now >= stall_at:
                stall_at = math.inf
                await trio.sleep(self.stall)
                now = trio.current_time()
            pacer.handle_timeout(now)
            for due in drain_events(pacer):
                send(first + due.index, now)
            await self._flush()

    def _collect(self) -> None:
        if self.peer is None:
            return
        stats = self.peer.rtp.stats
        self.result.packets_sent = stats.packets_sent
        self.result.packets_received = stats.packets_received
        self.result.packets_lost = max(0, stats.packets_lost)
        self.result.jitter = stats.jitter
        self.result.remote_packets_lost = stats.remote_packets_lost
        if math.isnan(self.result.ended_at):
            self.result.ended_at = trio.current_time()
