"""The spec/ tables served read-only for the ladder's links: an anchor per row and per cited
section, only spec/'s own files by exact name, and nothing at all without a source tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from tests.signaling.test_app import start
from voice.signaling.app import SignalingConfig
from voice.signaling.spec import SOURCE_SPEC, SpecLibrary, find_spec_dir, parse

TABLE = """# RFC 8489: STUN

Intro with `code` and <https://www.rfc-editor.org/rfc/rfc8489>.

| id | section | level | requirement | code | tests | status |
|---|---|---|---|---|---|---|
| STUN-1 | §5 | MUST | The header <b>is</b> 20 bytes. | `a.py::f` | `t.py::g` | done |
| STUN-2 | §14.5, §5 | MUST | Integrity. | `a.py::h` | `t.py::i` | done |
"""


def test_rows_and_sections_get_anchors_and_text_is_escaped() -> None:
    page = parse("rfc8489.md", TABLE)
    assert page.sections == {"5": ["STUN-1", "STUN-2"], "14.5": ["STUN-2"]}
    assert '<tr id="STUN-1">' in page.html and '<tr id="STUN-2">' in page.html
    assert '<li id="s-5">§5: <a href="#STUN-1">STUN-1</a>, <a href="#STUN-2">' in page.html
    assert "&lt;b&gt;is&lt;/b&gt;" in page.html and "<b>" not in page.html
    assert "<code>a.py::f</code>" in page.html
    assert '<a href="https://www.rfc-editor.org/rfc/rfc8489">' in page.html


def test_the_source_tree_spec_is_found_and_every_row_of_a_real_file_is_anchored() -> None:
    assert find_spec_dir() == SOURCE_SPEC
    library = SpecLibrary(SOURCE_SPEC)
    index = library.index()
    stun = index["RFC 8489"]
    assert stun["page"] == "/spec/rfc8489.md"
    sections = stun["sections"]
    assert isinstance(sections, dict) and "STUN-11" in sections["14.5"]
    page = library.page("rfc8489.md")
    assert page is not None and '<tr id="STUN-11">' in page.html
    assert "VOICE-RELAY" in index


def test_without_a_source_tree_there_is_no_spec(tmp_path: Path) -> None:
    assert find_spec_dir(tmp_path / "spec") is None
    (tmp_path / "spec").mkdir()
    assert find_spec_dir(tmp_path / "spec") is None  # no README.md: not our spec/
    library = SpecLibrary(None)
    assert library.names() == [] and library.index() == {} and library.page("rfc8489.md") is None


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    """A spec/ beside files that must never be served through it."""
    root = tmp_path / "spec"
    (root / "sub").mkdir(parents=True)
    (root / "README.md").write_text("# spec\n")
    (root / "rfc8489.md").write_text(TABLE)
    (root / "notes.txt").write_text("not markdown\n")
    (root / "sub" / "inner.md").write_text("SECRET-INNER\n")
    (tmp_path / "secret.md").write_text("SECRET-OUTSIDE\n")
    (root / "link.md").symlink_to(tmp_path / "secret.md")
    return root


HOSTILE = [
    "/spec/../secret.md",
    "/spec/..%2Fsecret.md",
    "/spec/%2e%2e%2fsecret.md",
    "/spec/%2E%2E/secret.md",
    "/spec/..%5Csecret.md",
    "/spec/sub/inner.md",
    "/spec/sub%2Finner.md",
    "/spec/link.md",
    "/spec/notes.txt",
    "/spec/rfc8489.md%00",
    "/spec/rfc8489.md/",
    "/spec/RFC8489.MD",
    "/spec/" + "%2e%2e%2f" * 8 + "etc%2fpasswd",
    "/spec/" + "x" * 300,
]


async def test_only_spec_files_by_exact_name(nursery: trio.Nursery, spec_dir: Path) -> None:
    _, client = await start(nursery, signaling=SignalingConfig(spec_dir=spec_dir))
    ok = await client.get("/spec/rfc8489.md")  # type: ignore[attr-defined]
    assert ok.status_code == 200 and ok.mimetype == "text/html"
    assert '<tr id="STUN-2">' in await ok.get_data(as_text=True)
    listing = await (await client.get("/spec/")).get_data(as_text=True)  # type: ignore[attr-defined]
    assert "rfc8489.md" in listing and "link.md" not in listing and "inner" not in listing
    for path in HOSTILE:
        response = await client.get(path)  # type: ignore[attr-defined]
        body = await response.get_data(as_text=True)
        assert response.status_code == 404, path
        assert "SECRET" not in body and "passwd" not in body.split("\n", 1)[1:], path
    index = json.loads(await (await client.get("/spec/index.json")).get_data(as_text=True))  # type: ignore[attr-defined]
    assert index == {
        "RFC 8489": {"page": "/spec/rfc8489.md", "sections": {"5": ["STUN-1", "STUN-2"],
                                                              "14.5": ["STUN-2"]}}
    }  # fmt: skip


async def test_no_source_tree_means_404_and_an_empty_index(nursery: trio.Nursery) -> None:
    _, client = await start(nursery, signaling=SignalingConfig(spec_dir=None))
    missing = await client.get("/spec/rfc8489.md")  # type: ignore[attr-defined]
    assert missing.status_code == 404
    assert "no such spec page" in await missing.get_data(as_text=True)
    assert (await client.get("/spec/")).status_code == 404  # type: ignore[attr-defined]
    index = await client.get("/spec/index.json")  # type: ignore[attr-defined]
    assert index.status_code == 200 and json.loads(await index.get_data(as_text=True)) == {}
