"""Chromium places a call from a page on the steering front's origin: the front redirects the
POST (307) to a region on another origin, which allows the front's origin (CORS), answers,
and carries the call (VOICE-STEER §2). With two ingresses named and the nearest one
silent, Chromium's own ICE falls back to the second (VOICE-STEER §4)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_program
from tests.support.browser import CHROMIUM, chromium, write_tone_wav
from tests.support.processes import free_udp_ports
from tests.support.server import voice_serve
from tests.support.steer import free_tcp_port, voice_steer, write_regions

pytestmark = [pytest.mark.browser, pytest.mark.interop, pytest.mark.slow]

MIC_HZ = 660

#: The remote port of the candidate pair the transport selected (the media's path).
SELECTED_REMOTE_PORT = """async () => {
  const stats = await voice.pc.getStats();
  for (const s of stats.values()) {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      const pair = stats.get(s.selectedCandidatePairId);
      return stats.get(pair.remoteCandidateId).port;
    }
  }
  return null;
}"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_program("chromium", CHROMIUM)
    wav = write_tone_wav(tmp_path_factory.mktemp("mic") / "tone.wav", MIC_HZ)
    with chromium(wav) as b:
        yield b


def call_through(front_url: str, browser: Any) -> Any:
    page = browser.new_page()
    page.goto(f"{front_url}?raw=1&agent=echo")
    page.evaluate("voice.start()")
    page.wait_for_function("voice.dtls === 'connected' || voice.error", timeout=20_000)
    assert page.evaluate("voice.error") is None
    page.wait_for_function(
        f"voice.level() > 0.05 && Math.abs(voice.dominantFrequency() - {MIC_HZ}) < 25",
        timeout=15_000,
    )
    return page


def test_page_on_the_front_calls_through_the_region(browser: Any, tmp_path: Path) -> None:
    port = free_tcp_port()
    front = f"http://127.0.0.1:{port}"
    with voice_serve("--cors-origin", front) as region:
        regions = write_regions(
            tmp_path / "regions.toml",
            [{"name": "here", "signaling": region.url.rstrip("/")}],
            [{"network": "127.0.0.0/8", "regions": ["here"]}],
        )
        with voice_steer(regions, port, "--interval", "2") as steer:
            page = call_through(steer.url, browser)
            # The session lives at the region: the page's session URL is on its origin.
            assert page.evaluate("voice.sessionUrl").startswith(region.url + "v1/sessions/")
            assert steer.get("/metrics")[1].count('voice_steer_redirects_total{region="here"} 1')
            page.evaluate("voice.hangup()")
            region.wait_for_log(r"session \S+: ended \(deleted by signaling\)")
            page.close()


def test_region_without_the_fronts_origin_refuses_the_page(browser: Any, tmp_path: Path) -> None:
    port = free_tcp_port()
    with voice_serve() as region:  # no --cors-origin
        regions = write_regions(
            tmp_path / "regions.toml",
            [{"name": "here", "signaling": region.url.rstrip("/")}],
            [],
        )
        with voice_steer(regions, port, "--interval", "2") as steer:
            page = browser.new_page()
            page.goto(f"{steer.url}?raw=1&agent=echo")
            page.evaluate("voice.start()")
            page.wait_for_function("voice.error", timeout=20_000)
            _, health = region.get("/healthz")
            assert json.loads(health)["sessions"] == 0
            page.close()


@pytest.mark.parametrize("nearest", ["live", "silent"])
def test_chromium_falls_back_to_the_second_ingress(
    browser: Any, tmp_path: Path, nearest: str
) -> None:
    """The front names two ingresses; with the nearest silent (a socket that swallows
    everything, as a relay host that stopped forwarding), Chromium connects through the
    second. Prints the set-up timings for both cases."""
    port = free_tcp_port()
    front = f"http://127.0.0.1:{port}"
    udp = free_udp_ports()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        silent = sink.getsockname()[1]
        # The live relay is the nearest or the second; the other one swallows everything.
        first, second = (udp, silent) if nearest == "live" else (silent, udp)
        with voice_serve(
            "--cors-origin",
            front,
            "--udp-port",
            str(udp),
            "--ingress",
            f"near=127.0.0.1:{first}",
            "--ingress",
            f"far=127.0.0.1:{second}",
        ) as region:
            url = region.url.rstrip("/")
            regions = write_regions(
                tmp_path / "regions.toml",
                [
                    {"name": "near", "signaling": url, "ingress": "near"},
                    {"name": "far", "signaling": url, "ingress": "far"},
                ],
                [{"network": "127.0.0.0/8", "regions": ["near", "far"]}],
            )
            with voice_steer(regions, port, "--interval", "2") as steer:
                page = call_through(steer.url, browser)
                timings = page.evaluate("voice.timings")
                print(f"nearest ingress {nearest}: set-up timings (ms):", json.dumps(timings))
                pair = page.evaluate(SELECTED_REMOTE_PORT)
                assert pair == udp
                page.evaluate("voice.hangup()")
                page.close()
