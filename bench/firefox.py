"""Call set-up as Firefox sees it: POST → answer → ICE connected → DTLS connected → first
packet back → first audible echo (the page hears its own 1 kHz tone come back), median of
several calls, for ``voice serve`` through the relay and direct, and for the aiortc echo
server as the same-run baseline, from the same demo page in the same Firefox.

``./dev bench firefox [--calls 7]``. The three servers run side by side and the calls are
interleaved (relay, direct, aiortc, relay, ...), so a slow moment of the machine hurts
all three alike. The marks are the page's own clock (``performance.now()`` from just before
the POST); ``echo`` comes from tests/support/firefox.py's :func:`time_call`, which also
warms Firefox's fake microphone up before each call (it is silent for ~1.3 s after a page
first opens it, which would otherwise be measured instead of the server).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
from _common import SETUP_SERVERS, print_setup, setup_pages  # noqa: E402

from tests.support.firefox import (  # noqa: E402
    FAKE_MICROPHONE_HZ,
    MARKS,
    Firefox,
    firefox_with_speaker,
    time_call,
)


def firefox_call(browser: Firefox, page_url: str) -> dict[str, float]:
    """One echo call from a fresh tab: its marks (ms from the POST), then hang up."""
    page = browser.new_page()
    try:
        return time_call(page, page_url, FAKE_MICROPHONE_HZ)
    finally:
        page.evaluate("voice.hangup()")
        page.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="voice bench firefox", description=__doc__)
    parser.add_argument("--calls", type=int, default=7, help="calls per server")
    args = parser.parse_args(argv)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in SETUP_SERVERS}
    with ExitStack() as stack:
        pages = setup_pages(stack, "?raw=1&agent=echo")
        browser = stack.enter_context(firefox_with_speaker())
        for _ in range(args.calls):
            for name, url in pages.items():
                samples[name].append(firefox_call(browser, url))
    print_setup(
        f"# Firefox ESR, medians of {args.calls} calls each, milliseconds from the POST",
        {
            n: [statistics.median(c[m] for c in calls) for m in MARKS]
            for n, calls in samples.items()
        },
        {name: len(calls) for name, calls in samples.items()},
        counted="calls",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
