"""A small run of the flood benchmark through ``voice bench flood``, so that the measurement
of issue 11 §3 keeps working. It asserts that the machinery measures (a call, a flood that
was sent and met the budgets), never a figure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_flood_benchmark_smoke() -> None:
    out = subprocess.run(
        [
            sys.executable, "-m", "voice", "bench", "flood",
            "--seconds", "1", "--rate", "2000", "--modes", "direct", "--attacks", "signed",
        ],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| direct")]
    assert len(rows) == 2  # before and after
    assert "tx:rate_limited=" in rows[1]  # with the budgets, the flood met them
