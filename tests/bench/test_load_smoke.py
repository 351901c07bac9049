"""A small run of the load benchmark, through ``voice bench load`` as the README says, so the
load generator (and the command that starts benchmarks) keeps working.

It asserts that the machinery measures (calls set up, echoes timed, a report written), not
any figure: performance is for ``./dev bench load`` to show, never for a test to assert.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_load_benchmark_smoke(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable, "-m", "voice", "bench", "load",
            "--servers", "voice-relay", "--steps", "3", "--step-seconds", "2.5",
            "--setup-calls", "1", "--no-plot", "--out", str(tmp_path),
        ],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads((tmp_path / "load.json").read_text())
    [step] = report["steps"]
    assert step["server"] == "voice-relay" and step["calls"] == 3
    assert step["ok"] == 3 and step["failed"] == 0
    assert step["rtt_p50"] > 0  # echoes of the probe came back and were timed
    assert report["setup"]["voice-relay"]["samples"]
    assert "calls per core" in out.stdout
