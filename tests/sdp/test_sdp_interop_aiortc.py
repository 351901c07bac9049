"""Interop: aiortc, an independent WebRTC stack, makes an offer and accepts our answer.

aiortc's RTCPeerConnection checks an answer before applying it: every m-line needs ICE
credentials, an ``active``/``passive`` setup and rtcp-mux, the m-lines must match the offer's
kinds and mids, and a codec must be in common. Its acceptance of our answer to its own live
offer is conformance evidence from a parser we did not write. (aiortc cannot apply an answer
that rejects an m-line, so rejection is shown against Chromium instead.)

Nothing leaves the machine: no STUN server is configured, and our answer's candidate is on
127.0.0.1, where aiortc's connectivity checks go unanswered until we close it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc import sdp as aiortc_sdp

from voice.sdp import analyze_offer, build_answer, parse

pytestmark = pytest.mark.interop

FINGERPRINT = ("sha-256", ":".join(f"{b:02X}" for b in range(32)))
LOCAL: dict[str, Any] = {
    "ice_ufrag": "Vo1c",
    "ice_pwd": "Pa55w0rdPa55w0rdPa55w0",
    "fingerprint": FINGERPRINT,
    "candidates": ["1 1 udp 2130706431 127.0.0.1 50000 typ host"],
    "ssrc": 1234,
    "cname": "voice-edge",
}


async def negotiate(direction: str) -> dict[str, Any]:
    """aiortc offers one audio transceiver; we answer; aiortc applies the answer."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio", direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        offer = parse(pc.localDescription.sdp)
        answer = build_answer(offer, analyze_offer(offer), **LOCAL)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        (transceiver,) = pc.getTransceivers()
        return {
            "answer": answer,
            "state": pc.signalingState,
            "direction": transceiver.currentDirection,
            "codecs": [(c.mimeType, c.clockRate, c.channels) for c in transceiver._codecs],
        }
    finally:
        await pc.close()


def test_aiortc_applies_our_answer() -> None:
    result = asyncio.run(negotiate("sendrecv"))
    assert result["state"] == "stable"
    assert result["direction"] == "sendrecv"
    assert result["codecs"] == [("audio/opus", 48000, 2)]

    # aiortc's own SDP parser reads back what we meant.
    (media,) = aiortc_sdp.SessionDescription.parse(result["answer"]).media
    assert media.ice.iceLite is True
    assert (media.ice.usernameFragment, media.ice.password) == (
        LOCAL["ice_ufrag"],
        LOCAL["ice_pwd"],
    )
    assert media.dtls.role == "server"
    assert [(f.algorithm, f.value) for f in media.dtls.fingerprints] == [FINGERPRINT]
    assert media.rtcp_mux is True
    ((candidate),) = media.ice_candidates
    assert (candidate.ip, candidate.port, candidate.protocol, candidate.type) == (
        "127.0.0.1",
        50000,
        "udp",
        "host",
    )
    assert media.ice_candidates_complete is True


def test_aiortc_recvonly_offer_gets_a_sendonly_answer() -> None:
    result = asyncio.run(negotiate("recvonly"))
    assert result["state"] == "stable"
    # RFC 3264 §6.1: we answer sendonly, so aiortc's side becomes recvonly.
    assert "a=sendonly" in result["answer"]
    assert result["direction"] == "recvonly"
