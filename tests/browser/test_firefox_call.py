"""Real calls from Debian's Firefox ESR to ``voice serve``: the second engine of the
conformance run, next to Chromium (test_chromium_call.py), with the same cases.

Firefox is an independent stack on every layer that matters here: its ICE agent, NSS for
DTLS (a ClientHello offering DTLS 1.3 with a post-quantum key share, over two datagrams,
to which we answer DTLS 1.2), its SRTP and its Opus. It is driven over Marionette
(tests/support/firefox.py); its fake microphone plays 1 kHz, and a private PulseAudio null
sink lets the page's AudioContext run so the page can analyse what comes back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import require_program
from tests.support.firefox import (
    FAKE_MICROPHONE_HZ,
    FIREFOX,
    PULSEAUDIO,
    Firefox,
    FirefoxPage,
    firefox_with_speaker,
    time_call,
)
from tests.support.server import RunningServer, voice_serve

pytestmark = [pytest.mark.browser, pytest.mark.interop, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser() -> Iterator[Firefox]:
    require_program("firefox-esr", FIREFOX)
    require_program("pulseaudio", PULSEAUDIO)
    with firefox_with_speaker() as b:
        yield b


def call(server: RunningServer, browser: Firefox, query: str, hz: float) -> FirefoxPage:
    """A call from a new tab, once the page hears ``hz`` coming back; prints its timings."""
    page = browser.new_page()
    timings = time_call(page, f"{server.url}?raw=1&{query}", hz)
    print(f"Firefox set-up timings, {query} (ms from the POST):", json.dumps(timings))
    # Nothing is connected before the answer, and nothing heard before DTLS is up.
    assert timings["answer"] <= min(timings["ice"], timings["dtls"])
    assert max(timings["ice"], timings["dtls"]) <= timings["echo"]
    assert page.evaluate("voice.ice") in ("connected", "completed")
    assert page.evaluate("voice.dtls") == "connected"
    return page


def hang_up(server: RunningServer, page: FirefoxPage) -> None:
    page.evaluate("voice.hangup()")
    server.wait_for_log(r"session \S+: ended \(deleted by signaling\)")
    status, body = server.get("/healthz")
    assert status == 200 and json.loads(body)["sessions"] == 0
    page.close()


@pytest.mark.parametrize("mode", ["relay", "direct"])
def test_echo_call_returns_the_callers_audio(browser: Firefox, mode: str) -> None:
    """The echo call, through the relay (the default path) and with the transceiver direct:
    the page hears its own 1 kHz tone come back."""
    with voice_serve(*(["--direct"] if mode == "direct" else [])) as server:
        page = call(server, browser, "agent=echo", FAKE_MICROPHONE_HZ)
        stats = page.evaluate("voice.inboundStats()")
        assert stats["packetsReceived"] > 0
        # The tone keeps coming back, not a single lucky analyser frame.
        page.wait_for_function(
            f"voice.level() > 0.05 && Math.abs(voice.dominantFrequency() - {FAKE_MICROPHONE_HZ})"
            " < 25 && voice.inboundStats().then(s => s.packetsReceived > "
            f"{stats['packetsReceived'] + 25})",
            timeout=10_000,
        )
        if mode == "relay":
            assert server.metric("voice_relay_admissions_total") >= 1
            # (no fixed floor: the echo is now heard after fewer than ten caller packets)
            assert server.metric("voice_relay_sent_packets_total") > 0
            assert server.metric('voice_packets_total{direction="in",path="relay"}') > 0
            assert server.metric('voice_packets_total{direction="in",path="direct"}') == 0
        else:
            assert server.metric('voice_packets_total{direction="in",path="relay"}') == 0
            assert server.metric('voice_packets_total{direction="in",path="direct"}') > 10
        hang_up(server, page)


def test_tone_agent_is_heard_at_its_frequency(browser: Firefox) -> None:
    """The tone agent's 880 Hz, not the microphone's 1 kHz, is what the page hears."""
    with voice_serve() as server:
        page = call(server, browser, "agent=tone&frequency=880", 880)
        assert abs(page.evaluate("voice.dominantFrequency()") - 880) < 25
        hang_up(server, page)


def test_a_vanished_firefox_ends_by_consent_expiry() -> None:
    """Firefox killed outright mid-call (no DELETE, no close_notify, no BYE), as when a
    laptop lid closes: the session ends when consent lapses. Firefox refreshes consent
    about every 5 s (RFC 7675), so the timeout here is 8 s, not Chromium's 3 s."""
    require_program("firefox-esr", FIREFOX)
    require_program("pulseaudio", PULSEAUDIO)
    with voice_serve("--consent-timeout", "8") as server:
        with firefox_with_speaker(warm_microphone=False) as doomed:
            page = doomed.new_page()
            page.goto(f"{server.url}?raw=1&agent=echo")
            page.evaluate("voice.start()")
            page.wait_for_function("voice.dtls === 'connected' || voice.error", timeout=20_000)
            assert page.evaluate("voice.error") is None
            server.wait_for_log(r"session \S+: started")
        # Leaving the block SIGKILLed Firefox and every process it started.
        server.wait_for_log(r"session \S+: ended \(ICE consent expired\)", timeout=20)
        _, body = server.get("/healthz")
        assert json.loads(body)["sessions"] == 0
