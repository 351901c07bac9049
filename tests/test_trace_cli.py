"""``voice trace``: pretty-printing and filtering a recorded trace; ``voice serve``'s flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voice.cli import build_parser, main


def write_trace(path: Path) -> None:
    records = [
        {"t": 1.0, "event": "route", "client": "10.0.0.1:5", "decision": "admitted"},
        {"t": 1.5, "session": "abc", "dir": "in", "src": "10.0.0.1:5", "dst": "10.0.0.2:6",
         "kind": "stun", "summary": "STUN Binding request tid=00",
         "tree": {"name": "datagram", "value": 20, "cite": "RFC 7983 §7"}},
        {"t": 2.0, "session": "abc", "dir": "out", "src": "10.0.0.2:6", "dst": "10.0.0.1:5",
         "kind": "rtp", "summary": "SRTP pt=111 seq=1"},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "not json\n")


def test_voice_trace_prints_every_record_readably(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_trace(tmp_path / "t.jsonl")
    assert main(["trace", str(tmp_path / "t.jsonl"), "--color", "never"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 3
    assert "admitted" in lines[0]
    assert "<- 10.0.0.1:5 > 10.0.0.2:6 stun  STUN Binding request" in lines[1]
    assert "skipped 1 line" in err


def test_voice_trace_filters_by_kind_and_shows_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_trace(tmp_path / "t.jsonl")
    assert main(["trace", str(tmp_path / "t.jsonl"), "--kind", "stun", "-v"]) == 0
    out = capsys.readouterr().out
    assert "STUN Binding" in out and "SRTP" not in out and "admitted" not in out
    assert "datagram: 20  (RFC 7983 §7)" in out
    assert main(["trace", str(tmp_path / "t.jsonl"), "--kind", "bogus"]) == 2


def test_voice_serve_takes_the_tracing_options() -> None:
    args = build_parser().parse_args(
        ["serve", "--trace", "-", "--trace-session", "abc", "--key-log", "k", "--pcap", "p"]
    )
    assert (args.trace, args.trace_session, args.key_log, args.pcap) == ("-", ["abc"], "k", "p")
