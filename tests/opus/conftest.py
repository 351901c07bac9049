"""Fixtures of the Opus tests: running the decoder with or without the libopus that PyAV
bundles (:mod:`voice.opus.libopus`), whose loader caches its answer for the process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from voice.opus import libopus


@pytest.fixture
def fresh_load() -> Iterator[None]:
    """Lets a test change what :func:`libopus.find` returns: the loader runs again, during
    the test and after it (with the real finder back)."""
    libopus.load.cache_clear()
    yield
    libopus.load.cache_clear()


@pytest.fixture
def without_bundled_libopus(fresh_load: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on an installation whose PyAV ships no libopus: decoders run on PyAV alone."""
    monkeypatch.setattr(libopus, "find", lambda: None)


@pytest.fixture(params=["libopus", "pyav"])
def decoder_backend(request: pytest.FixtureRequest) -> str:
    """Runs a test with each way :class:`voice.opus.OpusDecoder` can decode: the bundled
    libopus called directly (the normal case), and PyAV alone (the fallback)."""
    if request.param == "pyav":
        request.getfixturevalue("without_bundled_libopus")
    return str(request.param)
