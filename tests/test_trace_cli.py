"""``voice trace``: pretty-printing and filtering a recorded trace; ``voice serve``'s flags."""

from __future__ import annotations

import argparse
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


def test_trace_session_first_is_accepted_and_a_bad_count_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = build_parser().parse_args(["serve", "--trace", "-", "--trace-session", "first:3"])
    assert args.trace_session == ["first:3"]
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(["serve", "--trace", "-", "--trace-session", "first:0"])
    assert refused.value.code == 2
    assert "positive whole number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    assert "--trace-session ID|first|first:N" in capsys.readouterr().out


def test_voice_serve_builds_the_tracer_its_options_ask_for(tmp_path: Path) -> None:
    from voice.trace_cli import build_tracer

    def parsed(*extra: str) -> argparse.Namespace:
        return build_parser().parse_args(["serve", *extra])

    assert build_tracer(parsed()) is None  # tracing off: nothing is built
    tracer = build_tracer(
        parsed(
            "--trace", str(tmp_path / "t.jsonl"), "--pcap", str(tmp_path / "c.pcap"),
            "--key-log", str(tmp_path / "k.log"), "--trace-session", "abc",
        )
    )  # fmt: skip
    assert tracer is not None
    assert tracer.jsonl is not None and tracer.pretty is None and tracer.pcap is not None
    assert tracer.session("other", ("127.0.0.1", 1)) is None
    session = tracer.session("abc", ("127.0.0.1", 1))
    assert session is not None
    session.key_log("CLIENT_RANDOM 00 11")
    session.datagram("in", b"\x00\x01\x00\x00" + bytes(16), ("127.0.0.2", 2), 5.0)
    assert (tmp_path / "k.log").read_text() == "CLIENT_RANDOM 00 11\n"
    assert '"kind":"stun"' in (tmp_path / "t.jsonl").read_text()
    assert (tmp_path / "c.pcap").stat().st_size == 24 + 16 + 20 + 8 + 20
    stdout = build_tracer(parsed("--trace", "-"))
    assert stdout is not None and stdout.pretty is not None and stdout.jsonl is None
