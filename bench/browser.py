"""Call set-up as Chromium sees it: POST → answer → ICE connected → DTLS connected → first
audio back, median of several calls, for ``voice serve`` (through the relay, and direct) and
for the aiortc echo server as the baseline, from the same demo page in the same browser.

``./dev bench browser [--calls 7]``. The times are the page's own (``performance.now()``
from just before the POST), read from ``window.voice.timings`` in ``demo.js``.
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
from _common import print_table  # noqa: E402

from tests.support.browser import chromium, write_tone_wav  # noqa: E402

URL = re.compile(r"(?:open|listening on) (http://\S+)")
MARKS = ("answer", "ice", "dtls", "firstAudio")


@contextmanager
def process(argv: list[str]) -> Iterator[str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if m := URL.search(line):
                yield m.group(1)
                break
        else:
            raise RuntimeError(f"{argv} exited before printing its URL")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def time_calls(browser: Any, page_url: str, calls: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {mark: [] for mark in MARKS}
    for _ in range(calls):
        page = browser.new_page()
        page.goto(page_url)
        page.evaluate("voice.start()")
        page.wait_for_function(
            "voice.timings.firstAudio !== undefined || voice.error", timeout=20_000
        )
        timings = page.evaluate("voice.timings")
        page.evaluate("voice.hangup()")
        page.close()
        for mark in MARKS:
            if mark in timings:
                samples[mark].append(float(timings[mark]))
    return samples


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="voice bench browser", description=__doc__)
    parser.add_argument("--calls", type=int, default=7, help="calls per server")
    args = parser.parse_args(argv)
    voice = [sys.executable, "-m", "voice", "serve", "--http-port", "0", "--log-level", "error"]
    rows: list[list[object]] = []
    first: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        mic = write_tone_wav(Path(tmp) / "tone.wav", 660)
        with chromium(mic) as browser:
            with process(voice) as url:
                relay = time_calls(browser, f"{url}?raw=1&agent=echo", args.calls)
            with process([*voice, "--direct"]) as url:
                direct = time_calls(browser, f"{url}?raw=1&agent=echo", args.calls)
                aiortc_argv = [
                    sys.executable,
                    str(ROOT / "bench" / "aiortc_server.py"),
                    "--port",
                    "0",
                ]
                with process(aiortc_argv) as baseline:
                    whip = f"{baseline}v1/sessions"
                    aiortc = time_calls(browser, f"{url}?raw=1&agent=echo&whip={whip}", args.calls)
    for name, samples in (("voice (relay)", relay), ("voice (direct)", direct), ("aiortc", aiortc)):
        medians = [statistics.median(samples[m]) if samples[m] else float("nan") for m in MARKS]
        first[name] = medians[-1]
        rows.append([name, *medians, len(samples["firstAudio"])])
    print(f"# Chromium, medians of {args.calls} calls, milliseconds from the POST")
    print_table(
        ["server", "answer", "ICE connected", "DTLS connected", "first audio", "calls"], rows
    )
    print(
        f"first audio, aiortc / voice (relay): {first['aiortc'] / first['voice (relay)']:.2f}; "
        f"aiortc / voice (direct): {first['aiortc'] / first['voice (direct)']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
