"""Tests of the spec/ traceability checker, on small made-up repositories and on this one."""

from pathlib import Path

import pytest

from tools import spec_check
from tools.spec_check import Report, check

HEADER = (
    "| id | section | level | requirement | code | tests | status |\n"
    "|---|---|---|---|---|---|---|\n"
)


def make_repo(tmp_path: Path, code: str, rows: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "voice").mkdir()
    (tmp_path / "voice" / "mod.py").write_text(code)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_mod.py").write_text("def test_it():\n    pass\n")
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "rfc1234.md").write_text("# RFC 1234\n\n" + HEADER + rows)
    return tmp_path


def check_unindexed(root: Path) -> Report:
    """The checks that do not depend on a section index, on a repository that has none."""
    return check(root, require_index=False)


def test_an_rfc_without_a_section_index_fails(tmp_path: Path) -> None:
    (problem,) = check(make_repo(tmp_path, CODE, GOOD)).problems
    assert "no section index spec/sections/rfc1234.toml" in problem


CODE = "class A:\n    def f(self):\n        pass  # RFC 1234 §2.1\n"
GOOD = (
    "| X-1 | §2.1 | MUST | Do it. | `voice/mod.py::A.f` | `tests/test_mod.py::test_it` | done |\n"
)


def test_a_consistent_repository_passes(tmp_path: Path) -> None:
    report = check_unindexed(make_repo(tmp_path, CODE, GOOD))
    assert report.problems == []
    assert report.citations == 1


def test_citation_without_row_fails(tmp_path: Path) -> None:
    report = check_unindexed(make_repo(tmp_path, CODE + "# RFC 1234 §9.\n", GOOD))
    assert len(report.problems) == 1
    assert "RFC 1234" not in report.problems[0] and "rfc1234 §9 " in report.problems[0]


def test_citation_of_missing_spec_file_fails(tmp_path: Path) -> None:
    report = check_unindexed(make_repo(tmp_path, CODE + "# VOICE-SHIM §3\n", GOOD))
    assert any("spec/voice-shim.md does not exist" in p for p in report.problems)


def test_row_naming_missing_code_or_test_fails(tmp_path: Path) -> None:
    rows = GOOD + (
        "| X-2 | §2.1 | MUST | Other. | `voice/mod.py::A.g` | `tests/test_mod.py::test_nope` "
        "| done |\n"
    )
    report = check_unindexed(make_repo(tmp_path, CODE, rows))
    assert len(report.problems) == 2
    assert "'A.g'" in report.problems[0] and "'test_nope'" in report.problems[1]


def test_done_row_without_test_fails(tmp_path: Path) -> None:
    rows = "| X-1 | §2.1 | MUST | Do it. | `voice/mod.py::A.f` | | done |\n"
    report = check_unindexed(make_repo(tmp_path, CODE, rows))
    assert report.problems and "names no test" in report.problems[0]


def test_partial_needs_a_reason_and_status_must_be_known(tmp_path: Path) -> None:
    rows = GOOD + (
        "| X-2 | §3 | SHOULD | Maybe. | | | partial |\n| X-3 | §4 | MAY | Eh. | | | soon |\n"
    )
    report = check_unindexed(make_repo(tmp_path, CODE, rows))
    assert len(report.problems) == 2
    assert "without saying why" in report.problems[0]
    assert "is not done" in report.problems[1]


def test_citation_of_an_obsoleted_rfc_names_its_successor(tmp_path: Path) -> None:
    report = check_unindexed(make_repo(tmp_path, CODE + "# RFC 8829 §5.3.1\n", GOOD))
    (problem,) = report.problems
    assert "cites rfc8829, which rfc9429 obsoletes: cite rfc9429 §5.3.1" in problem


def test_tests_may_cite_without_rows_but_only_real_sections(tmp_path: Path) -> None:
    root = make_indexed_repo(tmp_path, CODE, GOOD)
    (root / "tests" / "test_cites.py").write_text("# RFC 1234 §3 and RFC 1234 §2\n" * 2)
    assert check(root).problems == []
    (root / "tests" / "test_other.py").write_text("# RFC 1234 §7.7\n")
    (problem,) = check(root).problems
    assert "tests/test_other.py:1: cites rfc1234 §7.7, which is not a section" in problem


def test_duplicate_ids_fail(tmp_path: Path) -> None:
    report = check_unindexed(make_repo(tmp_path, CODE, GOOD + GOOD))
    assert report.problems and "duplicate id" in report.problems[0]


def test_this_repository_passes() -> None:
    report = check(Path(__file__).resolve().parents[2])
    assert report.problems == []


INDEX = """rfc = 1234
title = "A Made-Up Protocol"
implemented = ["2.1"]

[sections]
"1" = "Introduction"
"2" = "Procedures"
"2.1" = "Sending"
"3" = "Receiving"
"A" = "An Appendix"

[normative]
"2.1" = 1

[keywords]
"2.1" = ["MUST", "MAY"]
"3" = ["SHOULD"]
"A" = []
"""


def make_indexed_repo(tmp_path: Path, code: str, rows: str, index: str = INDEX) -> Path:
    root = make_repo(tmp_path, code, rows)
    (root / "spec" / "sections").mkdir()
    (root / "spec" / "sections" / "rfc1234.toml").write_text(index)
    return root


def test_an_indexed_repository_passes_and_counts_coverage(tmp_path: Path) -> None:
    report = check(make_indexed_repo(tmp_path, CODE, GOOD))
    assert report.problems == []
    assert report.indexes["rfc1234"].sections["2.1"] == "Sending"
    (cov,) = report.coverage
    assert (cov.spec, cov.sections, cov.statements, cov.accounted) == ("rfc1234", 1, 1, 1)


def test_citation_of_a_section_the_rfc_lacks_fails(tmp_path: Path) -> None:
    rows = GOOD + "| X-2 | §9 | MUST | Nope. | | | not implemented: later |\n"
    report = check(make_indexed_repo(tmp_path, CODE + "# RFC 1234 §9\n", rows))
    cited = "voice/mod.py:4: cites rfc1234 §9, which is not a section"
    assert any(cited in p for p in report.problems)
    assert any("row X-2: §9 is not a section of rfc1234" in p for p in report.problems)


def test_level_the_section_does_not_use_fails(tmp_path: Path) -> None:
    rows = GOOD + "| X-2 | §3 | MUST | Upgraded. | | | not implemented: later |\n"
    report = check(make_indexed_repo(tmp_path, CODE, rows))
    assert len(report.problems) == 1
    assert "row X-2: level MUST but §3 uses SHOULD" in report.problems[0]


def test_level_may_match_any_of_the_rows_sections(tmp_path: Path) -> None:
    rows = GOOD + "| X-2 | §2.1, §3 | SHOULD | Either. | | | not implemented: later |\n"
    assert check(make_indexed_repo(tmp_path, CODE, rows)).problems == []


def test_section_without_keywords_entry_fails(tmp_path: Path) -> None:
    rows = GOOD + "| X-2 | §1 | MUST | Intro. | | | not implemented: later |\n"
    report = check(make_indexed_repo(tmp_path, CODE, rows))
    assert len(report.problems) == 1
    assert "no [keywords] entry for §1" in report.problems[0]


def test_rule_beyond_the_rfc_uses_a_dash_and_says_so(tmp_path: Path) -> None:
    ok = GOOD + "| X-2 | §A | — | Ours, beyond the RFC. | | | not implemented: later |\n"
    assert check(make_indexed_repo(tmp_path, CODE, ok)).problems == []
    plain = GOOD + "| X-2 | §A | — | Said with no keyword. | | | not implemented: later |\n"
    assert check(make_indexed_repo(tmp_path / "p", CODE, plain)).problems == []
    bad = GOOD + "| X-2 | §A | — | Ours. | | | not implemented: later |\n"
    (problem,) = check(make_indexed_repo(tmp_path / "b", CODE, bad)).problems
    assert "'no keyword'" in problem and "'beyond the RFC'" in problem
    invented = GOOD + "| X-2 | §A | MUST | Invented. | | | not implemented: later |\n"
    (problem,) = check(make_indexed_repo(tmp_path / "c", CODE, invented)).problems
    assert "level MUST but §A uses no keyword" in problem


def test_not_applicable_is_a_status_and_needs_a_reason(tmp_path: Path) -> None:
    rows = GOOD + (
        "| X-2 | §3 | SHOULD | Full only. | | | not applicable: we are lite |\n"
        "| X-3 | §3 | SHOULD | Full only. | | | not applicable |\n"
    )
    report = check(make_indexed_repo(tmp_path, CODE, rows))
    assert len(report.problems) == 1
    assert "X-3 is not applicable without saying why" in report.problems[0]


def test_implemented_section_with_unaccounted_statements_fails(tmp_path: Path) -> None:
    index = INDEX.replace('"2.1" = 1', '"2.1" = 3')
    rows = GOOD + "| X-2 | §2.1 | MAY | Optional. | | | not implemented: later |\n"
    report = check(make_indexed_repo(tmp_path, CODE, rows, index))
    (problem,) = report.problems
    assert "§2.1 Sending is implemented and has 3 normative statement(s) but only 1" in problem
    assert report.coverage[0].accounted == 1 and report.coverage[0].statements == 3


def test_rows_beyond_a_sections_count_do_not_inflate_coverage(tmp_path: Path) -> None:
    rows = GOOD + "| X-2 | §2.1 | MUST | Again. | | | not implemented: later |\n"
    report = check(make_indexed_repo(tmp_path, CODE, rows))
    assert report.problems == []
    assert (report.coverage[0].statements, report.coverage[0].accounted) == (1, 1)


def test_malformed_index_fails(tmp_path: Path) -> None:
    index = INDEX.replace('implemented = ["2.1"]', 'implemented = ["2.1", "7"]')
    index = index.replace('"3" = ["SHOULD"]', '"3" = ["MUSTN\'T"]')
    report = check(make_indexed_repo(tmp_path, CODE, GOOD, index))
    assert any("implemented names §7, which [sections] lacks" in p for p in report.problems)
    assert any("[keywords] '3' must list BCP 14 keywords" in p for p in report.problems)
    wrong_number = INDEX.replace("rfc = 1234", "rfc = 4321")
    report = check(make_indexed_repo(tmp_path / "b", CODE, GOOD, wrong_number))
    assert any("does not match the file name" in p for p in report.problems)


def test_unindexed_rfc_is_listed_or_fails_when_required(tmp_path: Path) -> None:
    root = make_repo(tmp_path, CODE, GOOD)
    report = check(root, require_index=False)
    assert report.problems == [] and report.unindexed == ["rfc1234"]
    (problem,) = check(root, require_index=True).problems
    assert "no section index spec/sections/rfc1234.toml" in problem


def test_every_rfc_needs_an_index_by_default() -> None:
    assert spec_check.REQUIRE_INDEX


def test_own_spec_sections_come_from_its_headings(tmp_path: Path) -> None:
    root = make_repo(tmp_path, "x = 1  # VOICE-SHIM §3\ny = 2  # VOICE-SHIM §4\n", "")
    (root / "spec" / "rfc1234.md").unlink()
    (root / "spec" / "voice-shim.md").write_text(
        "# VOICE-SHIM\n\n## 3. Header format\n\n"
        + HEADER
        + "| S-1 | §3 | MUST | Header. | `voice/mod.py::x` | `tests/test_mod.py::test_it` "
        + "| done |\n| S-2 | §4 | MUST | Gone. | `voice/mod.py::y` | `tests/test_mod.py::test_it` "
        + "| done |\n"
    )
    report = check(root)
    assert report.indexes["voice-shim"].sections == {"3": "Header format"}
    assert any("row S-2: §4 is not a section of voice-shim" in p for p in report.problems)
    assert any("cites voice-shim §4, which is not a section" in p for p in report.problems)


def test_report_prints_titles_and_the_coverage_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_indexed_repo(tmp_path, CODE, GOOD)
    assert spec_check.main(["spec_check", str(root)]) == 0
    out = capsys.readouterr().out
    assert "X-1        MUST        §2.1 Sending" in out
    assert spec_check.main(["spec_check", "--markdown", str(root)]) == 0
    table = capsys.readouterr().out
    assert "| 1234 | 1 | 1 | 1 | 1 | 0 | 0 | 0 |" in table


def test_a_shown_coverage_table_must_be_current(tmp_path: Path) -> None:
    root = make_indexed_repo(tmp_path, CODE, GOOD)
    stale = f"# Doc\n\n{spec_check.TABLE_MARKER}\n| old | table |\n|---|---|\n\nAfter.\n"
    (root / "README.md").write_text(stale)
    report = check(root)
    spec_check.check_tables(root, report)
    assert report.problems == [
        "README.md: the coverage table is stale (python tools/spec_check.py --write-tables)"
    ]
    report = check(root)
    spec_check.check_tables(root, report, write=True)
    assert report.problems == []
    text = (root / "README.md").read_text()
    assert spec_check.coverage_markdown(report) + "\n\nAfter.\n" in text
    report = check(root)
    spec_check.check_tables(root, report)
    assert report.problems == []
