"""The transceiver directory: static entries, DNS pattern, and the cache policy on a fake clock."""

from __future__ import annotations

import pytest

from voice.errors import ConfigError
from voice.relay.directory import (
    Directory,
    DnsPattern,
    LookupMiss,
    ResolveRequest,
    parse_hostport,
    parse_static,
)

PATTERN = DnsPattern.parse("transceiver-{id}.transceivers.voice.svc.cluster.local:4000")
A1 = ("10.244.1.7", 4000)
A2 = ("10.244.2.9", 4000)


def test_static_entries_win_and_need_no_lookup() -> None:
    directory = Directory({1: ("10.0.0.1", 4000)}, PATTERN)
    assert directory.lookup(1, now=0) == ("10.0.0.1", 4000)
    assert not directory.wants_resolution
    assert Directory({1: A1}).lookup(2, now=0) is LookupMiss.UNKNOWN


def test_pattern_names_the_statefulset_pod() -> None:
    directory = Directory(pattern=PATTERN, cluster=3)
    assert directory.lookup(12, now=0) is LookupMiss.PENDING
    assert directory.take_requests() == [
        ResolveRequest(12, "transceiver-12.transceivers.voice.svc.cluster.local", 4000)
    ]
    assert directory.lookup(12, now=0.1) is LookupMiss.PENDING
    assert directory.take_requests() == []  # one lookup in flight per name
    directory.resolved(12, A1, now=0.2)
    assert directory.lookup(12, now=0.3) == A1
    with_cluster = Directory(pattern=DnsPattern.parse("t{id}.c{cluster}.example:1"), cluster=3)
    with_cluster.lookup(5, 0)
    assert with_cluster.take_requests()[0].host == "t5.c3.example"


def test_refresh_serves_the_old_address_meanwhile() -> None:
    directory = Directory(pattern=PATTERN, refresh=30)
    directory.lookup(1, 0)
    directory.take_requests()
    directory.resolved(1, A1, now=0)
    assert directory.lookup(1, now=29) == A1
    assert not directory.wants_resolution
    assert directory.lookup(1, now=30) == A1  # stale: still answered, and refreshed
    assert len(directory.take_requests()) == 1
    generation = directory.generation
    directory.resolved(1, A2, now=31)
    assert directory.lookup(1, now=32) == A2
    assert directory.generation == generation + 1


def test_failed_lookup_is_negatively_cached() -> None:
    directory = Directory(pattern=PATTERN, negative_ttl=5)
    directory.lookup(1, 0)
    directory.take_requests()
    directory.resolved(1, None, now=1)
    assert directory.lookup(1, now=2) is LookupMiss.FAILED
    assert not directory.wants_resolution
    assert directory.lookup(1, now=6) is LookupMiss.PENDING  # tried again after the TTL
    assert len(directory.take_requests()) == 1
    assert directory.failures == 1


def test_failed_refresh_keeps_the_last_good_address_for_a_while() -> None:
    directory = Directory(pattern=PATTERN, refresh=30, negative_ttl=5, stale_limit=100)
    directory.lookup(1, 0)
    directory.take_requests()
    directory.resolved(1, A1, now=0)
    directory.lookup(1, now=30)
    directory.take_requests()
    directory.resolved(1, None, now=31)
    assert directory.lookup(1, now=32) == A1
    assert not directory.wants_resolution
    assert directory.lookup(1, now=36) == A1  # asks again after the negative TTL
    directory.take_requests()
    directory.resolved(1, None, now=101)  # beyond the stale limit: give the address up
    assert directory.lookup(1, now=102) is LookupMiss.FAILED


def test_known_hosts() -> None:
    directory = Directory({1: ("10.0.0.1", 4000)}, PATTERN)
    directory.lookup(2, 0)
    directory.resolved(2, A1, now=0)
    assert directory.known_hosts() == {"10.0.0.1", A1[0]}
    directory.resolved(3, A2, now=0)  # an answer nobody asked for is ignored
    assert A2[0] not in directory.known_hosts()


def test_parse_hostport() -> None:
    assert parse_hostport("10.0.0.5:4000") == ("10.0.0.5", 4000)
    assert parse_hostport("[fd00::5]:4000") == ("fd00::5", 4000)
    assert parse_hostport("name.example:1") == ("name.example", 1)
    for bad in ("10.0.0.5", "fd00::5:4000", ":4000", "h:0", "h:70000", "h:x"):
        with pytest.raises(ValueError):
            parse_hostport(bad)


def test_pattern_parse_refuses_bad_templates() -> None:
    for bad in ("transceiver.example:4000", "t{name}.example:4000", "t{id.example:4000"):
        with pytest.raises(ValueError):
            DnsPattern.parse(bad)


def test_parse_static_json_and_toml() -> None:
    expected = {1: ("10.0.0.5", 4000), 2: ("fd00::2", 4000)}
    assert (
        parse_static('{"transceivers": {"1": "10.0.0.5:4000", "2": "[fd00::2]:4000"}}', toml=False)
        == expected
    )
    toml = '[transceivers]\n1 = "10.0.0.5:4000"\n2 = "[fd00::2]:4000"\n'
    assert parse_static(toml, toml=True) == expected
    for bad in ("{", '{"x": 1}', '{"transceivers": {"a": "h:1"}}', '{"transceivers": {"1": 5}}'):
        with pytest.raises(ValueError):
            parse_static(bad, toml=False)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,  # nested past the JSON parser's recursion limit
        '{"transceivers": {"\u00b2": "10.0.0.5:4000"}}',  # a digit int() does not read
        '{"transceivers": {"1": "10.0.0.5:\u00b2"}}',
    ],
)
def test_directory_files_int_and_json_cannot_read_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_static(text, toml=False)
