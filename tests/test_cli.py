"""The ``voice`` command line as a whole: every sub-command's help, and ``voice bench``
outside a source checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voice.cli import COMMAND_MODULES, bench, build_parser, main


def commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert isinstance(sub.choices, dict)
    return sorted(sub.choices)


def test_every_command_module_lives_in_the_cli_package() -> None:
    assert all(name.startswith("voice.cli.") for name in COMMAND_MODULES)
    assert {"serve", "relay", "transceiver", "steer", "bench", "trace"} <= set(commands())


def test_help_imports_nothing_heavy() -> None:
    """``voice --help`` builds every sub-command's parser, and stays fast: no Trio, no
    metrics library, no codec is imported until a command runs."""
    code = (
        "import sys\n"
        "from voice.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('trio', 'prometheus_client', 'av', 'quart') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[-1] == "[]"


def test_voice_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    for name in commands():
        assert name in out


@pytest.mark.parametrize("command", commands())
def test_each_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0
    assert f"voice {command}" in capsys.readouterr().out


def test_every_key_taking_command_takes_keys_the_same_way(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in ("serve", "relay", "transceiver"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "--key-file FILE" in out
        assert "--fleet-keys-env" not in out


def test_bench_outside_a_checkout_says_it_needs_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As in a wheel install: site-packages/voice has no bench/ beside it.
    monkeypatch.setattr(bench, "BENCH_DIR", tmp_path / "site-packages" / "bench")
    assert main(["bench", "load"]) == 2
    err = capsys.readouterr().err
    assert "source checkout" in err and "bench/" in err
    assert "Traceback" not in err


def test_bench_in_the_checkout_finds_the_benchmarks() -> None:
    assert bench.BENCH_DIR.is_dir()
    assert "relay" in bench.available()


def test_bench_rejects_an_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "no-such-benchmark"]) == 2
    assert "no benchmark named" in capsys.readouterr().err


KEY = "1:" + "ab" * 16
ADVERTISE = ("--transceiver-id=1", "--advertise=127.0.0.1:50000")
RELAY = "--transceiver=1=10.0.0.1:4000"

#: A bad value in each command's configuration, and the message that names it: (argv, the
#: files the command reads, what standard error must say). {tmp} is a temporary directory.
BAD_CONFIG = [
    (["relay", "--directory={tmp}/d.toml"], {"d.toml": '[transceivers]\nx = "a:1"\n'},
     "voice relay: error: --directory {tmp}/d.toml: directory entry 'x': expected id"),
    (["relay", "--directory={tmp}/none.json"], {},
     "voice relay: error: --directory {tmp}/none.json: No such file or directory"),
    (["relay", "--fleet={tmp}/f.json"], {"f.json": '{"clusters": {"2": ["10.2.0.5"]}}'},
     "voice relay: error: --fleet {tmp}/f.json: '10.2.0.5' is not HOST:PORT"),
    (["relay", RELAY, "--key-file={tmp}/keys"], {"keys": "1:zz\n"},
     "voice relay: error: --key-file {tmp}/keys: fleet key 1 is not written as ID:HEXSECRET"),
    (["relay", "--transceiver=1=fd00::1:4000"], {},
     "voice relay: error: --transceiver '1=fd00::1:4000': 'fd00::1:4000': write an IPv6"),
    (["relay", "--transceiver-dns=t.example:4000"], {},
     "voice relay: error: --transceiver-dns: 't.example:4000': a DNS pattern needs an {{id}}"),
    (["relay", RELAY, "--single-process", "--metrics-port=9100"], {},
     "voice relay: error: --metrics-port needs the supervisor"),
    (["transceiver", *ADVERTISE, "--agent=nobody"], {},
     "voice transceiver: error: --agent: unknown agent 'nobody'; choose from echo"),
    (["transceiver", *ADVERTISE, "--relay-network=10.0.0.0/33"], {},
     "voice transceiver: error: --relay-network '10.0.0.0/33': "),
    (["transceiver", *ADVERTISE, "--key-file={tmp}/keys"], {"keys": "5:" + "cd" * 16},
     "voice transceiver: error: --key-file {tmp}/keys: fleet key 1: key id must be 0..3"),
    (["serve", "--cors-origin=app.example"], {},
     "voice serve: error: --cors-origin 'app.example' is not an origin"),
    (["serve", "--key-file={tmp}/keys"], {"keys": ""},
     "voice serve: error: --key-file {tmp}/keys: no fleet key given"),
    (["steer", "--regions={tmp}/r.toml"], {"r.toml": '[[region]]\nname = "eu"\nsignaling = "x"\n'},
     "voice steer: error: {tmp}/r.toml: region eu: signaling must be an http(s) base URL"),
    (["relay", "--directory={tmp}/d.json"], {"d.json": b'{"transceivers": {"1": "\xff'},
     "voice relay: error: --directory {tmp}/d.json: not UTF-8 text (byte 24)"),
    (["relay", "--fleet={tmp}/f.json"], {"f.json": "[" * 100_000},
     "voice relay: error: --fleet {tmp}/f.json: fleet file does not parse: maximum recursion"),
    (["relay", "--transceiver=\u00b2=10.0.0.1:4000"], {},
     "voice relay: error: --transceiver '\u00b2=10.0.0.1:4000': expected a number 0-65535"),
    (["steer", "--regions={tmp}/r.toml"], {"r.toml": b"\xff"},
     "voice steer: error: {tmp}/r.toml: 'utf-8' codec can't decode byte 0xff"),
    (["steer", "--regions={tmp}/none.toml"], {},
     "voice steer: error: {tmp}/none.toml: [Errno 2] No such file or directory"),
    (["steer", "--regions={tmp}/r.toml", "--interval=7200"], {"r.toml": ""},
     "voice steer: error: --interval must be between 0.05 and 3600 seconds"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "files", "says"), BAD_CONFIG)
def test_a_bad_value_in_any_command_s_config_is_a_usage_error_naming_it(
    argv: list[str],
    files: dict[str, str | bytes],
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The operator's mistake ends the command as argparse ends it for a bad flag: one
    ``voice <command>: error:`` line naming the value, status 2, no traceback."""
    monkeypatch.setenv("VOICE_FLEET_KEYS", KEY)
    monkeypatch.delenv("VOICE_AGENT_BACKEND", raising=False)
    for name, text in files.items():
        if isinstance(text, bytes):
            (tmp_path / name).write_bytes(text)
        else:
            (tmp_path / name).write_text(text)
    with pytest.raises(SystemExit) as exit:
        main([arg.format(tmp=tmp_path) for arg in argv])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert says.format(tmp=tmp_path) in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "abab" not in err and "cdcd" not in err  # a key's secret is never repeated


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["relay", RELAY, "--cluster=65536"], "argument --cluster: '65536' is not a number"),
        (["steer", "--regions=r", "--client-rate=0"], "argument --client-rate: '0' is not a"),
        (["serve", "--trace-session=first:0"], "argument --trace-session: 'first:0': 'first:N'"),
    ],
)
def test_a_value_argparse_can_check_is_refused_while_parsing(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert f"voice {argv[0]}: error: {says}" in err and "Traceback" not in err


def test_the_bridge_agent_s_backend_is_checked_at_start_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VOICE_AGENT_BACKEND", raising=False)
    with pytest.raises(SystemExit):
        main(["serve", "--agent=bridge"])
    assert "voice serve: error: --agent bridge needs a backend" in capsys.readouterr().err
    monkeypatch.setenv("VOICE_AGENT_BACKEND", "https://user:secret@backend.example/")
    with pytest.raises(SystemExit):
        main(["serve"])
    err = capsys.readouterr().err
    assert "error: $VOICE_AGENT_BACKEND is a 'https' URL, not ws:// or wss://" in err
    assert "secret" not in err
