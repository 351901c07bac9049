"""Writes a Chromium offer with audio, video and a data channel (a one-off, not a test).

Run from the worktree as ``.venv/bin/python tests/sdp/make_chromium_offer.py``. It starts
Debian's headless Chromium through Playwright, creates an RTCPeerConnection with an audio
and a video transceiver and a data channel, waits for ICE gathering to complete (loopback
allowed, no STUN server configured, so nothing leaves the machine) and saves the local
description as ``tests/data/chromium-<major>-audio-video-data-offer.sdp``.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--allow-loopback-in-peer-connection",
]

MAKE_OFFER = """async () => {
    const pc = new RTCPeerConnection({iceServers: []});
    pc.addTransceiver('audio');
    pc.addTransceiver('video');
    pc.createDataChannel('chat');
    const gathered = new Promise(resolve => {
        pc.onicegatheringstatechange = () => {
            if (pc.iceGatheringState === 'complete') resolve();
        };
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered;
    return [navigator.userAgent, pc.localDescription.sdp];
}"""


def main() -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            agent, sdp = browser.new_page().evaluate(MAKE_OFFER)
        finally:
            browser.close()
    major = agent.split("Chrome/")[1].split(".")[0]
    path = Path(__file__).parents[1] / "data" / f"chromium-{major}-audio-video-data-offer.sdp"
    path.write_bytes(sdp.encode())
    print(f"wrote {path} ({len(sdp)} bytes) from {agent}")


if __name__ == "__main__":
    main()
