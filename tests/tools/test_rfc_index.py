"""Tests of the section-index builder, on a small made-up RFC in both of its input forms."""

import tomllib
from pathlib import Path

from tools.rfc_index import main, parse_text, parse_xml, sentences

TEXT = """\
Internet Engineering Task Force (IETF)                          A. Writer
Request for Comments: 9999                                        Example
Category: Standards Track                                       June 2030

                 The Made-Up Protocol:
                     A Test Document

Abstract

   Nothing here is a requirement.

Table of Contents

   1.  Introduction  . . . . . . . . . . . . . . . . . . . . . . .   2
   2.  Procedures  . . . . . . . . . . . . . . . . . . . . . . . .   2

1.  Introduction

   The key words "MUST", "SHOULD" and "MAY" in this document are to be
   interpreted as described in BCP 14.

2.  Procedures

   A sender MUST send.  A receiver SHOULD answer, e.g. at once.  It
   MAY wait.

Writer                       Standards Track                    [Page 2]

RFC 9999                     Made-Up Protocol                  June 2030

   o  An item that MUST NOT be
      skipped

2.1.  A Long Title That Wraps Onto
      the Next Line

   Nothing normative.

Appendix A.  Extra Material

   Numbers 1. and 2. are not headings.

A.1.  More

   It is RECOMMENDED to read it.

Acknowledgements

   Thanks MUST go here (not part of A.1).
"""

XML = """<?xml version="1.0"?>
<!DOCTYPE rfc SYSTEM "rfc2629.dtd" [<!ENTITY RFC2119 SYSTEM "x.xml">]>
<rfc number="9999"><front><title>The Made-Up Protocol</title></front>
<middle>
<section title="Introduction"><t>The key words "MUST" and "MAY"&nbsp;apply.</t></section>
<section title="Procedures"><t>A sender MUST send. A receiver SHOULD answer. It MAY wait.</t>
<t><list style="symbols"><t>An item that MUST NOT be skipped</t></list></t>
<section title="A Long Title"><t>Nothing nor&nbhy;mative.</t></section></section>
</middle>
<back><references title="Normative References">&RFC2119;</references>
<section title="Extra Material"><section title="More"><t>It is RECOMMENDED.</t></section>
</section></back></rfc>
"""


def test_plain_text_sections_titles_keywords_and_counts(tmp_path: Path) -> None:
    title, sections = parse_text(TEXT)
    assert title == "The Made-Up Protocol: A Test Document"
    assert [(s.number, s.title) for s in sections] == [
        ("1", "Introduction"),
        ("2", "Procedures"),
        ("2.1", "A Long Title That Wraps Onto the Next Line"),
        ("A", "Extra Material"),
        ("A.1", "More"),
    ]
    source = tmp_path / "rfc9999.txt"
    source.write_text(TEXT)
    out = tmp_path / "rfc9999.toml"
    assert main(["rfc_index", str(source), "--implemented", "2", "-o", str(out)]) == 0
    index = tomllib.loads(out.read_text())
    assert index["rfc"] == 9999 and index["implemented"] == ["2"]
    # quoted keywords are the boilerplate; the page break and the list item are handled
    assert index["keywords"]["1"] == []
    assert index["keywords"]["2"] == ["MUST", "MUST NOT", "SHOULD", "MAY"]
    assert index["normative"] == {"2": 3, "A.1": 1}
    assert index["keywords"]["A.1"] == ["RECOMMENDED"]  # the acknowledgements are not A.1


def test_implemented_is_kept_when_rebuilding(tmp_path: Path) -> None:
    source = tmp_path / "rfc9999.txt"
    source.write_text(TEXT)
    out = tmp_path / "rfc9999.toml"
    main(["rfc_index", str(source), "--implemented", "2,A.1", "-o", str(out)])
    main(["rfc_index", str(source), "-o", str(out)])
    assert tomllib.loads(out.read_text())["implemented"] == ["2", "A.1"]


def test_xml_source_gives_the_same_index() -> None:
    title, sections = parse_xml(XML)
    assert title == "The Made-Up Protocol"
    assert [(s.number, s.title) for s in sections] == [
        ("1", "Introduction"),
        ("2", "Procedures"),
        ("2.1", "A Long Title"),
        ("3", "Normative References"),
        ("A", "Extra Material"),
        ("A.1", "More"),
    ]
    assert sections[2].paragraphs == ["Nothing nor-mative."]
    assert len(sections[1].paragraphs) == 2


def test_sentences_split_at_full_stops_but_not_abbreviations() -> None:
    assert sentences("One, e.g. this.  Two (i.e. that).\n   Three") == [
        "One, e.g. this.",
        "Two (i.e. that).",
        "Three",
    ]


def test_figure_labels_at_column_zero_do_not_end_a_section() -> None:
    # RFC 3550 draws its packet formats with labels at column 0 ("header |V=2|...");
    # only an unnumbered heading (words alone, after a blank line) ends a section.
    text = TEXT.replace(
        "   MAY wait.\n",
        "   MAY wait.\n\nheader |V=2|P|    PT    |\n       +-+-+-+-+-+-+-+\n\n"
        "   A relay SHOULD forward.\n",
    )
    _, sections = parse_text(text)
    procedures = next(s for s in sections if s.number == "2")
    assert any("SHOULD forward" in p for p in procedures.paragraphs)
