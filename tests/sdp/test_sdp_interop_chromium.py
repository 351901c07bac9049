"""Interop: real Chromium makes offers and applies our answers (setRemoteDescription).

Chromium's SDP parser and JSEP implementation are independent of ours and strict: an answer
with a malformed line, a wrong number of m-lines, a role it cannot take or an unknown
fingerprint format is refused with an exception. These tests apply our answers to live
offers (audio alone; audio + video + data channel; each direction) and read back the state
Chromium reached. No media flows: the offers are never gathered against a network.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import require_program
from voice.sdp import analyze_offer, build_answer, parse

pytestmark = pytest.mark.browser

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL: dict[str, Any] = {
    "ice_ufrag": "Vo1c",
    "ice_pwd": "Pa55w0rdPa55w0rdPa55w0",
    "fingerprint": ("sha-256", ":".join(f"{b:02X}" for b in range(32))),
    "candidates": ["1 1 udp 2130706431 127.0.0.1 50000 typ host"],
    "ssrc": 1234,
    "cname": "voice-edge",
}

MAKE_OFFER = """async ([kinds, direction]) => {
    window.pc = new RTCPeerConnection({iceServers: []});
    for (const kind of kinds) {
        if (kind === 'data') pc.createDataChannel('chat');
        else pc.addTransceiver(kind, {direction});
    }
    await pc.setLocalDescription(await pc.createOffer());
    return pc.localDescription.sdp;
}"""

APPLY_ANSWER = """async (sdp) => {
    try {
        await pc.setRemoteDescription({type: 'answer', sdp});
    } catch (e) {
        return {error: String(e)};
    }
    const result = {
        state: pc.signalingState,
        transceivers: pc.getTransceivers().map(t => ({
            mid: t.mid, kind: t.receiver.track.kind, current: t.currentDirection,
        })),
        sctp: pc.sctp !== null,
    };
    pc.close();
    return result;
}"""


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    chromium = require_program("chromium", "/usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def negotiate(page: Any, kinds: list[str], direction: str = "sendrecv") -> dict[str, Any]:
    offer = parse(page.evaluate(MAKE_OFFER, [kinds, direction]))
    answer = build_answer(offer, analyze_offer(offer), **LOCAL)
    result: dict[str, Any] = page.evaluate(APPLY_ANSWER, answer)
    assert "error" not in result, f"{result.get('error')}\n{answer}"
    return result


def test_chromium_accepts_our_audio_answer(page: Any) -> None:
    result = negotiate(page, ["audio"])
    assert result["state"] == "stable"
    assert result["transceivers"] == [{"mid": "0", "kind": "audio", "current": "sendrecv"}]


def test_chromium_accepts_rejected_video_and_data(page: Any) -> None:
    result = negotiate(page, ["audio", "video", "data"])
    assert result["state"] == "stable"
    # The rejected video transceiver is stopped (and so no longer listed), and the rejected
    # data m-line leaves no SCTP transport.
    assert result["transceivers"] == [{"mid": "0", "kind": "audio", "current": "sendrecv"}]
    assert result["sctp"] is False


@pytest.mark.parametrize(
    ("offered", "current"),
    [("sendonly", "sendonly"), ("recvonly", "recvonly"), ("inactive", "inactive")],
)
def test_chromium_agrees_on_the_mirrored_direction(page: Any, offered: str, current: str) -> None:
    # RFC 3264 §6.1: we mirror the offered direction, so Chromium's negotiated direction
    # ends up where it asked to be.
    result = negotiate(page, ["audio"], offered)
    assert result["transceivers"][0]["current"] == current
