"""The ``voice`` command line as a whole: every sub-command's help, and ``voice bench``
outside a source checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voice.cli import COMMAND_MODULES, bench, build_parser, main


def commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "==SUPPRESS==" and a.choices)
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
