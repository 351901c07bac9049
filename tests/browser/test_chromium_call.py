"""Real calls from Debian's Chromium to ``voice serve``: the conformance proof of the edge.

Chromium is the reference peer: its ICE agent (controlling, against our ICE-lite), its DTLS
client (with its own certificate, checked against the fingerprint in its offer), its SRTP
and its Opus. Each test places a call from the demo page with a fake microphone playing a
tone, and measures in the page what comes back.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_program
from tests.support.browser import CHROMIUM, chromium, place_call, write_tone_wav
from tests.support.server import voice_serve

pytestmark = [pytest.mark.browser, pytest.mark.interop, pytest.mark.slow]

MIC_HZ = 660


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone_wav(tmp_path_factory.mktemp("mic") / "tone.wav", MIC_HZ)


@pytest.fixture(scope="module")
def browser(microphone: Path) -> Iterator[Any]:
    require_program("chromium", CHROMIUM)
    with chromium(microphone) as b:
        yield b


def page_state(page: Any) -> str:
    """What the demo page knows, for a failure message."""
    return str(
        page.evaluate(
            "JSON.stringify({micFrequency: voice.micFrequency, timings: voice.timings,"
            " echoAnalyser: Boolean(voice.echoAnalyser), level: voice.level(),"
            " dominant: voice.dominantFrequency(), context: voice.context?.state})"
        )
    )


@pytest.mark.parametrize("mode", ["relay", "direct"])
def test_echo_call_returns_the_callers_audio(browser: Any, mode: str) -> None:
    """The echo call, through the relay (the default path) and with the transceiver direct."""
    with voice_serve(*(["--direct"] if mode == "direct" else [])) as server:
        page = place_call(server, browser, "agent=echo")
        assert page.evaluate("voice.ice") in ("connected", "completed")
        # The echo is the microphone's tone coming back, not silence.
        page.wait_for_function(
            f"voice.level() > 0.05 && Math.abs(voice.dominantFrequency() - {MIC_HZ}) < 25",
            timeout=15_000,
        )
        stats = page.evaluate("voice.inboundStats()")
        assert stats["packetsReceived"] > 0
        # The page timed the moment it first heard its own tone come back.
        try:
            page.wait_for_function("voice.timings.firstEcho !== undefined", timeout=5_000)
        except Exception as exc:
            raise AssertionError(f"no first echo marked; the page: {page_state(page)}") from exc
        assert page.evaluate("voice.micFrequency") == pytest.approx(MIC_HZ, abs=25)
        timings = page.evaluate("voice.timings")
        assert timings["dtls"] <= timings["firstEcho"]
        print(f"set-up timings via {mode} (ms):", json.dumps(page.evaluate("voice.timings")))
        if mode == "relay":
            # Every datagram crossed the relay: the browser's checking addresses were admitted
            # by their routing token, and media went both ways through the shim.
            assert server.metric("voice_relay_admissions_total") >= 1
            # (no fixed floor: the echo is now heard after fewer than ten caller packets)
            assert server.metric("voice_relay_sent_packets_total") > 0
            assert server.metric('voice_packets_total{direction="in",path="relay"}') > 0
            assert server.metric('voice_packets_total{direction="in",path="direct"}') == 0
        else:
            assert server.metric('voice_packets_total{direction="in",path="relay"}') == 0
        page.evaluate("voice.hangup()")
        server.wait_for_log(r"session \S+: ended \(deleted by signaling\)")
        status, body = server.get("/healthz")
        assert status == 200 and json.loads(body)["sessions"] == 0
        page.close()


def test_tone_agent_is_heard_at_its_frequency(browser: Any) -> None:
    with voice_serve() as server:
        page = place_call(server, browser, "agent=tone&frequency=880")
        page.wait_for_function(
            "voice.level() > 0.05 && Math.abs(voice.dominantFrequency() - 880) < 25",
            timeout=15_000,
        )
        page.evaluate("voice.hangup()")
        server.wait_for_log(r"session \S+: ended \(deleted by signaling\)")
        page.close()


def test_a_vanished_page_ends_by_consent_expiry(browser: Any) -> None:
    with voice_serve("--consent-timeout", "3") as server:
        page = place_call(server, browser, "agent=echo")
        server.wait_for_log(r"session \S+: started")
        # Crash the renderer, where the peer connection lives: no BYE, no close_notify,
        # nothing more from the browser, as when a laptop lid closes.
        with contextlib.suppress(Exception):  # the navigation itself fails: that is the crash
            page.goto("chrome://crash", timeout=5_000)
        server.wait_for_log(r"session \S+: ended \(ICE consent expired\)", timeout=15)
        _, body = server.get("/healthz")
        assert json.loads(body)["sessions"] == 0
