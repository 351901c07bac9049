"""One Chromium call from inside a caller namespace of the world (:mod:`tests.support.world`).

Chromium's sockets must be made in the caller's namespace, so Playwright and the browser run
in a process started there (``ip netns exec NS python -m tests.support.world_browser
--url <page>``). It opens the page, presses Talk, waits until the page hears its own tone
echoed, and prints one JSON line: the session URL, the remote address of the nominated
candidate pair (the ingress the media used) and the page's set-up timings.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.browser import chromium, write_tone_wav

MIC_HZ = 660

NOMINATED_REMOTE = """async () => {
  const stats = await voice.pc.getStats();
  for (const s of stats.values()) {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      const pair = stats.get(s.selectedCandidatePairId);
      const r = stats.get(pair.remoteCandidateId);
      return `${r.address}:${r.port}`;
    }
  }
  return null;
}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="world_browser")
    parser.add_argument("--url", required=True, help="the page (the front's, with ?raw=1...)")
    parser.add_argument(
        "--hold",
        type=float,
        default=0.0,
        help="after the echo is heard, keep the call this many seconds, printing every 100 ms "
        "'state <ice> level <echo level> remote <nominated pair's remote address>'",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wav = write_tone_wav(Path(tmp) / "tone.wav", MIC_HZ)
        # The page is plain http on a namespace address, not loopback: Chromium grants the
        # microphone only to secure contexts, so this origin is declared one.
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(args.url))
        flag = f"--unsafely-treat-insecure-origin-as-secure={origin}"
        with chromium(wav, (flag,)) as browser:
            page = browser.new_page()
            page.goto(args.url)
            page.evaluate("voice.start()")
            page.wait_for_function("voice.dtls === 'connected' || voice.error", timeout=30_000)
            error = page.evaluate("voice.error")
            result: dict[str, object] = {"error": error}
            if error is None:
                page.wait_for_function(
                    f"voice.level() > 0.05 && Math.abs(voice.dominantFrequency() - {MIC_HZ}) < 25",
                    timeout=20_000,
                )
                result["heard"] = True
                result["session"] = page.evaluate("voice.sessionUrl")
                result["remote"] = page.evaluate(NOMINATED_REMOTE)
                result["timings"] = page.evaluate("voice.timings")
                print(json.dumps(result), flush=True)
                deadline = time.monotonic() + args.hold
                while time.monotonic() < deadline:
                    level = page.evaluate("voice.level()")
                    remote = page.evaluate(NOMINATED_REMOTE)
                    ice = page.evaluate("voice.pc.iceConnectionState")
                    print(f"state {ice} level {level:.3f} remote {remote}", flush=True)
                    page.wait_for_timeout(100)
                page.evaluate("voice.hangup()")
            else:
                print(json.dumps(result), flush=True)
            page.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
