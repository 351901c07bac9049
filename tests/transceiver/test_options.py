"""The options `voice serve` and `voice transceiver` share, and the config they build."""

from __future__ import annotations

import argparse

import pytest

from voice.cli import build_parser
from voice.cli.options import (
    check_session_options,
    hostport,
    signaling_config,
    transceiver_config,
)
from voice.errors import ConfigError


def test_hostport_reads_ipv4_ipv6_names_and_port_zero() -> None:
    assert hostport("127.0.0.1:0") == ("127.0.0.1", 0)
    assert hostport("[::1]:4000") == ("::1", 4000)
    assert hostport("relay.example:50000") == ("relay.example", 50000)
    for bad in ("4000", ":4000", "host:", "host:port", "host:70000"):
        with pytest.raises(argparse.ArgumentTypeError):
            hostport(bad)


@pytest.mark.parametrize("command", [["serve"], ["transceiver", "--transceiver-id=1"]])
def test_both_commands_take_the_same_call_options(command: list[str]) -> None:
    argv = [
        *command,
        "--advertise=127.0.0.1:1" if command[0] == "transceiver" else "--direct",
        "--max-sessions=3",
        "--agent=tone",
        "--consent-timeout=4",
        "--handshake-timeout=5",
        "--idle-timeout=6",
    ]
    args = build_parser().parse_args(argv)
    check_session_options(args)
    config = transceiver_config(args, udp_host="127.0.0.1")
    assert (config.max_sessions, config.default_agent, config.consent_timeout) == (3, "tone", 4)
    assert (config.limits.handshake_timeout, config.limits.idle_timeout) == (5, 6)


def test_unknown_agent_is_named() -> None:
    args = build_parser().parse_args(["serve", "--agent=nobody"])
    with pytest.raises(ConfigError, match="--agent: unknown agent 'nobody'; choose from echo"):
        check_session_options(args)


@pytest.mark.parametrize("command", [["serve"], ["transceiver", "--transceiver-id=1"]])
def test_signaling_limits_and_cors_flags_reach_the_configs(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICE_BEARER_TOKEN", "tok")
    argv = [
        *command,
        "--advertise=127.0.0.1:1" if command[0] == "transceiver" else "--direct",
        "--max-pending=7",
        "--max-pending-per-client=2",
        "--check-timeout=1.5",
        "--client-rate=3",
        "--client-burst=9",
        "--global-rate=11",
        "--global-burst=12",
        "--body-timeout=2.5",
        "--cors-origin=https://a.example",
        "--cors-origin=http://localhost:3000",
    ]
    args = build_parser().parse_args(argv)
    check_session_options(args)
    config = transceiver_config(args, udp_host="127.0.0.1")
    assert (config.max_pending, config.max_pending_per_client, config.check_timeout) == (7, 2, 1.5)
    signaling = signaling_config(args)
    assert signaling.bearer_token == "tok"
    assert (signaling.client_rate, signaling.client_burst) == (3, 9)
    assert (signaling.global_rate, signaling.global_burst) == (11, 12)
    assert signaling.body_timeout == 2.5
    assert signaling.cors_origins == ("https://a.example", "http://localhost:3000")


@pytest.mark.parametrize(
    ("flag", "says"),
    [
        ("--cors-origin=app.example", "not an origin"),
        ("--cors-origin=https://app.example/", "not an origin"),
        ("--max-pending=0", "at least 1"),
    ],
)
def test_bad_signaling_flags_are_named(flag: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        check_session_options(build_parser().parse_args(["serve", flag]))


@pytest.mark.parametrize("flag", ["--client-rate=0", "--global-burst=-1", "--client-burst=nan"])
def test_rates_and_bursts_must_be_positive(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", flag])
    assert "is not a positive number" in capsys.readouterr().err
