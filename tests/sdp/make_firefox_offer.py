"""Writes the offer Firefox posts from the demo page (a one-off, not a test).

Run as root from the worktree, in a network namespace that has only loopback (so the
offer names no address of this machine):

    unshare --net sh -c 'ip link set lo up && exec .venv/bin/python tests/sdp/make_firefox_offer.py'

It starts ``voice serve`` and Debian's headless Firefox ESR (tests/support/firefox.py),
places an echo call from the demo page, and saves the body of the page's POST, byte for
byte, as ``tests/data/firefox-<major>-audio-offer.sdp``: Firefox trickles, so the offer it
posts has no candidates (port 9, ``c=IN IP4 0.0.0.0``), which an ICE-lite server does not
need. Once gathering completes, the same offer with its candidates (loopback, UDP and TCP,
both components, ``a=rtcp``) is saved as ``firefox-<major>-audio-offer-gathered.sdp``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.firefox import firefox_with_speaker  # noqa: E402
from tests.support.server import voice_serve  # noqa: E402

# Keeps a copy of the body of every POST the page makes.
RECORD_POSTS = """(() => {
  const original = window.fetch;
  window.postedBodies = [];
  window.fetch = (url, init) => {
    if (init && init.method === "POST") window.postedBodies.push(init.body);
    return original(url, init);
  };
  return true;
})()"""


def main() -> int:
    with voice_serve() as server, firefox_with_speaker() as browser:
        page = browser.new_page()
        page.goto(f"{server.url}?raw=1&agent=echo")
        page.evaluate(RECORD_POSTS)
        page.evaluate("voice.start()")
        page.wait_for_function("voice.dtls === 'connected' || voice.error", timeout=20_000)
        page.wait_for_function("voice.pc.iceGatheringState === 'complete'", timeout=20_000)
        agent = page.evaluate("navigator.userAgent")
        (offer,) = page.evaluate("window.postedBodies")
        gathered = page.evaluate("voice.pc.localDescription.sdp")
        page.evaluate("voice.hangup()")
    match = re.search(r"Firefox/(\d+)", agent)
    major = match.group(1) if match else "unknown"
    print(agent)
    for suffix, text in (("", offer), ("-gathered", gathered)):
        out = ROOT / "tests" / "data" / f"firefox-{major}-audio-offer{suffix}.sdp"
        out.write_bytes(text.encode())
        print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
