"""The caller's side of offer/answer, used by the load generator."""

from __future__ import annotations

import asyncio

import pytest

from voice.dtls import Certificate
from voice.sdp import (
    UnsupportedOffer,
    analyze_answer,
    analyze_offer,
    build_answer,
    build_offer,
    parse,
)

CERT = Certificate.generate()
FP = ("sha-256", CERT.fingerprint("sha-256"))


def offer() -> str:
    return build_offer(ice_ufrag="callr1", ice_pwd="c" * 24, fingerprint=FP, ssrc=42, cname="me")


def answer_to(text: str) -> str:
    sdp = parse(text)
    audio = analyze_offer(sdp)
    return build_answer(
        sdp,
        audio,
        ice_ufrag="srv1",
        ice_pwd="s" * 24,
        fingerprint=FP,
        candidates=["1 1 udp 2130706431 127.0.0.1 40000 typ host"],
        ssrc=7,
        cname="srv",
    )


def test_offer_is_accepted_by_our_answerer() -> None:
    audio = analyze_offer(parse(offer()))
    assert audio.remote_ufrag == "callr1" and audio.opus_payload_type == 111
    assert audio.setup == "actpass" and audio.remote_ssrc == 42
    result = analyze_answer(parse(answer_to(offer())))
    assert result.remote_ufrag == "srv1" and result.ice_lite
    assert result.address == ("127.0.0.1", 40000)
    assert result.remote_fingerprints == [FP]


def test_offer_is_accepted_by_aiortc() -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    async def apply() -> str:
        pc = RTCPeerConnection()
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer(), type="offer"))
            return pc.remoteDescription.sdp
        finally:
            await pc.close()

    assert "callr1" in asyncio.run(apply())


def test_answer_must_choose_a_dtls_role() -> None:
    active = answer_to(offer()).replace("a=setup:passive", "a=setup:active")
    assert analyze_answer(parse(active)).setup == "active"
    actpass = answer_to(offer()).replace("a=setup:passive", "a=setup:actpass")
    with pytest.raises(UnsupportedOffer, match="passive or active"):
        analyze_answer(parse(actpass))
