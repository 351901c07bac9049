"""An aiortc client for end-to-end tests: places an echo call on a WHIP-shaped endpoint.

aiortc is an independent Python WebRTC stack (ICE, DTLS, SRTP, Opus of its own), so a call
it completes with ``voice`` shows our layers interoperate with someone else's. Its
microphone is a steady tone; the caller records what comes back, for the test to check that
the echo is that tone.

aiortc gathers no loopback candidate: it needs one non-loopback address on the machine (the
test namespace's veth, 10.77.0.1), from which it reaches a server advertising 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
import urllib.request
from array import array

TONE_HZ = 440


def make_tone_track():  # type: ignore[no-untyped-def]
    import av
    from aiortc.mediastreams import MediaStreamTrack

    class ToneTrack(MediaStreamTrack):  # type: ignore[misc]
        """A microphone that plays a steady sine, paced in real time like a device."""

        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self._n = 0
            self._start: float | None = None

        async def recv(self) -> av.AudioFrame:
            if self._start is None:
                self._start = time.monotonic()
            due = self._start + self._n * 0.02
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            base = self._n * 960
            samples = array(
                "h",
                (
                    round(12000 * math.sin(2 * math.pi * TONE_HZ * (base + i) / 48000))
                    for i in range(960)
                ),
            )
            frame = av.AudioFrame(format="s16", layout="mono", samples=960)
            frame.planes[0].update(samples.tobytes())
            frame.sample_rate = 48000
            frame.pts = base
            frame.time_base = fractions.Fraction(1, 48000)
            self._n += 1
            return frame

    return ToneTrack()


async def call(url: str) -> bytes:
    """Places an echo call on ``url`` (ending in "/"), returns three seconds of what came
    back as 48 kHz stereo s16 PCM, and hangs up (DELETE)."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(make_tone_track())
    received = asyncio.get_running_loop().create_future()
    tasks: list[asyncio.Future[None]] = []

    @pc.on("track")
    def on_track(track) -> None:  # type: ignore[no-untyped-def]
        async def collect() -> None:
            pcm = bytearray()
            while len(pcm) < 48000 * 2 * 2 * 3:  # three seconds (aiortc decodes to stereo)
                frame = await track.recv()
                # A plane's buffer is padded for SIMD; only the first samples*channels
                # 16-bit values are audio.
                size = frame.samples * len(frame.layout.channels) * 2
                pcm += memoryview(frame.planes[0])[:size]
            received.set_result(bytes(pcm))

        tasks.append(asyncio.ensure_future(collect()))

    await pc.setLocalDescription(await pc.createOffer())
    request = urllib.request.Request(
        url + "v1/sessions?agent=echo",
        data=pc.localDescription.sdp.encode(),
        headers={"Content-Type": "application/sdp"},
        method="POST",
    )
    response = await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
    assert response.status == 201
    location = response.headers["Location"]
    answer = response.read().decode()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    try:
        pcm = await asyncio.wait_for(received, timeout=20)
    finally:
        delete = urllib.request.Request(url.rstrip("/") + location, method="DELETE")
        await asyncio.to_thread(urllib.request.urlopen, delete, timeout=10)
        await pc.close()
    return pcm


def mono(stereo: bytes) -> bytes:
    """The left channel of interleaved stereo s16 PCM."""
    samples = array("h")
    samples.frombytes(stereo)
    return samples[::2].tobytes()


def assert_echo_is_tone(pcm: bytes) -> None:
    """The last second of what :func:`call` received is the caller's tone, not silence."""
    from tests.support.audio import rms, tone_share

    last_second = mono(pcm)[-48000 * 2 :]
    assert rms(last_second) > 0.05, "the echo is silent"
    assert tone_share(last_second, TONE_HZ) > 0.5, "the echo is not the caller's tone"
