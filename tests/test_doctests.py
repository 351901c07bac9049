"""Every example a reader can copy runs: the ``>>>`` lines in voice/'s docstrings and in docs/.

The walkthrough in ``docs/walkthrough.md`` is a whole call through every layer; if a layer's
API changes, this is where the tutorial finds out.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import voice

ROOT = Path(__file__).resolve().parent.parent
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def voice_modules() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.walk_packages(voice.__path__, "voice.")
        if m.name != "voice.__main__"
    )


def test_docstring_examples_in_voice_run() -> None:
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    examples = 0
    for name in voice_modules():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            examples += len(test.examples)
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0
    assert examples > 0  # the STUN repr at least: a finder that finds nothing is a bug here


@pytest.mark.parametrize("path", sorted((ROOT / "docs").glob("*.md")), ids=lambda p: p.name)
def test_docs_run(path: Path) -> None:
    result = doctest.testfile(str(path), module_relative=False, optionflags=FLAGS)
    assert result.failed == 0
