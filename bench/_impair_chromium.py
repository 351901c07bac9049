"""The Chromium caller of ``bench/impair.py``: the same speech, the same impairment link,
Chromium's own WebRTC stack (its Opus encoder with FEC, its NetEq jitter buffer and
concealment) at the caller's end.

Chromium's fake microphone loops a WAV of the speech (half a second of silence, the speech,
half a second of silence). The page (a few lines of JavaScript evaluated into a page of the
server's origin, so ``getUserMedia`` has its secure context) records what it plays of the
echo through Web Audio; the recording is aligned with one loop of the speech and scored
with PESQ like the synthetic caller's. The loop is found wherever it is best in the recording
(at least one whole loop is recorded after ICE connects), the same way for both servers.

Chromium must send through the link: the page strips the candidates from its offer (so a
full ICE agent such as aiortc cannot find a path around the link), and the answer's
candidates are replaced by one, the link's, before the page sees it. The link runs its own
``trio.run`` in a thread beside Playwright's synchronous API.
"""

from __future__ import annotations

import base64
import math
import re
import threading
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import trio

from tests.support.browser import write_wav
from voice.loadgen.impair import Impairment, ImpairmentLink
from voice.loadgen.speech import SpeechSource, align, as_signal, pesq_wb
from voice.opus import FRAME_BYTES, SAMPLE_RATE

START = """async (whip) => {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
  const pc = new RTCPeerConnection({bundlePolicy: "max-bundle", rtcpMuxPolicy: "require"});
  pc.addTransceiver(stream.getAudioTracks()[0], {direction: "sendrecv", streams: [stream]});
  const imp = window.imp = {pc, chunks: [], recording: false, rate: 0};
  pc.ontrack = (event) => {
    const remote = event.streams[0] || new MediaStream([event.track]);
    // Chromium feeds a remote stream to Web Audio only while a media element plays it.
    const element = document.createElement("audio");
    element.srcObject = remote;
    element.muted = true;
    element.play();
    const context = new AudioContext({sampleRate: 48000});
    imp.rate = context.sampleRate;
    const source = context.createMediaStreamSource(remote);
    const tap = context.createScriptProcessor(4096, 1, 1);
    tap.onaudioprocess = (e) => {
      if (imp.recording) imp.chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
    };
    const mute = context.createGain();
    mute.gain.value = 0;
    source.connect(tap); tap.connect(mute); mute.connect(context.destination);
  };
  await pc.setLocalDescription(await pc.createOffer());
  const offer = pc.localDescription.sdp.split("\\r\\n")
    .filter((l) => !l.startsWith("a=candidate") && !l.startsWith("a=end-of-candidates"))
    .join("\\r\\n");
  const response = await fetch(whip, {method: "POST",
    headers: {"Content-Type": "application/sdp"}, body: offer});
  return {status: response.status, answer: await response.text(),
          location: new URL(response.headers.get("Location") || "/", whip).href};
}"""

FINISH = """async (sdp) => {
  await window.imp.pc.setRemoteDescription({type: "answer", sdp});
}"""

STATS = """async () => {
  const report = await window.imp.pc.getStats();
  for (const s of report.values())
    if (s.type === "inbound-rtp" && s.kind === "audio") return s;
  return null;
}"""

TAKE = """() => {
  const imp = window.imp;
  imp.recording = false;
  let n = 0;
  for (const c of imp.chunks) n += c.length;
  const out = new Int16Array(n);
  let i = 0;
  for (const c of imp.chunks) for (const v of c) out[i++] = Math.max(-1, Math.min(1, v)) * 32767;
  let text = "";
  const bytes = new Uint8Array(out.buffer);
  for (let k = 0; k < bytes.length; k += 8192)
    text += String.fromCharCode.apply(null, bytes.subarray(k, k + 8192));
  imp.pc.close();
  return {rate: imp.rate, pcm: btoa(text)};
}"""

CANDIDATE = re.compile(r"^a=candidate:\S+ 1 udp \d+ (\d+\.\d+\.\d+\.\d+) (\d+) typ host", re.M)


def write_loop_wav(source: SpeechSource, path: Path) -> Path:
    """The microphone's loop: the speech with half a second of silence either side."""
    first, end = source.speech_frames
    pad = 25 * FRAME_BYTES
    pcm = source.pcm[first * FRAME_BYTES - pad : end * FRAME_BYTES] + bytes(pad)
    return write_wav(path, pcm, SAMPLE_RATE)


class LinkThread:
    """An :class:`ImpairmentLink` running in its own thread and ``trio.run``."""

    def __init__(self, impairment: Impairment, seed: int) -> None:
        self.link = ImpairmentLink(impairment, seed=seed)
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope:
            self._scope = scope
            async with trio.open_nursery() as nursery:
                await nursery.start(self.link.run)
                self._ready.set()

    def __enter__(self) -> ImpairmentLink:
        self._thread.start()
        self._ready.wait(10)
        return self.link

    def __exit__(self, *exc: object) -> None:
        if self._token is not None and self._scope is not None:
            trio.from_thread.run_sync(self._scope.cancel, trio_token=self._token)
        self._thread.join(10)


def chromium_call(
    browser: Any,
    *,
    origin: str,
    whip: str,
    source: SpeechSource,
    impairment: Impairment,
    seed: int,
) -> dict[str, Any]:
    """One echo call from Chromium through the link; its figures."""
    first, end = source.speech_frames
    loop_seconds = (end - first + 50) * FRAME_BYTES / 2 / SAMPLE_RATE
    figures: dict[str, Any] = {"failed": None}
    page = browser.new_page()
    try:
        with LinkThread(impairment, seed) as link:
            assert link.address is not None
            page.goto(origin)
            started = page.evaluate(START, whip)
            if started["status"] != 201:
                figures["failed"] = f"signaling answered {started['status']}"
                return figures
            answer = started["answer"]
            found = CANDIDATE.search(answer)
            if found is None:
                figures["failed"] = "no IPv4 host candidate in the answer"
                return figures
            link.route((found.group(1), int(found.group(2))))
            host, port = link.address
            answer = "\r\n".join(
                line
                for line in answer.split("\r\n")
                if not line.startswith(("a=candidate", "a=end-of-candidates"))
            )
            answer = re.sub(
                r"^(a=mid:[^\r\n]*)",
                rf"\1\r\na=candidate:1 1 udp 2130706431 {host} {port} typ host",
                answer,
                count=1,
                flags=re.M,
            )
            page.evaluate(FINISH, answer)
            page.wait_for_function(
                "['connected', 'completed'].includes(window.imp.pc.iceConnectionState)",
                timeout=20_000,
            )
            page.evaluate("window.imp.recording = true")
            page.wait_for_timeout(int((2 * loop_seconds + 0.5) * 1000))
            stats = page.evaluate(STATS) or {}
            taken = page.evaluate(TAKE)
            _delete(started["location"])
            figures["lost_up"] = link.up.stats.lost
            figures["lost_down"] = link.down.stats.lost
    except Exception as exc:  # a call that fails is a figure, not the end of the run
        figures["failed"] = f"{type(exc).__name__}: {exc}"
        return figures
    finally:
        page.close()
    pcm = base64.b64decode(taken["pcm"])
    recording = as_signal(pcm, int(taken["rate"]))
    margin = 10 * FRAME_BYTES
    reference = as_signal(source.pcm[first * FRAME_BYTES - margin : end * FRAME_BYTES + margin])
    if len(recording) <= len(reference) or not np.any(recording):
        figures.update(pesq=math.nan, level=0.0)
    else:
        lag = align(reference, recording, len(recording) - len(reference))
        degraded = recording[lag : lag + len(reference)]
        figures["pesq"] = pesq_wb(reference, degraded)
        figures["level"] = float(
            np.sqrt(np.mean(degraded**2)) / max(1e-9, np.sqrt(np.mean(reference**2)))
        )
    figures["chromium_lost"] = stats.get("packetsLost", math.nan)
    received = stats.get("totalSamplesReceived") or math.nan
    figures["concealed_share"] = stats.get("concealedSamples", math.nan) / received
    emitted = stats.get("jitterBufferEmittedCount") or math.nan
    figures["chromium_jb_ms"] = 1000 * stats.get("jitterBufferDelay", math.nan) / emitted
    return figures


def _delete(location: str) -> None:
    request = urllib.request.Request(location, method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=5):
            pass
    except OSError:
        pass  # the call ends by itself when consent lapses
