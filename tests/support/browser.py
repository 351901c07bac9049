"""Debian's Chromium driven by Playwright (sync API), with a fake microphone playing a WAV.

Playwright's bundled browsers cannot be downloaded here, so the tests launch
``/usr/bin/chromium`` through ``executable_path``. The flags keep the browser off every
network (it has none in the test namespace anyway), grant the microphone without a prompt,
feed it from a file, and gather loopback candidates (``--allow-loopback-in-peer-connection``)
so a call to a server advertising 127.0.0.1 connects.
"""

from __future__ import annotations

import math
import struct
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.server import RunningServer

CHROMIUM = "/usr/bin/chromium"

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def write_tone_wav(path: Path, frequency: float, seconds: float = 4.0, rate: int = 48_000) -> Path:
    """A mono 16-bit sine; Chromium loops the file as its fake microphone."""
    samples = (
        round(0.5 * 32767 * math.sin(2 * math.pi * frequency * n / rate))
        for n in range(int(seconds * rate))
    )
    return write_wav(path, b"".join(struct.pack("<h", s) for s in samples), rate)


def write_wav(path: Path, pcm: bytes, rate: int = 48_000) -> Path:
    """Writes mono 16-bit little-endian ``pcm`` as a WAV file, the form a fake microphone
    (Chromium's ``--use-file-for-fake-audio-capture``) plays; returns ``path``."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return path


@contextmanager
def chromium(microphone_wav: Path, extra_args: tuple[str, ...] = ()) -> Iterator[Any]:
    """Yields a Playwright Browser running Debian's Chromium with ``microphone_wav`` as mic
    (and ``extra_args`` after the usual flags)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*FLAGS, f"--use-file-for-fake-audio-capture={microphone_wav}", *extra_args],
        )
        try:
            yield browser
        finally:
            browser.close()


def place_call(server: RunningServer, browser: Any, query: str) -> Any:
    """Opens the demo page of ``server`` with ``query`` (``agent=echo``, ...) in a new page
    and starts a call; returns the page once DTLS is connected, failing on a page error."""
    page = browser.new_page()
    page.goto(f"{server.url}?raw=1&{query}")
    page.evaluate("voice.start()")
    page.wait_for_function("voice.dtls === 'connected' || voice.error", timeout=20_000)
    assert page.evaluate("voice.error") is None
    return page
