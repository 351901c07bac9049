"""The baseline for ``bench/load.py``: an aiortc server doing the same echo as ``voice serve``.

Same HTTP shape (``POST /v1/sessions`` with the offer, ``201`` with the answer and a
``Location``, ``DELETE`` to hang up), same work per call: every received Opus packet is
decoded, the PCM goes straight back, and is encoded again for sending. aiortc's Opus encoder
is set to our settings (mono, 32 kbit/s, complexity 1) so both servers pay the same codec
cost; what differs is everything around it. aiortc is a full ICE agent with its own jitter
buffer, and answers DTLS ``active``.

Run it alone: ``python bench/aiortc_server.py --port 8091`` (it prints ``listening`` when
ready). It has no dependencies beyond aiortc: the HTTP side is a few lines on asyncio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import sys
from typing import Any

COMPLEXITY = 1
BITRATE = 32_000


def patch_aiortc_encoder() -> None:
    """Makes aiortc's Opus encoder code mono 32 kbit/s at complexity 1, as ours does."""
    import fractions

    import av
    from aiortc.codecs import opus

    def init(self: Any) -> None:
        self.codec = av.CodecContext.create("libopus", "w")
        self.codec.bit_rate = BITRATE
        self.codec.format = "s16"
        self.codec.layout = "mono"
        self.codec.sample_rate = 48000
        self.codec.time_base = fractions.Fraction(1, 48000)
        self.codec.options = {"compression_level": str(COMPLEXITY), "application": "voip"}
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=48000, frame_size=960)
        self.first_packet_pts = None

    opus.OpusEncoder.__init__ = init  # type: ignore[method-assign]


async def serve(host: str, port: int) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    sessions: dict[str, RTCPeerConnection] = {}

    async def answer(offer: str) -> tuple[str, str]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        session_id = secrets.token_urlsafe(12)
        sessions[session_id] = pc

        @pc.on("track")
        def on_track(track: Any) -> None:
            # Sending the remote track back makes aiortc decode it and encode it again.
            pc.addTrack(track)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        for transceiver in pc.getTransceivers():
            transceiver.direction = "sendrecv"
        await pc.setLocalDescription(await pc.createAnswer())
        return session_id, pc.localDescription.sdp

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode().split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (h.partition(":") for h in header_lines if h)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status, extra, payload = 404, {}, b"not found\n"
            if method == "OPTIONS":
                # CORS preflight: the benchmark's browser page is served by another origin.
                status, payload = 204, b""
                extra = {
                    "Access-Control-Allow-Methods": "POST, DELETE",
                    "Access-Control-Allow-Headers": "Content-Type",
                }
            elif method == "POST" and path.startswith("/v1/sessions"):
                session_id, sdp = await answer(body.decode())
                status, payload = 201, sdp.encode()
                extra = {
                    "Location": f"/v1/sessions/{session_id}",
                    "Content-Type": "application/sdp",
                }
            elif method == "DELETE" and path.startswith("/v1/sessions/"):
                pc = sessions.pop(path.rsplit("/", 1)[1], None)
                if pc is not None:
                    await pc.close()
                    status, payload = 200, b"session ended\n"
            elif method == "GET" and path == "/healthz":
                status, payload = 200, f'{{"sessions": {len(sessions)}}}'.encode()
            reason = {200: "OK", 201: "Created", 204: "No Content", 404: "Not Found"}[status]
            extra["Access-Control-Allow-Origin"] = "*"
            extra["Access-Control-Expose-Headers"] = "Location"
            lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(payload)}"]
            lines += [f"{k}: {v}" for k, v in extra.items()] + ["Connection: close", "", ""]
            writer.write("\r\n".join(lines).encode() + payload)
            await writer.drain()
        except Exception:
            logging.exception("request failed")
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    print(f"listening on http://{host}:{server.sockets[0].getsockname()[1]}/", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    patch_aiortc_encoder()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
