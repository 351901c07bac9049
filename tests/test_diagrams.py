"""docs/diagrams.md is drawn from the code's transition tables and must be current."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_program

ROOT = Path(__file__).resolve().parent.parent


def load_tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("diagrams", ROOT / "tools" / "diagrams.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_diagrams_are_current() -> None:
    assert load_tool().main(["--check"]) == 0, "run: python tools/diagrams.py"


def test_every_transition_of_the_tables_is_drawn() -> None:
    from voice.dtls.state import TRANSITIONS as DTLS
    from voice.ice.lite import TRANSITIONS as ICE
    from voice.peer.connection import TRANSITIONS as PEER

    text = (ROOT / "docs" / "diagrams.md").read_text()
    for phase, ice_moves in ICE.items():
        for why, target in ice_moves.items():
            assert f"{phase.name} --> {target.name} : {why}" in text
    for state, moves in PEER.items():
        for why, target in moves.items():
            assert f"{state.name} --> {target.name} : {why}" in text
    for state, messages in DTLS.items():
        for message, targets in messages.items():
            label = message if isinstance(message, str) else message.name
            for target in targets:
                assert f"{state.name} --> {target.name} : {label}" in text


def test_graphviz_renders_the_tables() -> None:
    dot = require_program("dot")
    source = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "diagrams.py"), "--dot"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    svg = subprocess.run([dot, "-Tsvg"], input=source, capture_output=True, text=True, check=True)
    assert svg.stdout.count("<svg") == 4
