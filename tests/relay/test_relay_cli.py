"""`voice relay`: flags, keys from the environment or a file, and the help text."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from voice.cli import build_parser
from voice.cli.relay import KEYS_ENV, build_config
from voice.errors import ConfigError

KEYS = "1:" + "ab" * 16 + ",0:" + "cd" * 16


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["relay", *argv])


def test_flags_build_the_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(KEYS_ENV, KEYS)
    directory = tmp_path / "directory.toml"
    directory.write_text('[transceivers]\n1 = "10.0.0.1:4000"\n3 = "10.0.0.3:4000"\n')
    config = build_config(
        parse(
            "--host=192.0.2.10",
            "--port=3479",
            "--workers=4",
            "--internal-port=7000",
            f"--directory={directory}",
            "--transceiver=3=[fd00::3]:4000",
            "--transceiver-dns=transceiver-{id}.example:4000",
            "--transceiver-network=10.0.0.0/8",
            "--table-size=10",
            "--idle-timeout=5",
            "--admission-rate=1",
            "--admission-burst=2",
            "--token-max-age=0",
            "--cluster=2",
            "--no-pin",
        )
    )
    assert config.public == ("192.0.2.10", 3479)
    assert config.internal == ("127.0.0.1", 7000)
    assert config.workers == 4 and config.pin_cpus is False
    assert dict(config.static_directory) == {1: ("10.0.0.1", 4000), 3: ("fd00::3", 4000)}
    assert config.dns_pattern is not None and config.dns_pattern.port == 4000
    assert config.transceiver_networks == ("10.0.0.0/8",)
    assert [k.key_id for k in config.keys] == [1, 0]
    assert config.token_max_age is None
    assert (config.table_size, config.idle_timeout) == (10, 5)
    assert (config.admission_rate, config.admission_burst, config.cluster) == (1, 2, 2)
    assert "abab" not in repr(config)  # the config can be logged: keys hide their secrets


def test_key_file_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(KEYS_ENV, KEYS)
    keyfile = tmp_path / "keys"
    keyfile.write_text("# current\n2:" + "ef" * 16 + "\n")
    config = build_config(parse(f"--key-file={keyfile}", "--transceiver=1=10.0.0.1:4000"))
    assert [k.key_id for k in config.keys] == [2]


def test_missing_keys_or_transceivers_are_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYS_ENV, raising=False)
    with pytest.raises(ValueError, match="fleet key"):
        build_config(parse("--transceiver=1=10.0.0.1:4000"))
    monkeypatch.setenv(KEYS_ENV, KEYS)
    with pytest.raises(ValueError, match="no transceivers"):
        build_config(parse())
    with pytest.raises(ValueError):
        build_config(parse("--transceiver=x=10.0.0.1:4000"))


def test_bad_flags_exit_with_a_message_and_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {KEYS_ENV: "1:" + "ab" * 16}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "voice",
            "relay",
            "--transceiver-network=not-a-net",
            "--transceiver=1=10.0.0.1:4000",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert "voice relay: error: --transceiver-network 'not-a-net'" in result.stderr
    assert "Traceback" not in result.stderr
    assert "abab" not in result.stderr


def test_help_explains_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--help")
    text = capsys.readouterr().out
    for flag in (
        "--host",
        "--port",
        "--workers",
        "--internal-port",
        "--key-file",
        KEYS_ENV,
        "--directory",
        "--transceiver ",
        "--transceiver-dns",
        "--transceiver-network",
        "--table-size",
        "--idle-timeout",
        "--admission-rate",
        "--admission-burst",
        "--token-max-age",
        "--log-interval",
        "--cluster",
    ):
        assert flag in text, flag


def test_budget_flags_reach_the_router(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEYS_ENV, KEYS)
    config = build_config(
        parse(
            "--transceiver=1=10.0.0.1:4000",
            "--admission-global-rate=7",
            "--admission-global-burst=8",
            "--client-rate=9",
            "--client-burst=11",
        )
    )
    router = config.build_router()
    assert (router.limiter.global_rate, router.limiter.global_burst) == (7, 8)
    assert (router.client_rate, router.client_burst, router.table.burst) == (9, 11, 11)


def test_fleet_flags_build_the_fleet_view(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(KEYS_ENV, KEYS)
    fleet = tmp_path / "fleet.json"
    fleet.write_text('{"clusters": {"2": ["10.2.0.5:50100"], "3": ["10.3.0.5:50100"]}}')
    config = build_config(
        parse(
            "--transceiver=1=10.0.0.1:4000",
            "--cluster=1",
            f"--fleet={fleet}",
            "--cluster-relay=3=10.3.0.9:50100",
            "--cluster-relay=3=10.3.0.10:50100",
            "--fleet-dns=relays.{cluster}.backbone.example:50100",
            "--fleet-refresh=2",
            "--backbone-network=10.0.0.0/8",
        )
    )
    assert config.fleet_file == str(fleet)
    assert dict(config.fleet_static) == {3: (("10.3.0.9", 50100), ("10.3.0.10", 50100))}
    assert config.fleet_pattern is not None and config.fleet_pattern.port == 50100
    assert (config.fleet_refresh, config.backbone_networks) == (2, ("10.0.0.0/8",))
    router = config.build_router()
    # The flags win over the file for cluster 3; the file gives cluster 2.
    assert router.fleet.relays(3, now=0) == (("10.3.0.9", 50100), ("10.3.0.10", 50100))
    assert router.fleet.relays(2, now=0) == (("10.2.0.5", 50100),)
    assert router.backbone.allows("10.99.0.1")


@pytest.mark.parametrize(
    "flag",
    [
        "--cluster-relay=x=10.0.0.1:1",
        "--cluster-relay=2=10.0.0.1",
        "--fleet-dns=relays.example:1",
        "--backbone-network=not-a-network",
    ],
)
def test_bad_fleet_flags_are_refused(monkeypatch: pytest.MonkeyPatch, flag: str) -> None:
    monkeypatch.setenv(KEYS_ENV, KEYS)
    with pytest.raises(ConfigError, match=flag.partition("=")[0]):
        build_config(parse("--transceiver=1=10.0.0.1:4000", flag))


@pytest.mark.parametrize("flag", ["--fleet-refresh=0", "--dns-refresh=-1", "--client-rate=x"])
def test_periods_and_rates_must_be_positive(flag: str) -> None:
    with pytest.raises(SystemExit):
        parse("--transceiver=1=10.0.0.1:4000", flag)


def test_help_documents_the_fleet_flags() -> None:
    text = subprocess.run(
        [sys.executable, "-m", "voice", "relay", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in (
        "--fleet",
        "--cluster-relay",
        "--fleet-dns",
        "--fleet-refresh",
        "--backbone-network",
    ):
        assert flag in text
    assert '"clusters"' in text


def test_an_ingress_only_relay_needs_only_a_fleet_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEYS_ENV, KEYS)
    config = build_config(parse("--cluster=1", "--cluster-relay=2=10.2.0.5:50100"))
    assert dict(config.static_directory) == {} and config.dns_pattern is None
