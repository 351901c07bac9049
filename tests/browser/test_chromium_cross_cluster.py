"""Chromium's call enters at another cluster's relay (Global Relay ingress, VOICE-RELAY §12).

Two ``voice relay`` process trees share one fleet file: cluster 1's relay (the ingress near
the caller) has no transceiver of its own; cluster 2's relay has transceiver 7, a
``voice transceiver`` whose answers name only the ingress's address. Chromium loads the
transceiver's page, places an echo call, and hears its own tone: every datagram went page ->
ingress -> cluster 2's relay -> transceiver and back.
"""

from __future__ import annotations

import json
import secrets
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import pytest

from tests.conftest import require_program
from tests.support.browser import CHROMIUM, chromium, write_tone_wav
from tests.support.processes import RELAY_READY, URL_LINE, free_udp_ports
from tests.support.server import voice_process

pytestmark = [pytest.mark.browser, pytest.mark.interop, pytest.mark.slow]

MIC_HZ = 660
SECRET = secrets.token_bytes(32)
voice = partial(voice_process, env={"VOICE_FLEET_KEYS": f"1:{SECRET.hex()}"})


def test_chromium_call_through_another_clusters_ingress_is_heard(tmp_path: Path) -> None:
    require_program("chromium", CHROMIUM)
    base = free_udp_ports(5)
    ingress_internal, owner_internal, relay_input = base, base + 2, base + 4
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        f'[clusters]\n1 = ["127.0.0.1:{ingress_internal}"]\n2 = ["127.0.0.1:{owner_internal}"]\n'
    )
    common = ("relay", "--workers=2", "--host=127.0.0.1", "--port=0", f"--fleet={fleet}")
    with ExitStack() as stack:
        stack.enter_context(
            voice(
                *common,
                "--cluster=2",
                f"--internal-port={owner_internal}",
                f"--transceiver=7=127.0.0.1:{relay_input}",
                ready=RELAY_READY,
            )
        )
        _, ingress = stack.enter_context(
            voice(*common, "--cluster=1", f"--internal-port={ingress_internal}", ready=RELAY_READY)
        )
        transceiver, url = stack.enter_context(
            voice(
                "transceiver",
                "--http-port=0",
                "--cluster=2",
                "--transceiver-id=7",
                f"--relay-input=127.0.0.1:{relay_input}",
                f"--advertise={ingress.group(1)}:{ingress.group(2)}",
                ready=URL_LINE,
            )
        )
        transceiver.url = url.group(1)
        browser = stack.enter_context(chromium(write_tone_wav(tmp_path / "tone.wav", MIC_HZ)))
        page = browser.new_page()
        page.goto(f"{transceiver.url}?raw=1&agent=echo")
        page.evaluate("voice.start()")
        page.wait_for_function("voice.dtls === 'connected' || voice.error", timeout=20_000)
        assert page.evaluate("voice.error") is None, page.evaluate("voice.error")
        page.wait_for_function(
            f"voice.level() > 0.05 && Math.abs(voice.dominantFrequency() - {MIC_HZ}) < 25",
            timeout=15_000,
        )
        page.wait_for_function("voice.timings.firstEcho !== undefined", timeout=5_000)
        print("set-up timings via two relays (ms):", json.dumps(page.evaluate("voice.timings")))
        # The only relay that knows the transceiver is cluster 2's, and the page was told
        # only the ingress's address: every datagram crossed both.
        assert transceiver.metric('voice_packets_total{direction="in",path="relay"}') > 0
        assert transceiver.metric('voice_packets_total{direction="in",path="direct"}') == 0
        page.evaluate("voice.hangup()")
        transceiver.wait_for_log(r"session \S+: ended \(deleted by signaling\)")
        page.close()
