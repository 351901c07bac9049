"""Tests of the ctypes binding to the libopus bundled with PyAV: it is found, it is the same
codec PyAV decodes with, its errors are typed, and a missing or broken library is logged and
reported as None rather than raised."""

from __future__ import annotations

import ctypes.util
import logging
from pathlib import Path

import av
import pytest
from av import CodecContext, Packet

from tests.opus._signals import syllables, tone
from voice.opus import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE, OpusCodecError, OpusEncoder, libopus
from voice.opus.toc import toc_byte


def test_the_library_shipped_with_pyav_is_found_and_loads() -> None:
    path = libopus.find()
    assert path is not None
    assert path.name.startswith("libopus")
    # Beside the `av` package, inside the installed PyAV: nothing downloaded or built.
    assert path.is_relative_to(Path(av.__file__).resolve().parent.parent)
    library = libopus.load()
    assert library is not None
    assert library.path == path
    assert library.version.startswith("libopus 1.")
    assert libopus.load() is library  # loaded once per process


def test_it_decodes_bit_for_bit_like_pyav() -> None:
    """Our ctypes calls and FFmpeg's wrapper drive the same libopus: the same packets give
    the same samples, so switching the decoder changes no audio."""
    library = libopus.load()
    assert library is not None
    ours = library.decoder(SAMPLE_RATE, 1)
    theirs = CodecContext.create("libopus", "r")
    theirs.sample_rate = SAMPLE_RATE
    theirs.format = "s16"
    theirs.layout = "mono"
    encoder = OpusEncoder(fec=True, packet_loss_percent=20)
    for n in range(30):
        packet = encoder.encode(syllables(n))
        (frame,) = theirs.decode(Packet(packet))
        assert frame.samples == FRAME_SAMPLES
        expected = bytes(frame.planes[0])[:FRAME_BYTES]
        assert ours.decode(packet, libopus.MAX_FRAME_SAMPLES) == expected


def test_it_conceals_and_recovers_only_the_duration_asked_for() -> None:
    library = libopus.load()
    assert library is not None
    decoder = library.decoder(SAMPLE_RATE, 1)
    assert decoder.decode(None, FRAME_SAMPLES) == bytes(FRAME_BYTES)  # no history: silence
    encoder = OpusEncoder()
    packets = [encoder.encode(tone(n)) for n in range(3)]
    decoder.decode(packets[0], libopus.MAX_FRAME_SAMPLES)
    assert len(decoder.decode(None, 480)) == 960  # 10 ms
    assert len(decoder.decode(packets[2], FRAME_SAMPLES, fec=True)) == FRAME_BYTES


def test_libopus_errors_are_opus_codec_errors() -> None:
    library = libopus.load()
    assert library is not None
    decoder = library.decoder(SAMPLE_RATE, 1)
    # A code 3 packet that declares no frame (RFC 6716 §3.4 R5): libopus refuses it.
    with pytest.raises(OpusCodecError, match="corrupted"):
        decoder.decode(bytes([toc_byte(31, code=3), 0]), libopus.MAX_FRAME_SAMPLES)
    with pytest.raises(OpusCodecError, match="argument"):
        decoder.decode(None, 100)  # not a multiple of 2.5 ms
    with pytest.raises(OpusCodecError):
        library.decoder(44_100, 1)  # not one of Opus' rates
    with pytest.raises(ValueError):
        decoder.decode(None, libopus.MAX_FRAME_SAMPLES + 1)  # our buffer's size
    assert len(decoder.decode(None, FRAME_SAMPLES)) == FRAME_BYTES  # and it carries on


def test_no_library_beside_pyav_is_logged_and_gives_none(
    fresh_load: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(libopus, "find", lambda: None)
    with caplog.at_level(logging.WARNING, logger="voice.opus.libopus"):
        assert libopus.load() is None
    assert "no libopus found" in caplog.text
    assert "FEC will be concealed" in caplog.text


def test_a_file_that_is_not_libopus_is_logged_and_gives_none(
    fresh_load: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    not_a_library = tmp_path / "libopus-0000.so.0"
    not_a_library.write_bytes(b"\x7fELF but not really")
    # A real shared library, but not libopus: its functions are missing.
    libc = ctypes.util.find_library("c")
    assert libc is not None
    other = Path(libc)
    for path in (not_a_library, other):
        monkeypatch.setattr(libopus, "find", lambda path=path: path)
        libopus.load.cache_clear()
        with caplog.at_level(logging.WARNING, logger="voice.opus.libopus"):
            assert libopus.load() is None
        assert f"cannot use {path}" in caplog.text


def test_the_c_decoder_is_freed_with_its_python_object(monkeypatch: pytest.MonkeyPatch) -> None:
    library = libopus.load()
    assert library is not None
    freed: list[int] = []
    real_destroy = library._lib.opus_decoder_destroy

    def destroy(handle: int) -> None:
        freed.append(handle)
        real_destroy(handle)

    monkeypatch.setattr(library._lib, "opus_decoder_destroy", destroy)
    decoder = library.decoder(SAMPLE_RATE, 1)
    handle = decoder._handle
    del decoder  # CPython frees it at once; the finalizer runs then
    assert freed == [handle]
