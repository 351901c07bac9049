"""Builds ``spec/sections/rfc<n>.toml``, the section index the spec checker enforces, from an
RFC's text on the local disk, so that the index is reproducible and holds no RFC prose.

    python tools/rfc_index.py path/to/rfc8445.txt [--implemented 7.3,8.2] [-o FILE]

The input is the RFC's plain text (the rfc-editor ``.txt``, with or without page breaks) or
its xml2rfc source (``.xml``, version 2 or 3), or, when no RFC text is at hand, the
kramdown-rfc markdown (``.md``) of the draft that became it (check it against the RFC).
From it the tool records, per section: the number and title (the table of contents), the
BCP 14 keywords its own text (not its subsections') uses in capitals, and how many of its
sentences carry a counted keyword
(MUST, MUST NOT, REQUIRED, SHALL, SHALL NOT, SHOULD, SHOULD NOT, RECOMMENDED, NOT
RECOMMENDED). Keywords in quotes (the BCP 14 boilerplate) are not counted. The sentence
count is a mechanical split at full stops and list items; it is what the rows of
``spec/rfc<n>.md`` must account for, statement by statement, in the implemented sections.

``implemented`` (the sections audited statement by statement) is ours, not the RFC's: it is
taken from ``--implemented``, or kept from the output file when it already exists.
The RFC text itself is never committed: keep it outside the repository.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script, tools/ is not a package

# The keywords and which of them count as normative statements are the checker's: one list.
from tools.spec_check import COUNTED, KEYWORD_ORDER, KEYWORDS  # noqa: E402

#: Longest first, so "MUST NOT" is read as one keyword and not as "MUST".
_ALTERNATIVES = "|".join(sorted(KEYWORDS, key=len, reverse=True))
KEYWORD = re.compile(rf"\b({_ALTERNATIVES})\b")
#: A keyword in quotes is the BCP 14 boilerplate naming it, not a requirement.
QUOTED = re.compile(rf"[\"“](?:{_ALTERNATIVES})[\"”]")
#: Words after which a full stop does not end a sentence.
ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "al.", "Sec.", "vs.", "cf.", "Fig.", "No.")
HEADING = re.compile(r"^((?:\d+|[A-Z])(?:\.\d+)*)\.?\s+(\S.*?)\s*$")
APPENDIX = re.compile(r"^Appendix ([A-Z])[.:]?\s+(?:-\s+)?(\S.*?)\s*$")
PAGE_FOOTER = re.compile(r"^\S.*\[Page \d+\]\s*$")
PAGE_HEADER = re.compile(r"^RFC \d+ .*\b\d{4}\s*$")
#: An unnumbered heading (Acknowledgements, Authors' Addresses): words only, at column 0.
#: Figures may also put labels at column 0 (RFC 3550's ``header |V=2|P|...``), and those
#: must not end a section.
UNNUMBERED = re.compile(r"^[A-Z][A-Za-z' ,&-]*$")
BULLET = re.compile(r"^\s*(?:[o*•-]|\d+\.|\(?[a-z0-9]\))\s{1,4}\S")


@dataclass(slots=True)
class Section:
    number: str
    title: str
    paragraphs: list[str] = field(default_factory=list)


def _successor(prev: str | None, number: str) -> bool:
    """Whether ``number`` may follow ``prev`` in a table of contents."""
    parts = number.split(".")
    if prev is None:
        return number == "1"
    before = prev.split(".")
    if parts == [*before, "1"]:
        return True  # first subsection
    for depth in range(len(before), 0, -1):
        head, last = before[: depth - 1], before[depth - 1]
        if parts[:-1] == head and len(parts) == depth:
            new = parts[-1]
            if last.isdigit() and new.isdigit():
                return int(new) == int(last) + 1
            if last.isalpha() and new.isalpha() and len(new) == 1:
                return ord(new) == ord(last) + 1
            if last.isdigit() and new == "A" and depth == 1:
                return True  # the first appendix
    return False


def parse_text(text: str) -> tuple[str, list[Section]]:
    """The title and the sections of an RFC in plain text."""
    lines = [
        line.rstrip()
        for line in text.replace("\f", "\n").splitlines()
        if not PAGE_FOOTER.match(line) and not PAGE_HEADER.match(line)
    ]
    title = _text_title(lines)
    body_start = 0
    for i, line in enumerate(lines):
        if line.strip() == "Table of Contents":
            body_start = i + 1
            break
    sections: list[Section] = []
    current: Section | None = None
    paragraph: list[str] = []

    def flush() -> None:
        if current is not None and paragraph:
            current.paragraphs.append("\n".join(paragraph))
        paragraph.clear()

    prev: str | None = None
    i = body_start
    while i < len(lines):
        line = lines[i]
        m = APPENDIX.match(line) or (HEADING.match(line) if line[:1].strip() else None)
        if m and _successor(prev, m.group(1)):
            flush()
            title_text = m.group(2)
            while i + 1 < len(lines) and lines[i + 1].startswith(" ") and lines[i + 1].strip():
                i += 1  # a title wrapped onto the next line
                joint = "" if title_text.endswith("-") else " "
                title_text += joint + lines[i].strip()
            current = Section(m.group(1), re.sub(r"\s+", " ", title_text))
            sections.append(current)
            prev = m.group(1)
        elif current is not None and UNNUMBERED.match(line) and not lines[i - 1].strip():
            flush()  # an unnumbered heading (Acknowledgements, Authors' Addresses) ends it
            current = None
        elif not line.strip() or BULLET.match(line):
            flush()
            if line.strip():
                paragraph.append(line)
        else:
            paragraph.append(line)
        i += 1
    flush()
    return title, sections


def _text_title(lines: list[str]) -> str:
    """The document title: the centred lines after the header block, before the Abstract."""
    state = "before"  # before the header, in the header, after it, in the title
    title: list[str] = []
    for line in lines:
        if state == "before" and "Request for Comments:" in line:
            state = "header"
        elif state == "header" and not line.strip():
            state = "after"
        elif state in ("after", "title") and line.strip() == "Abstract":
            break
        elif state == "after" and line.strip():
            state = "title"
            title.append(line.strip())
        elif state == "title":
            if not line.strip():
                break
            title.append(line.strip())
    return " ".join(title)


def parse_xml(text: str) -> tuple[str, list[Section]]:
    """The title and the sections of an RFC's xml2rfc source (v2 or v3)."""
    text = re.sub(r"<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", "", text, count=1, flags=re.DOTALL)
    text = text.replace("&nbhy;", "-")  # a non-breaking hyphen
    # Other named entities are spaces or include the references; neither is section text.
    text = re.sub(r"&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)[\w.-]+;", " ", text)
    root = ET.fromstring(text)
    front_title = root.find("front/title")
    title = " ".join("".join(front_title.itertext()).split()) if front_title is not None else ""
    sections: list[Section] = []

    def walk(element: ET.Element, number: str) -> None:
        name_element = element.find("name")
        name = element.get("title") or (
            "".join(name_element.itertext()) if name_element is not None else ""
        )
        section = Section(number, " ".join(name.split()))
        sections.append(section)
        child_no = 0
        for child in element:
            if child.tag == "section":
                child_no += 1
                walk(child, f"{number}.{child_no}")
            elif child.tag != "name":
                section.paragraphs.extend(_paragraphs(child))

    middle = root.find("middle")
    count = 0
    for element in middle if middle is not None else []:
        if element.tag == "section" and element.get("numbered", "true") not in ("no", "false"):
            count += 1
            walk(element, str(count))
    back = root.find("back")
    if back is not None:
        refs = [e for e in back if e.tag == "references"]
        if len(refs) == 1:
            count += 1
            sections.append(Section(str(count), refs[0].get("title") or "References"))
        elif refs:
            count += 1
            sections.append(Section(str(count), "References"))
            for n, ref in enumerate(refs, 1):
                sections.append(Section(f"{count}.{n}", ref.get("title") or "References"))
        letter = ord("A")
        for element in back:
            if element.tag == "section" and element.get("numbered", "true") not in ("no", "false"):
                walk(element, chr(letter))
                letter += 1
    return title, sections


def parse_markdown(text: str) -> tuple[str, list[Section]]:
    """The title and the sections of a kramdown-rfc source (an Internet-Draft's markdown).

    Used when only the draft that became the RFC is at hand; its headings number as the
    RFC's do, but check the result against the RFC's table of contents.
    """
    title = ""
    sections: list[Section] = []
    counters: list[int] = []
    in_back = False
    letter = ord("A") - 1
    current: Section | None = None
    paragraph: list[str] = []
    fenced = False

    def flush() -> None:
        if current is not None and paragraph:
            current.paragraphs.append(" ".join(paragraph))
        paragraph.clear()

    for line in text.splitlines():
        if line.startswith("title:") and not title:
            title = line.partition(":")[2].strip()
        if line.startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        if line.startswith("--- back"):
            flush()
            in_back, counters, current = True, [], None
            continue
        m = re.match(r"^(#{1,6})\s+(.*?)\s*(\{[^}]*\})?\s*$", line)
        if m:
            flush()
            if m.group(3) and "numbered" in m.group(3) and "false" in m.group(3):
                current = None
                continue
            depth = len(m.group(1))
            counters = counters[:depth] + [0] * (depth - len(counters))
            counters[depth - 1] += 1
            if in_back and depth == 1:
                letter += 1
            head = chr(letter) if in_back else str(counters[0])
            number = ".".join([head, *map(str, counters[1:])])
            current = Section(number, m.group(2))
            sections.append(current)
        elif not line.strip() or BULLET.match(line):
            flush()
            if line.strip():
                paragraph.append(line.strip())
        elif current is not None:
            paragraph.append(line.strip())
    flush()
    return title, sections


def _paragraphs(element: ET.Element) -> list[str]:
    """The paragraphs (and list items) of one block element, as plain text."""
    if element.tag in ("list", "ul", "ol", "dl"):
        out: list[str] = []
        for item in element:
            out.extend(_paragraphs(item))
        return out
    if element.tag in ("artwork", "figure", "sourcecode", "artset", "table", "texttable"):
        return []
    nested = [c for c in element if c.tag in ("list", "ul", "ol", "dl", "t")]
    if nested and element.tag in ("t", "li", "dd", "aside", "blockquote"):
        own = (element.text or "").strip()
        out = [own] if own else []
        for child in element:
            out.extend(_paragraphs(child) if child.tag in ("list", "ul", "ol", "dl", "t") else [])
        return out
    return [" ".join("".join(element.itertext()).split())]


def sentences(paragraph: str) -> list[str]:
    """A mechanical split of one paragraph into sentences."""
    flat = " ".join(paragraph.split())
    for abbr in ABBREVIATIONS:
        flat = flat.replace(abbr, abbr.replace(".", "\0"))
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z(\[\"'])", flat)
    return [p.replace("\0", ".") for p in parts if p.strip()]


def analyse(section: Section) -> tuple[list[str], int]:
    """The keywords a section's own text uses, and its sentences carrying a counted one."""
    used: set[str] = set()
    count = 0
    for paragraph in section.paragraphs:
        for sentence in sentences(paragraph):
            words = set(KEYWORD.findall(QUOTED.sub("", sentence)))
            used |= words
            if words & COUNTED:
                count += 1
    return [k for k in KEYWORD_ORDER if k in used], count


def render(
    rfc: int, title: str, sections: list[Section], implemented: list[str], source: str
) -> str:
    """The toml text of the index."""
    out = [
        f"# Built by tools/rfc_index.py from {source}; numbers, titles and counts",
        "# only. `implemented` is ours: the sections whose every normative statement",
        f"# spec/rfc{rfc}.md accounts for, one row each.",
        f"rfc = {rfc}",
        f"title = {json.dumps(title, ensure_ascii=False)}",
        f"implemented = {json.dumps(implemented)}",
        "",
        "[sections]",
    ]
    analysed = {s.number: analyse(s) for s in sections}
    out += [f"{json.dumps(s.number)} = {json.dumps(s.title, ensure_ascii=False)}" for s in sections]
    out += ["", "[normative]", "# sentences of the section's own text with a counted keyword"]
    out += [
        f"{json.dumps(s.number)} = {analysed[s.number][1]}"
        for s in sections
        if analysed[s.number][1] or s.number in implemented
    ]
    out += ["", "[keywords]", "# BCP 14 keywords in capitals in the section's own text"]
    out += [f"{json.dumps(s.number)} = {json.dumps(analysed[s.number][0])}" for s in sections]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="the RFC's .txt or xml2rfc .xml")
    parser.add_argument("--rfc", type=int, help="its number (default: from the text)")
    parser.add_argument("--implemented", help="comma-separated sections audited in full")
    parser.add_argument("-o", "--output", type=Path, help="default spec/sections/rfc<n>.toml")
    args = parser.parse_args(argv[1:])
    text = args.source.read_text(encoding="utf-8", errors="replace")
    if args.source.suffix == ".xml":
        title, sections = parse_xml(text)
    elif args.source.suffix == ".md":
        title, sections = parse_markdown(text)
    else:
        title, sections = parse_text(text)
    number = args.rfc
    if number is None:
        m = re.search(r"Request for Comments:\s*(\d+)", text) or re.search(
            r"rfc(\d+)", args.source.name
        )
        if m is None:
            parser.error("cannot tell the RFC number; pass --rfc")
        number = int(m.group(1))
    output = args.output or Path(__file__).resolve().parent.parent / (
        f"spec/sections/rfc{number}.toml"
    )
    implemented: list[str] = []
    if args.implemented is not None:
        implemented = [s.strip() for s in args.implemented.split(",") if s.strip()]
    elif output.is_file():
        implemented = list(tomllib.loads(output.read_text(encoding="utf-8"))["implemented"])
    numbers = {s.number for s in sections}
    if len(numbers) != len(sections):
        parser.error("the source gave the same section number twice; check its format")
    unknown = [s for s in implemented if s not in numbers]
    if unknown:
        parser.error(f"implemented names sections the RFC lacks: {', '.join(unknown)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        render(number, title, sections, implemented, args.source.name), encoding="utf-8"
    )
    print(f"{output}: {len(sections)} sections, {len(implemented)} implemented")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
