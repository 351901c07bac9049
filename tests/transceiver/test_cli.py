"""`voice transceiver`: flags, fleet keys like `voice relay`, tokens naming this transceiver."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pytest

from voice.cli import build_parser
from voice.cli.relay import KEYS_ENV
from voice.cli.transceiver import build_config
from voice.errors import ConfigError
from voice.relay.token import TokenKey, TokenVerifier

CURRENT = TokenKey(2, bytes.fromhex("ab" * 16))
PREVIOUS = TokenKey(1, bytes.fromhex("cd" * 16))
KEYS = f"2:{'ab' * 16}, 1:{'cd' * 16}"
ROOT = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["transceiver", *argv])


def test_flags_build_a_fleet_member(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEYS_ENV, KEYS)
    config = build_config(
        parse(
            "--transceiver-id=7",
            "--cluster=3",
            "--http-host=0.0.0.0",
            "--http-port=8443",
            "--relay-input=10.1.2.3:4000",
            "--relay-network=10.0.0.0/8",
            "--relay-network=fd00::/8",
            "--advertise=198.51.100.1:3478",
            "--advertise=[2001:db8::1]:3478",
            "--max-sessions=5",
            "--agent=tone",
            "--idle-timeout=9",
        )
    )
    assert (config.http_host, config.http_port) == ("0.0.0.0", 8443)
    assert config.relay is None  # the relay runs elsewhere
    t = config.transceiver
    assert t.relay_input == ("10.1.2.3", 4000)
    assert t.udp_host == "10.1.2.3"
    assert t.udp_port is None  # no client-facing socket of its own: behind the relay only
    assert t.relay_networks == ("10.0.0.0/8", "fd00::/8")
    assert list(t.advertised) == [("198.51.100.1", 3478), ("2001:db8::1", 3478)]
    assert (t.max_sessions, t.default_agent, t.limits.idle_timeout) == (5, "tone", 9)
    # Every ufrag is a fresh routing token naming this transceiver, minted with the first
    # (current) key, which a relay holding both keys accepts.
    first, second = t.ufrag_factory(), t.ufrag_factory()
    assert first != second
    target = TokenVerifier([PREVIOUS, CURRENT]).verify(first, time.time())
    assert target is not None and (target.cluster, target.transceiver) == (3, 7)
    assert TokenVerifier([CURRENT]).verify(first, time.time()) == target
    assert TokenVerifier([PREVIOUS]).verify(first, time.time()) is None


def test_defaults_are_loopback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(KEYS_ENV, raising=False)
    keyfile = tmp_path / "keys"
    keyfile.write_text(f"# the same format as voice relay's\n2:{'ab' * 16}\n")
    config = build_config(
        parse("--transceiver-id=1", "--advertise=127.0.0.1:50000", f"--key-file={keyfile}")
    )
    t = config.transceiver
    assert t.relay_input == ("127.0.0.1", 4000)
    assert t.relay_networks == ("127.0.0.0/8", "::1/128")
    assert (config.http_host, config.http_port) == ("127.0.0.1", 8080)
    target = TokenVerifier([CURRENT]).verify(t.ufrag_factory(), time.time())
    assert target is not None and (target.cluster, target.transceiver) == (0, 1)


def test_bad_settings_are_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYS_ENV, raising=False)
    required = ("--transceiver-id=1", "--advertise=127.0.0.1:50000")
    with pytest.raises(ValueError, match="fleet key"):
        build_config(parse(*required))
    monkeypatch.setenv(KEYS_ENV, KEYS)
    with pytest.raises(ValueError):
        build_config(parse(*required, "--relay-network=not-a-net"))
    with pytest.raises(ConfigError, match="unknown agent"):
        build_config(parse(*required, "--agent=nobody"))
    for too_large in ("--transceiver-id=70000", "--cluster=65536"):  # a token's 16 bits
        with pytest.raises(SystemExit):
            parse(*required, too_large)


def test_a_statefulset_pod_name_gives_its_ordinal_as_the_id() -> None:
    required = "--advertise=127.0.0.1:50000"
    assert parse("--transceiver-id=transceiver-12", required).transceiver_id == 12
    assert parse("--transceiver-id=voice-transceiver-0", required).transceiver_id == 0
    assert parse("--transceiver-id=7", required).transceiver_id == 7
    for bad in ("transceiver", "transceiver-x", ""):
        with pytest.raises(SystemExit):
            parse(f"--transceiver-id={bad}", required)


def test_id_and_advertised_address_are_required(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--advertise=127.0.0.1:50000"], ["--transceiver-id=1"]):
        with pytest.raises(SystemExit):
            parse(*argv)
    with pytest.raises(SystemExit):
        parse("--transceiver-id=1", "--advertise=nowhere")
    assert "is not HOST:PORT" in capsys.readouterr().err


def test_bad_keys_exit_with_a_message_and_no_secret() -> None:
    argv = ["transceiver", "--transceiver-id=1", "--advertise=127.0.0.1:50000"]
    result = subprocess.run(
        [sys.executable, "-m", "voice", *argv],
        capture_output=True,
        text=True,
        env={KEYS_ENV: "9:" + "ab" * 16},  # key ids are 0-3
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "voice transceiver: error: $VOICE_FLEET_KEYS: fleet key 1: key id" in result.stderr
    assert "Traceback" not in result.stderr
    assert "abab" not in result.stderr + result.stdout


def test_help_explains_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--help")
    text = capsys.readouterr().out
    for flag in (
        "--http-host",
        "--http-port",
        "--transceiver-id",
        "--cluster",
        "--relay-input",
        "--relay-network",
        "--advertise",
        "--key-file",
        KEYS_ENV,
        "--max-sessions",
        "--agent",
        "--consent-timeout",
        "--handshake-timeout",
        "--idle-timeout",
        "--bearer-token-env",
        "--log-level",
        "--drain-timeout",
        "voice relay",
    ):
        assert flag in text, flag
