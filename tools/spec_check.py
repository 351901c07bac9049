"""The spec/ traceability checker: every RFC citation in code resolves to a requirement row,
and every row points at code and tests that exist.

Run it as ``python tools/spec_check.py [root]``; the test command runs it on every change.
It fails (exit status 1) when:

* code under ``voice/`` cites ``RFC <n> §<s>`` (or one of our own specs, ``VOICE-<NAME> §<s>``)
  and ``spec/rfc<n>.md`` (``spec/voice-<name>.md``) has no row for section ``§<s>``;
* a row names code (``path.py::Qualified.name``) or a test (``tests/...py::test_name``) that
  does not exist: the file is missing, or no class, function or assignment has that name;
* a ``done`` row names no test or no code;
* a row's status is not one of ``done``, ``partial: <why>``, ``not implemented: <why>``;
* two rows of one file share an id.

It prints, per spec file, how many rows are done out of the total. The format of the spec
files is explained in ``spec/README.md``. The checker reads source with :mod:`ast` and never
imports project code, so it cannot be fooled (or broken) by import-time side effects.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: A citation in code: ``RFC 8489 §14.7`` or ``VOICE-SHIM §3.1``.
CITATION = re.compile(r"\b(?:RFC ?(\d{3,5})|VOICE-([A-Z][A-Z0-9]*)) §([0-9A-Za-z][0-9A-Za-z.\-]*)")
SECTION = re.compile(r"§([0-9A-Za-z][0-9A-Za-z.\-]*)")
BACKTICKED = re.compile(r"`([^`]+)`")
COLUMNS = ("id", "section", "level", "requirement", "code", "tests", "status")
LEVELS = {"MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY", "REQUIRED", "RECOMMENDED"}
STATUS = re.compile(r"^(done|partial|not implemented)\b\s*[:—-]?\s*(.*)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Row:
    spec: str  # file stem, e.g. "rfc8489"
    line: int
    id: str
    sections: tuple[str, ...]
    level: str
    code: tuple[str, ...]
    tests: tuple[str, ...]
    status: str
    reason: str


@dataclass(slots=True)
class Report:
    problems: list[str] = field(default_factory=list)
    rows: dict[str, list[Row]] = field(default_factory=dict)
    citations: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _clean_section(raw: str) -> str:
    # A citation at the end of a sentence ("... RFC 8489 §14.7.") keeps its full stop out.
    return raw.rstrip(".-")


def spec_name(rfc: str | None, own: str | None) -> str:
    return f"rfc{rfc}" if rfc else f"voice-{(own or '').lower()}"


def parse_spec_file(path: Path, report: Report) -> list[Row]:
    """Reads every requirement table of one spec file."""
    rows: list[Row] = []
    header: list[str] | None = None
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            if tuple(header) != COLUMNS:
                report.problems.append(
                    f"{path}:{lineno}: table header must be | {' | '.join(COLUMNS)} |"
                )
                header = []  # skip the rest of this table
            continue
        if not header or set(line.replace("|", "").strip()) <= {"-", ":", " "}:
            continue
        if len(cells) != len(COLUMNS):
            report.problems.append(f"{path}:{lineno}: expected {len(COLUMNS)} cells")
            continue
        rid, section, level, _text, code, tests, status = cells
        m = STATUS.match(status)
        if m is None:
            report.problems.append(
                f"{path}:{lineno}: status {status!r} is not done / partial: why / "
                "not implemented: why"
            )
            continue
        kind, reason = m.group(1).lower(), m.group(2).strip()
        sections = tuple(_clean_section(s) for s in SECTION.findall(section))
        if not sections:
            report.problems.append(f"{path}:{lineno}: row {rid} names no §section")
        if level.upper() not in LEVELS:
            report.problems.append(f"{path}:{lineno}: row {rid} level {level!r} not in {LEVELS}")
        if kind != "done" and not reason:
            report.problems.append(f"{path}:{lineno}: row {rid} is {kind} without saying why")
        rows.append(
            Row(
                spec=path.stem,
                line=lineno,
                id=rid,
                sections=sections,
                level=level,
                code=tuple(BACKTICKED.findall(code)),
                tests=tuple(BACKTICKED.findall(tests)),
                status=kind,
                reason=reason,
            )
        )
    return rows


_DEFINITIONS: dict[Path, ast.Module] = {}


def _tree(path: Path) -> ast.Module:
    if path not in _DEFINITIONS:
        _DEFINITIONS[path] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return _DEFINITIONS[path]


def _names_in(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    names: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return names


def resolve(root: Path, ref: str) -> str | None:
    """Checks that ``path.py::A.b`` (or ``path.py::A::b``) names something; returns a problem."""
    path_part, _, qual = ref.partition("::")
    path = root / path_part
    if not path.is_file():
        return f"no file {path_part}"
    if not qual:
        return None
    qual = re.sub(r"\[.*\]$", "", qual)  # a parametrized test id names the same function
    try:
        tree = _tree(path)
    except SyntaxError as exc:
        return f"{path_part} does not parse: {exc}"
    body: list[ast.stmt] = tree.body
    for part in re.split(r"::|\.", qual):
        node = _names_in(body).get(part)
        if node is None:
            return f"{path_part} defines no {qual!r}"
        body = node.body if isinstance(node, ast.ClassDef) else []
    return None


def find_citations(root: Path) -> dict[tuple[str, str], list[str]]:
    """Maps (spec name, section) to the places in ``voice/`` that cite it."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted((root / "voice").rglob("*.py")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for rfc, own, section in CITATION.findall(line):
                key = (spec_name(rfc or None, own or None), _clean_section(section))
                found.setdefault(key, []).append(f"{path.relative_to(root)}:{lineno}")
    return found


def check(root: Path) -> Report:
    report = Report()
    spec_dir = root / "spec"
    for path in sorted(spec_dir.glob("*.md")):
        if path.stem.lower() == "readme":
            continue
        rows = parse_spec_file(path, report)
        report.rows[path.stem] = rows
        seen: set[str] = set()
        for row in rows:
            where = f"{path.relative_to(root)}:{row.line}: row {row.id}"
            if row.id in seen:
                report.problems.append(f"{where}: duplicate id")
            seen.add(row.id)
            if row.status == "done" and not row.tests:
                report.problems.append(f"{where}: done but names no test")
            if row.status == "done" and not row.code:
                report.problems.append(f"{where}: done but names no code")
            for ref in row.code + row.tests:
                problem = resolve(root, ref)
                if problem:
                    report.problems.append(f"{where}: {problem}")
            for ref in row.tests:
                if not ref.startswith("tests/"):
                    report.problems.append(f"{where}: test {ref!r} is not under tests/")

    citations = find_citations(root)
    report.citations = len(citations)
    for (spec, section), places in sorted(citations.items()):
        spec_rows = report.rows.get(spec)
        if spec_rows is None:
            report.problems.append(f"{places[0]}: cites {spec} but spec/{spec}.md does not exist")
        elif not any(section in row.sections for row in spec_rows):
            report.problems.append(
                f"{places[0]}: cites {spec} §{section} but spec/{spec}.md has no row for it"
                + (f" (also cited at {len(places) - 1} other places)" if len(places) > 1 else "")
            )
    return report


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    report = check(root)
    print(f"{'spec':<14} {'done':>5} {'partial':>8} {'not impl':>9} {'rows':>5}")
    for spec, rows in sorted(report.rows.items()):
        done = sum(r.status == "done" for r in rows)
        partial = sum(r.status == "partial" for r in rows)
        missing = sum(r.status == "not implemented" for r in rows)
        print(f"{spec:<14} {done:>5} {partial:>8} {missing:>9} {len(rows):>5}")
    print(f"{report.citations} distinct citations in voice/")
    for problem in report.problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    if report.problems:
        print(f"spec check failed: {len(report.problems)} problem(s)", file=sys.stderr)
        return 1
    print("spec check passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
