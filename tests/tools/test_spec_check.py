"""Tests of the spec/ traceability checker, on small made-up repositories and on this one."""

from pathlib import Path

from tools.spec_check import check

HEADER = (
    "| id | section | level | requirement | code | tests | status |\n"
    "|---|---|---|---|---|---|---|\n"
)


def make_repo(tmp_path: Path, code: str, rows: str) -> Path:
    (tmp_path / "voice").mkdir()
    (tmp_path / "voice" / "mod.py").write_text(code)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_mod.py").write_text("def test_it():\n    pass\n")
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "rfc1234.md").write_text("# RFC 1234\n\n" + HEADER + rows)
    return tmp_path


CODE = "class A:\n    def f(self):\n        pass  # RFC 1234 §2.1\n"
GOOD = (
    "| X-1 | §2.1 | MUST | Do it. | `voice/mod.py::A.f` | `tests/test_mod.py::test_it` | done |\n"
)


def test_a_consistent_repository_passes(tmp_path: Path) -> None:
    report = check(make_repo(tmp_path, CODE, GOOD))
    assert report.problems == []
    assert report.citations == 1


def test_citation_without_row_fails(tmp_path: Path) -> None:
    report = check(make_repo(tmp_path, CODE + "# RFC 1234 §9.\n", GOOD))
    assert len(report.problems) == 1
    assert "RFC 1234" not in report.problems[0] and "rfc1234 §9 " in report.problems[0]


def test_citation_of_missing_spec_file_fails(tmp_path: Path) -> None:
    report = check(make_repo(tmp_path, CODE + "# VOICE-SHIM §3\n", GOOD))
    assert any("spec/voice-shim.md does not exist" in p for p in report.problems)


def test_row_naming_missing_code_or_test_fails(tmp_path: Path) -> None:
    rows = GOOD + (
        "| X-2 | §2.1 | MUST | Other. | `voice/mod.py::A.g` | `tests/test_mod.py::test_nope` "
        "| done |\n"
    )
    report = check(make_repo(tmp_path, CODE, rows))
    assert len(report.problems) == 2
    assert "'A.g'" in report.problems[0] and "'test_nope'" in report.problems[1]


def test_done_row_without_test_fails(tmp_path: Path) -> None:
    rows = "| X-1 | §2.1 | MUST | Do it. | `voice/mod.py::A.f` | | done |\n"
    report = check(make_repo(tmp_path, CODE, rows))
    assert report.problems and "names no test" in report.problems[0]


def test_partial_needs_a_reason_and_status_must_be_known(tmp_path: Path) -> None:
    rows = GOOD + (
        "| X-2 | §3 | SHOULD | Maybe. | | | partial |\n| X-3 | §4 | MAY | Eh. | | | soon |\n"
    )
    report = check(make_repo(tmp_path, CODE, rows))
    assert len(report.problems) == 2
    assert "without saying why" in report.problems[0]
    assert "is not done" in report.problems[1]


def test_duplicate_ids_fail(tmp_path: Path) -> None:
    report = check(make_repo(tmp_path, CODE, GOOD + GOOD))
    assert report.problems and "duplicate id" in report.problems[0]


def test_this_repository_passes() -> None:
    report = check(Path(__file__).resolve().parents[2])
    assert report.problems == []
