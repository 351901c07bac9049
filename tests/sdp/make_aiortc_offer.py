"""Writes the SDP offer aiortc makes for one audio transceiver (a one-off, not a test).

Run from the worktree as ``.venv/bin/python tests/sdp/make_aiortc_offer.py``. It uses only
loopback: no STUN or TURN server is configured, so ICE gathering finds host candidates and
never touches the network. The result is saved as ``tests/data/aiortc-<version>-audio-offer.sdp``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiortc
from aiortc import RTCConfiguration, RTCPeerConnection


async def make_offer() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio", direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        # setLocalDescription waits for ICE gathering, so the offer carries its candidates.
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


def main() -> None:
    version = ".".join(aiortc.__version__.split(".")[:2])
    path = Path(__file__).parents[1] / "data" / f"aiortc-{version}-audio-offer.sdp"
    sdp = asyncio.run(make_offer())
    path.write_bytes(sdp.encode())
    print(f"wrote {path} ({len(sdp)} bytes)")


if __name__ == "__main__":
    main()
