"""The spec/ tables as read-only web pages, so that the demo page's ladder can link each
arrow's RFC section to the rows that say what ``voice`` does about it.

spec/ lives beside the package in the source tree, not inside it: an editable install (or a
checkout run with ``./dev``) finds it, a wheel does not, and then :func:`find_spec_dir`
returns None and the ladder links the RFC text only. Nothing here touches the network or
the event loop; the pages are rendered once, on first request, from files read by exact
name (a name is served only if it is one of the directory's own ``*.md`` files, so no path
a client writes can reach anything else).

The rendering is deliberately small: headings, paragraphs, tables, inline code and autolinks,
all HTML-escaped. Each table row with an id gets that id as its anchor (``#STUN-11``), and a
"Sections" list at the top gives each cited section an anchor (``#s-14.5``) listing its rows.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

#: spec/ in a source tree: two levels above this file's package.
SOURCE_SPEC = Path(__file__).resolve().parent.parent.parent / "spec"

_SECTION = re.compile(r"§([0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)")
_AUTOLINK = re.compile(r"&lt;(https?://[^\s&]+)&gt;")
_CODE = re.compile(r"`([^`]+)`")


def find_spec_dir(candidate: Path = SOURCE_SPEC) -> Path | None:
    """spec/ when this is a source tree (it holds the README spec_check reads), else None."""
    return candidate if (candidate / "README.md").is_file() else None


def _inline(text: str) -> str:
    out = html.escape(text, quote=True)
    out = _CODE.sub(r"<code>\1</code>", out)
    return _AUTOLINK.sub(r'<a href="\1">\1</a>', out)


def _cells(line: str) -> list[str]:
    # The same split as tools/spec_check.py, so a row means here what it means there.
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _section_key(section: str) -> list[tuple[int, str]]:
    return [(int(p), "") if p.isdigit() else (1 << 30, p) for p in section.split(".")]


def cite_prefix(name: str) -> str | None:
    """How code cites the document a spec file covers: rfc8489.md -> "RFC 8489"."""
    if m := re.fullmatch(r"rfc(\d+)\.md", name):
        return f"RFC {m.group(1)}"
    if m := re.fullmatch(r"voice-([a-z0-9]+)\.md", name):
        return f"VOICE-{m.group(1).upper()}"
    return None


@dataclass
class SpecPage:
    """One spec file: its rows by section, and its HTML."""

    name: str
    sections: dict[str, list[str]] = field(default_factory=dict)
    html: str = ""


def parse(name: str, text: str) -> SpecPage:
    """Reads one spec file's tables and renders it (see the module's docstring)."""
    page = SpecPage(name)
    body: list[str] = []
    header: list[str] | None = None
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            body.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            flush()
            cells = _cells(line)
            if header is None:
                header = [c.lower() for c in cells]
                body.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in cells))
                body[-1] += "</tr>"
                continue
            if set(line.replace("|", "").strip()) <= {"-", ":", " "}:
                continue
            row = dict(zip(header, cells, strict=False))
            row_id = row.get("id", "")
            anchor = ""
            if re.fullmatch(r"[A-Za-z0-9-]+", row_id):
                anchor = f' id="{row_id}"'
                for section in _SECTION.findall(row.get("section", "")):
                    ids = page.sections.setdefault(section, [])
                    if row_id not in ids:
                        ids.append(row_id)
            body.append(f"<tr{anchor}>" + "".join(f"<td>{_inline(c)}</td>" for c in cells))
            body[-1] += "</tr>"
            continue
        if header is not None:
            body.append("</table>")
            header = None
        if m := re.match(r"(#{1,6})\s+(.*)", line):
            flush()
            level = len(m.group(1))
            body.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
        elif not line.strip():
            flush()
        else:
            paragraph.append(line.strip())
    flush()
    if header is not None:
        body.append("</table>")

    index = []
    for section in sorted(page.sections, key=_section_key):
        links = ", ".join(f'<a href="#{i}">{i}</a>' for i in page.sections[section])
        index.append(f'<li id="s-{section}">§{html.escape(section)}: {links}</li>')
    title = html.escape(name)
    sections = f"<h2>Sections</h2><ul>{''.join(index)}</ul>" if index else ""
    page.html = (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>spec/{title}</title><style>"
        "body{font:14px/1.4 sans-serif;margin:1em 2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top}"
        ":target{background:#ffc}</style></head><body>"
        f'<p><a href="/spec/">spec/</a> {title}</p>'
        f"{sections}{''.join(body)}</body></html>\n"
    )
    return page


class SpecLibrary:
    """The spec/ directory's pages, rendered on first use and kept (they are static)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._pages: dict[str, SpecPage] = {}

    def names(self) -> list[str]:
        """The files that may be served: the ``*.md`` files directly in spec/ (no links)."""
        if self.root is None:
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.suffix == ".md" and p.is_file() and not p.is_symlink()
        )

    def page(self, name: str) -> SpecPage | None:
        """The page for exactly one of :meth:`names`, else None (whatever ``name`` holds)."""
        if self.root is None or name not in self.names():
            return None
        if name not in self._pages:
            self._pages[name] = parse(name, (self.root / name).read_text(encoding="utf-8"))
        return self._pages[name]

    def index(self) -> dict[str, dict[str, object]]:
        """For the ladder: each cited document ("RFC 8489") -> its page and rows by section."""
        out: dict[str, dict[str, object]] = {}
        for name in self.names():
            prefix = cite_prefix(name)
            page = self.page(name)
            if prefix is not None and page is not None:
                out[prefix] = {"page": f"/spec/{name}", "sections": page.sections}
        return out

    def listing(self) -> str:
        items = "".join(f'<li><a href="/spec/{n}">{html.escape(n)}</a></li>' for n in self.names())
        return (
            "<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>spec/</title>"
            f"</head><body><h1>spec/</h1><ul>{items}</ul></body></html>\n"
        )
