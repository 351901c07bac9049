"""The media benchmark runs end to end (a tiny run: no timing is asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "media.py"


def test_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_media_smoke", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = ["--repeat", "1", "--frames", "5", "--sweep", "1", "--srtp-batch", "20"]
    assert module.main(args) == 0
    out = capsys.readouterr().out
    for line in (
        "jitter buffer push + pop",
        "Opus decode",
        "Opus encode",
        "sessions per core",
        "decode_fec",
    ):
        assert line in out
    assert "aiortc" in out
