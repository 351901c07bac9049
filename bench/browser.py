"""Call set-up as Chromium sees it: POST → answer → ICE connected → DTLS connected → first
packet → first *audible echo* (the page hears its own microphone tone come back), median of
several calls, for ``voice serve`` (through the relay, and direct) and for the aiortc echo
server as the baseline, from the same demo page in the same browser, the servers' calls
interleaved so that a busy moment of the machine falls on all of them alike.

``./dev bench browser [--calls 7]``. The times are the page's own (``performance.now()``
from just before the POST), read from ``window.voice.timings`` in ``demo.js``. The first
packet says little (``voice`` sends silence from the moment DTLS is up); the first audible
echo is what the caller hears, and the figure compared with aiortc.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
from _common import SETUP_SERVERS, print_setup, setup_pages  # noqa: E402

from tests.support.browser import chromium, write_tone_wav  # noqa: E402

MARKS = ("answer", "ice", "dtls", "firstAudio", "firstEcho")
MIC_HZ = 660


def time_call(browser: Any, page_url: str) -> dict[str, float]:
    """One call from a fresh page: its set-up timings, once the echo is heard."""
    page = browser.new_page()
    try:
        page.goto(page_url)
        page.evaluate("voice.start()")
        page.wait_for_function(
            "voice.timings.firstEcho !== undefined || voice.error", timeout=20_000
        )
        timings: dict[str, float] = page.evaluate("voice.timings")
        error = page.evaluate("voice.error")
        page.evaluate("voice.hangup()")
    finally:
        page.close()
    if error:
        print(f"call to {page_url} failed: {error}", file=sys.stderr)
    return timings


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="voice bench browser", description=__doc__)
    parser.add_argument("--calls", type=int, default=7, help="calls per server")
    args = parser.parse_args(argv)
    samples: dict[str, dict[str, list[float]]] = {n: {m: [] for m in MARKS} for n in SETUP_SERVERS}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        mic = write_tone_wav(Path(tmp) / "tone.wav", MIC_HZ)
        browser = stack.enter_context(chromium(mic))
        pages = setup_pages(stack, f"?raw=1&agent=echo&tone={MIC_HZ}")
        for _ in range(args.calls):
            for name, url in pages.items():
                timings = time_call(browser, url)
                for mark in MARKS:
                    if mark in timings:
                        samples[name][mark].append(float(timings[mark]))
    print_setup(
        f"# Chromium, medians of {args.calls} interleaved calls, milliseconds from the POST",
        {
            name: [statistics.median(got[m]) if got[m] else float("nan") for m in MARKS]
            for name, got in samples.items()
        },
        {name: len(got["firstEcho"]) for name, got in samples.items()},
        counted="calls heard",
        target=" (target: 0.80 or less)",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
