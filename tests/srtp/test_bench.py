"""The SRTP/RTP benchmark runs end to end (a tiny run: no timing is asserted)."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "srtp.py"


def test_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_srtp_smoke", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--batches", "1", "--batch", "20"]) == 0
    out = capsys.readouterr().out
    assert "AES128_CM_HMAC_SHA1_80" in out
    assert "RTP parse (3 extensions)" in out
    assert "baseline" in out
