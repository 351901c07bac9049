"""The spec/ traceability checker: every RFC citation in code resolves to a requirement row,
every row points at code and tests that exist, and every section a row or a citation names
exists in the specification and carries the level the row claims.

Run it as ``python tools/spec_check.py [--markdown | --write-tables] [root]``; the test
command runs it on every change. It fails (exit status 1) when:

* code under ``voice/`` cites ``RFC <n> §<s>`` (or one of our own specs, ``VOICE-<NAME> §<s>``)
  and ``spec/rfc<n>.md`` (``spec/voice-<name>.md``) has no row for section ``§<s>``;
* anything under ``voice/``, ``tests/`` or ``bench/`` cites a section the specification
  does not have, or an RFC that a newer one obsoletes;
* a citation or a row names a section that the specification does not have: for an RFC,
  a section absent from ``[sections]`` of ``spec/sections/rfc<n>.toml`` (its table of
  contents); for one of our own specs, a section with no ``## <n>.`` heading in its file;
* a row's level is not one of the BCP 14 keywords (``[keywords]`` of the index) that its
  sections use, or a section a row names has no ``[keywords]`` entry; a statement the RFC
  makes without a keyword has level ``—`` and says "no keyword", a rule of our own beyond
  the RFC has level ``—`` and says "beyond the RFC";
* an implemented section (``implemented`` in the index) has fewer rows with a counted level
  than ``[normative]`` records statements for it (every statement must be accounted for);
* a row names code (``path.py::Qualified.name``) or a test (``tests/...py::test_name``) that
  does not exist: the file is missing, or no class, function or assignment has that name;
* a ``done`` row names no test or no code;
* a row's status is not one of ``done``, ``partial: <why>``, ``not implemented: <why>``,
  ``not applicable: <why>``;
* two rows of one file share an id;
* an index file is malformed, or (with :data:`REQUIRE_INDEX`) an RFC in spec/ has none.

It prints every row with its sections' titles (``ICE-1 §7.2.4 Sending the Request``), so a
citation of the wrong section is visible to whoever reads the report, then per spec file
how many rows are done, and per indexed RFC the normative coverage of the sections we
implement. ``--markdown`` prints that coverage as the table README.md and spec/README.md
show after :data:`TABLE_MARKER`; the check fails when a shown table is stale, and
``--write-tables`` rewrites them. The format
of the spec files and of the index is explained in ``spec/README.md``. The checker reads
source with :mod:`ast` and never imports project code, so it cannot be fooled (or broken)
by import-time side effects.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

#: When True, every ``spec/rfc<n>.md`` must have ``spec/sections/rfc<n>.toml``; when False,
#: an RFC without one is reported as "not yet indexed" and its sections go unchecked.
REQUIRE_INDEX = True

#: RFCs that newer ones obsolete, with their successor: cite the current one.
OBSOLETED = {"rfc8829": "rfc9429", "rfc8843": "rfc9143", "rfc5389": "rfc8489", "rfc5245": "rfc8445"}

#: A citation in code: ``RFC 8489 §14.7`` or ``VOICE-SHIM §3.1``.
CITATION = re.compile(r"\b(?:RFC ?(\d{3,5})|VOICE-([A-Z][A-Z0-9]*)) §([0-9A-Za-z][0-9A-Za-z.\-]*)")
SECTION = re.compile(r"§([0-9A-Za-z][0-9A-Za-z.\-]*)")
BACKTICKED = re.compile(r"`([^`]+)`")
#: A numbered heading of one of our own specifications: ``## 3. Header format``.
OWN_HEADING = re.compile(r"^#{2,4} ((?:\d+|[A-Z])(?:\.\d+)*)\.? +(.+?)\s*$")
COLUMNS = ("id", "section", "level", "requirement", "code", "tests", "status")
#: The BCP 14 keywords, strongest first (the order a section's index lists them in).
KEYWORD_ORDER = (
    "MUST",
    "MUST NOT",
    "REQUIRED",
    "SHALL",
    "SHALL NOT",
    "SHOULD",
    "SHOULD NOT",
    "RECOMMENDED",
    "NOT RECOMMENDED",
    "MAY",
    "OPTIONAL",
)
KEYWORDS = frozenset(KEYWORD_ORDER)
#: The keywords whose statements the coverage counts (MAY and OPTIONAL are not).
COUNTED = KEYWORDS - {"MAY", "OPTIONAL"}
#: The level of a rule of our own beyond the RFC: no keyword of the RFC backs it.
BEYOND = "—"
LEVELS = KEYWORDS | {BEYOND}
#: What a row of level ``—`` says of itself: the RFC states it without a BCP 14 keyword, or
#: the rule is ours and goes beyond the RFC.
BEYOND_PHRASES = ("no keyword", "beyond the rfc")
STATUS = re.compile(
    r"^(done|partial|not implemented|not applicable)\b\s*[:—-]?\s*(.*)$", re.IGNORECASE
)
STATUS_FORMS = "done / partial: why / not implemented: why / not applicable: why"


@dataclass(frozen=True, slots=True)
class Row:
    spec: str  # file stem, e.g. "rfc8489"
    line: int
    id: str
    sections: tuple[str, ...]
    level: str
    requirement: str
    code: tuple[str, ...]
    tests: tuple[str, ...]
    status: str
    reason: str


@dataclass(slots=True)
class Index:
    """What ``spec/sections/<spec>.toml`` records of one specification (no prose)."""

    title: str
    sections: dict[str, str]
    implemented: tuple[str, ...] = ()
    normative: dict[str, int] = field(default_factory=dict)
    keywords: dict[str, frozenset[str]] = field(default_factory=dict)
    own: bool = False  # one of our own specs: its sections come from its headings


@dataclass(frozen=True, slots=True)
class Coverage:
    """Normative statements of one RFC's implemented sections and the rows for them."""

    spec: str
    sections: int
    statements: int
    accounted: int
    short: tuple[tuple[str, int, int], ...]  # (section, statements, rows) that fall short


@dataclass(slots=True)
class Report:
    problems: list[str] = field(default_factory=list)
    rows: dict[str, list[Row]] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    unindexed: list[str] = field(default_factory=list)
    coverage: list[Coverage] = field(default_factory=list)
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
        rid, section, level, text, code, tests, status = cells
        m = STATUS.match(status)
        if m is None:
            report.problems.append(
                f"{path}:{lineno}: row {rid}: status {status!r} is not {STATUS_FORMS}"
            )
            continue
        kind, reason = m.group(1).lower(), m.group(2).strip()
        sections = tuple(_clean_section(s) for s in SECTION.findall(section))
        if not sections:
            report.problems.append(f"{path}:{lineno}: row {rid} names no §section")
        level = level.upper() if level != BEYOND else level
        if level not in LEVELS:
            report.problems.append(
                f"{path}:{lineno}: row {rid}: level {level!r} is not a BCP 14 keyword "
                f"({', '.join(sorted(KEYWORDS))}) nor {BEYOND} (a rule beyond the RFC)"
            )
        if level == BEYOND and not any(p in text.lower() for p in BEYOND_PHRASES):
            report.problems.append(
                f"{path}:{lineno}: row {rid}: level {BEYOND} but the requirement says neither "
                "'no keyword' (the RFC states it without one) nor 'beyond the RFC' (our rule)"
            )
        if kind != "done" and not reason:
            report.problems.append(f"{path}:{lineno}: row {rid} is {kind} without saying why")
        rows.append(
            Row(
                spec=path.stem,
                line=lineno,
                id=rid,
                sections=sections,
                level=level,
                requirement=text,
                code=tuple(BACKTICKED.findall(code)),
                tests=tuple(BACKTICKED.findall(tests)),
                status=kind,
                reason=reason,
            )
        )
    return rows


def load_index(path: Path, problems: list[str]) -> Index | None:
    """Reads and validates one ``spec/sections/rfc<n>.toml``; records what is wrong in it."""
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{where}: not valid TOML: {exc}")
        return None
    before = len(problems)
    number = path.stem.removeprefix("rfc")
    if not number.isdigit() or data.get("rfc") != int(number):
        problems.append(f"{where}: rfc = {data.get('rfc')!r} does not match the file name")
    title = data.get("title")
    if not isinstance(title, str) or not title:
        problems.append(f"{where}: needs a title")
        title = ""
    raw_sections = data.get("sections")
    if not isinstance(raw_sections, dict) or not raw_sections:
        problems.append(f"{where}: needs a [sections] table (the table of contents)")
        return None
    sections = {str(k): str(v) for k, v in raw_sections.items()}
    implemented = data.get("implemented", [])
    if not isinstance(implemented, list) or not all(isinstance(s, str) for s in implemented):
        problems.append(f"{where}: implemented must be a list of section numbers as strings")
        implemented = []
    normative: dict[str, int] = {}
    for key, value in dict(data.get("normative", {})).items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append(f"{where}: [normative] {key!r} must be a count (integer >= 0)")
        else:
            normative[str(key)] = value
    keywords: dict[str, frozenset[str]] = {}
    for key, value in dict(data.get("keywords", {})).items():
        if not isinstance(value, list) or not set(value) <= KEYWORDS:
            problems.append(f"{where}: [keywords] {key!r} must list BCP 14 keywords, got {value!r}")
        else:
            keywords[str(key)] = frozenset(value)
    for table, keys in (
        ("implemented", list(implemented)),
        ("[normative]", list(normative)),
        ("[keywords]", list(keywords)),
    ):
        for key in keys:
            if key not in sections:
                problems.append(f"{where}: {table} names §{key}, which [sections] lacks")
    for key in implemented:
        if key not in normative:
            problems.append(
                f"{where}: implemented §{key} has no [normative] count of its statements"
            )
        if key not in keywords:
            problems.append(f"{where}: implemented §{key} has no [keywords] entry")
    if len(problems) > before:
        return None
    return Index(title, sections, tuple(implemented), normative, keywords)


def own_index(path: Path) -> Index:
    """The sections of one of our own specifications, from its numbered headings."""
    sections: dict[str, str] = {}
    title = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# ") and not title:
            title = line[2:].strip()
        m = OWN_HEADING.match(line)
        if m:
            sections[m.group(1)] = m.group(2)
    return Index(title, sections, own=True)


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


def find_citations(root: Path, where: str = "voice") -> dict[tuple[str, str], list[str]]:
    """Maps (spec name, section) to the places under ``where`` (a folder) that cite it."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted((root / where).rglob("*.py")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for rfc, own, section in CITATION.findall(line):
                key = (spec_name(rfc or None, own or None), _clean_section(section))
                found.setdefault(key, []).append(f"{path.relative_to(root)}:{lineno}")
    return found


def load_indexes(root: Path, report: Report, *, require_index: bool = REQUIRE_INDEX) -> None:
    """Reads the index of every spec file: the toml for an RFC, the headings for our own."""
    spec_dir = root / "spec"
    for path in sorted(spec_dir.glob("*.md")):
        stem = path.stem.lower()
        if stem == "readme" or stem.startswith("audit"):
            continue
        if stem.startswith("voice-"):
            report.indexes[path.stem] = own_index(path)
            continue
        toml = spec_dir / "sections" / f"{path.stem}.toml"
        if toml.is_file():
            index = load_index(toml, report.problems)
            if index is not None:
                report.indexes[path.stem] = index
        elif require_index:
            report.problems.append(
                f"{path.relative_to(root)}: no section index spec/sections/{path.stem}.toml "
                "(build it with tools/rfc_index.py from the RFC's text)"
            )
        else:
            report.unindexed.append(path.stem)
    for toml in sorted((spec_dir / "sections").glob("*.toml")):
        if not (spec_dir / f"{toml.stem}.md").is_file():
            report.problems.append(f"spec/sections/{toml.name}: no spec/{toml.stem}.md for it")


def check_row_sections(row: Row, index: Index, where: str, problems: list[str]) -> None:
    """A row's sections exist, and its level is a keyword they use."""
    for section in row.sections:
        if section not in index.sections:
            problems.append(
                f"{where}: §{section} is not a section of {row.spec} "
                f"({index.title or 'see its index'})"
            )
    if index.own:
        return  # our own specs: their sections are checked, their levels are ours
    known = [s for s in row.sections if s in index.sections]
    missing = [s for s in known if s not in index.keywords]
    for section in missing:
        problems.append(
            f"{where}: spec/sections/{row.spec}.toml has no [keywords] entry for §{section}, "
            "so the level cannot be checked (add the keywords its text uses)"
        )
    if row.level == BEYOND or missing or not known:
        return
    used = frozenset().union(*(index.keywords[s] for s in known))
    if row.level not in used:
        names = ", ".join(f"§{s}" for s in known)
        found = ", ".join(sorted(used)) or "no keyword"
        problems.append(
            f"{where}: level {row.level} but {names} uses {found}; use the RFC's own keyword, "
            f"or {BEYOND} saying 'no keyword' (the RFC states it without one) or 'beyond the "
            "RFC' (a rule of ours)"
        )


def measure_coverage(spec: str, rows: list[Row], index: Index) -> Coverage:
    """Counts, per implemented section, the rows with a counted level against its statements."""
    statements = accounted = 0
    short: list[tuple[str, int, int]] = []
    for section in index.implemented:
        count = index.normative.get(section, 0)
        have = sum(1 for r in rows if section in r.sections and r.level in COUNTED)
        statements += count
        accounted += min(count, have)
        if have < count:
            short.append((section, count, have))
    return Coverage(spec, len(index.implemented), statements, accounted, tuple(short))


def check(root: Path, *, require_index: bool = REQUIRE_INDEX) -> Report:
    report = Report()
    spec_dir = root / "spec"
    load_indexes(root, report, require_index=require_index)
    for path in sorted(spec_dir.glob("*.md")):
        stem = path.stem.lower()
        if stem == "readme" or stem.startswith("audit"):
            continue
        rows = parse_spec_file(path, report)
        report.rows[path.stem] = rows
        index = report.indexes.get(path.stem)
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
            if index is not None:
                check_row_sections(row, index, where, report.problems)
        if index is not None and index.implemented:
            coverage = measure_coverage(path.stem, rows, index)
            report.coverage.append(coverage)
            for section, count, have in coverage.short:
                title = index.sections.get(section, "")
                report.problems.append(
                    f"{path.relative_to(root)}: §{section} {title} is implemented and has "
                    f"{count} normative statement(s) but only {have} row(s) with a counted "
                    "level account for them (add a row per statement: done, partial, "
                    "not implemented or not applicable)"
                )

    citations = find_citations(root)
    report.citations = len(citations)
    for (spec, section), places in sorted(citations.items()):
        spec_rows = report.rows.get(spec)
        also = f" (also cited at {len(places) - 1} other places)" if len(places) > 1 else ""
        if spec in OBSOLETED:
            report.problems.append(
                f"{places[0]}: cites {spec}, which {OBSOLETED[spec]} obsoletes: cite "
                f"{OBSOLETED[spec]} §{section} after checking the section in the new text" + also
            )
            continue
        if spec_rows is None:
            report.problems.append(f"{places[0]}: cites {spec} but spec/{spec}.md does not exist")
            continue
        index = report.indexes.get(spec)
        if index is not None and section not in index.sections:
            report.problems.append(
                f"{places[0]}: cites {spec} §{section}, which is not a section of it{also}"
            )
        elif not any(section in row.sections for row in spec_rows):
            report.problems.append(
                f"{places[0]}: cites {spec} §{section} but spec/{spec}.md has no row for it" + also
            )
    # Tests and benchmarks need no rows, but what they cite must exist too. (The checker's
    # own tests cite made-up and obsoleted sections on purpose.)
    for folder in ("tests", "bench"):
        for (spec, section), all_places in sorted(find_citations(root, folder).items()):
            places = [p for p in all_places if not p.startswith("tests/tools/")]
            if not places:
                continue
            index = report.indexes.get(spec)
            if spec in OBSOLETED:
                report.problems.append(
                    f"{places[0]}: cites {spec}, which {OBSOLETED[spec]} obsoletes: cite "
                    f"{OBSOLETED[spec]} §{section} after checking the section in the new text"
                )
            elif index is not None and section not in index.sections:
                report.problems.append(
                    f"{places[0]}: cites {spec} §{section}, which is not a section of it"
                )
    return report


def section_label(index: Index | None, section: str) -> str:
    title = index.sections.get(section) if index is not None else None
    return f"§{section} {title}" if title else f"§{section}"


def coverage_markdown(report: Report) -> str:
    """The normative-coverage table as spec/README.md shows it."""
    lines = [
        "| RFC | implemented sections | normative statements | accounted for | done | "
        "partial | not implemented | not applicable |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cov in report.coverage:
        index = report.indexes[cov.spec]
        implemented = set(index.implemented)
        counts = {"done": 0, "partial": 0, "not implemented": 0, "not applicable": 0}
        for row in report.rows.get(cov.spec, []):
            if row.level in COUNTED and implemented & set(row.sections):
                counts[row.status] += 1
        lines.append(
            f"| {cov.spec.removeprefix('rfc')} | {cov.sections} | {cov.statements} | "
            f"{cov.accounted} | {counts['done']} | {counts['partial']} | "
            f"{counts['not implemented']} | {counts['not applicable']} |"
        )
    return "\n".join(lines)


#: Marks where a document shows the coverage table; the table follows on the next lines.
TABLE_MARKER = "<!-- coverage table: regenerate with python tools/spec_check.py --write-tables -->"
#: The documents that show it.
TABLE_DOCUMENTS = ("README.md", "spec/README.md")


def _shown_table(text: str) -> tuple[int, int] | None:
    """Where the table after the marker starts and ends in ``text`` (None without one)."""
    at = text.find(TABLE_MARKER)
    if at < 0:
        return None
    start = text.index("\n", at) + 1
    end = start
    while text.startswith("|", end):
        end = text.index("\n", end) + 1
    return start, end


def check_tables(root: Path, report: Report, *, write: bool = False) -> None:
    """The coverage tables the documents show are the ones the rows give today, so a
    reader never trusts stale numbers; with ``write``, they are brought up to date."""
    table = coverage_markdown(report) + "\n"
    for name in TABLE_DOCUMENTS:
        path = root / name
        if not path.is_file():
            continue
        text = path.read_text()
        span = _shown_table(text)
        if span is None or text[span[0] : span[1]] == table:
            continue
        if write:
            path.write_text(text[: span[0]] + table + text[span[1] :])
        else:
            report.problems.append(
                f"{name}: the coverage table is stale (python tools/spec_check.py --write-tables)"
            )


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    root = Path(args[0]) if args else Path(__file__).resolve().parent.parent
    report = check(root)
    if "--markdown" in argv:
        print(coverage_markdown(report))
        return 0 if report.ok else 1
    check_tables(root, report, write="--write-tables" in argv)
    for spec, rows in sorted(report.rows.items()):
        index = report.indexes.get(spec)
        for row in rows:
            labels = "; ".join(section_label(index, s) for s in row.sections)
            print(f"{row.id:<10} {row.level:<11} {labels}")
    print()
    print(f"{'spec':<14} {'done':>5} {'partial':>8} {'not impl':>9} {'n/a':>5} {'rows':>5}")
    for spec, rows in sorted(report.rows.items()):
        done = sum(r.status == "done" for r in rows)
        partial = sum(r.status == "partial" for r in rows)
        missing = sum(r.status == "not implemented" for r in rows)
        na = sum(r.status == "not applicable" for r in rows)
        print(f"{spec:<14} {done:>5} {partial:>8} {missing:>9} {na:>5} {len(rows):>5}")
    print()
    print("normative coverage of the implemented sections (statements accounted for by rows):")
    for cov in report.coverage:
        print(
            f"  {cov.spec:<10} {cov.sections:>3} sections  "
            f"{cov.accounted:>4} / {cov.statements:<4} statements"
        )
    if report.unindexed:
        print(f"not yet indexed (sections unchecked): {', '.join(report.unindexed)}")
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
