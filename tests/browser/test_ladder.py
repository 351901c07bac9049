"""The demo page draws the call as a ladder, fed live from the server's trace of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_program
from tests.support.browser import CHROMIUM, chromium, write_tone_wav
from tests.support.server import voice_serve

pytestmark = [pytest.mark.browser, pytest.mark.interop, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_program("chromium", CHROMIUM)
    with chromium(write_tone_wav(tmp_path_factory.mktemp("mic") / "tone.wav", 440)) as b:
        yield b


@pytest.mark.parametrize("traced", [False, True], ids=["tracing-off", "tracing-to-file"])
def test_the_ladder_shows_the_check_the_flights_and_the_first_packet_in_order(
    browser: Any, tmp_path: Path, traced: bool
) -> None:
    # Without --trace, watching starts tracing the call; with it, the feed shares the tracer.
    trace = tmp_path / "calls.jsonl"
    with voice_serve(*(["--trace", str(trace)] if traced else [])) as server:
        page = browser.new_page()
        page.goto(f"{server.url}?raw=1&ladder=1&agent=echo")
        page.evaluate("voice.start()")
        page.wait_for_function("voice.dtls === 'connected' || voice.error", timeout=20_000)
        assert page.evaluate("voice.error") is None
        page.wait_for_function(
            "voiceLadder.media.in > 0 && voiceLadder.media.out > 0", timeout=15_000
        )
        rows = page.evaluate("voiceLadder.rows")
        kinds = [row["kind"] for row in rows]
        first = {kind: kinds.index(kind) for kind in ("stun", "dtls", "rtp")}
        # The ladder starts with the browser's first ICE check, then the handshake, then media.
        assert first["stun"] == 0 and first["stun"] < first["dtls"] < first["rtp"]
        assert (rows[0]["dir"], rows[0]["summary"].split(" tid=")[0]) == (
            "in",
            "STUN Binding request",
        )
        dtls = [row for row in rows if row["kind"] == "dtls"]
        assert "client_hello" in dtls[0]["summary"] and dtls[0]["dir"] == "in"
        assert any("server_hello" in r["summary"] and r["dir"] == "out" for r in dtls)
        # Both Finished messages, decrypted with the handshake the server traced.
        assert any("finished" in r["summary"] and r["dir"] == "in" for r in dtls)
        assert any("finished" in r["summary"] and r["dir"] == "out" for r in dtls)
        # One arrow per direction for media, the rest counted; each arrow links its RFC.
        assert sum(1 for k in kinds if k == "rtp") == 2
        links = page.eval_on_selector_all("#ladder a", "links => links.map(a => a.href)")
        assert any("rfc8489#section-" in link for link in links)
        assert any("rfc6347#section-4.1" in link for link in links)
        # ... and the spec/ rows for that section, served by the signaling app: the target
        # page exists and holds the anchor (a row id, or the section listing several rows).
        page.wait_for_selector("#ladder .rung.stun a.spec")
        spec_links = page.eval_on_selector_all("#ladder a.spec", "ls => ls.map(a => a.href)")
        stun_link = page.eval_on_selector("#ladder .rung.stun a.spec", "a => a.href")
        assert "/spec/rfc8489.md#" in stun_link
        for link in {stun_link, *spec_links}:
            target, anchor = link.split("#", 1)
            response = page.request.get(target)
            assert response.status == 200, link
            assert f'id="{anchor}"' in response.text(), link
        # Clicking an arrow shows the decoded message.
        page.click("#ladder .rung.stun")
        shown = page.inner_text("#ladder .rung.stun pre")
        assert "MESSAGE-INTEGRITY" in shown and "verdict: valid" in shown
        page.evaluate("voice.hangup()")
        server.wait_for_log(r"session \S+: ended \(deleted by signaling\)")
        page.close()
    if traced:
        assert trace.read_text().count('"kind":"dtls"') >= 4
