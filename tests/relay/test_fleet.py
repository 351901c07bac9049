"""The fleet view (VOICE-RELAY §12): cluster -> its relays, static, by DNS, re-read."""

from __future__ import annotations

import pytest

from voice.errors import ConfigError
from voice.relay.directory import LookupMiss
from voice.relay.fleet import Fleet, FleetPattern, parse_fleet, pick

A = ("10.2.0.5", 50100)
B = ("10.2.0.6", 50100)


def test_static_entries_win_over_the_pattern() -> None:
    fleet = Fleet({2: [A]}, FleetPattern.parse("relays.{cluster}.example:50100"))
    assert fleet.relays(2, now=0) == (A,)
    assert not fleet.wants_resolution
    assert fleet.relays(3, now=0) is LookupMiss.PENDING
    (request,) = fleet.take_requests()
    assert (request.cluster, request.host, request.port) == (3, "relays.3.example", 50100)


def test_without_a_pattern_an_unlisted_cluster_is_unknown() -> None:
    assert Fleet({2: [A]}).relays(3, now=0) is LookupMiss.UNKNOWN
    assert not Fleet().configured
    assert Fleet({2: [A]}).configured


def test_dns_answers_are_cached_refreshed_ahead_and_kept_when_a_refresh_fails() -> None:
    fleet = Fleet(pattern=FleetPattern.parse("r{cluster}.x:1"), refresh=30, negative_ttl=5)
    assert fleet.relays(2, now=0) is LookupMiss.PENDING
    assert fleet.relays(2, now=0.1) is LookupMiss.PENDING  # one lookup at a time
    assert len(fleet.take_requests()) == 1
    fleet.resolved(2, [B, A, A], now=0.2)
    assert fleet.relays(2, now=1) == (A, B)
    assert fleet.known_hosts() == {A[0], B[0]}
    assert fleet.relays(2, now=40) == (A, B)  # stale: served while it refreshes
    assert len(fleet.take_requests()) == 1
    fleet.resolved(2, None, now=41)  # the refresh fails: the last good answer stays
    assert fleet.relays(2, now=42) == (A, B)
    assert fleet.failures == 1


def test_a_failed_first_lookup_is_negatively_cached() -> None:
    fleet = Fleet(pattern=FleetPattern.parse("r{cluster}.x:1"), negative_ttl=5)
    fleet.relays(2, now=0)
    fleet.take_requests()
    fleet.resolved(2, [], now=1)
    assert fleet.relays(2, now=2) is LookupMiss.FAILED
    assert fleet.relays(2, now=7) is LookupMiss.PENDING


def test_replacing_the_static_view_changes_the_generation_and_the_hosts() -> None:
    fleet = Fleet({2: [A]})
    generation = fleet.generation
    fleet.replace_static({2: [B]})
    assert fleet.generation != generation
    assert fleet.relays(2, now=0) == (B,)
    assert fleet.known_hosts() == {B[0]}


def test_pick_is_stable_per_client_and_spreads_clients() -> None:
    relays = (A, B)
    clients = [("198.51.100.7", 40000 + n) for n in range(64)]
    assert all(pick(relays, c) == pick(relays, c) for c in clients)
    assert {pick(relays, c) for c in clients} == {A, B}
    assert pick((A,), clients[0]) == A


def test_fleet_files_json_and_toml() -> None:
    assert parse_fleet(
        '{"clusters": {"2": ["10.2.0.5:50100", "[fd00::6]:50100"]}}', toml=False
    ) == {2: (A, ("fd00::6", 50100))}
    assert parse_fleet('[clusters]\n2 = ["10.2.0.5:50100"]\n3 = "10.3.0.5:1"\n', toml=True) == {
        2: (A,),
        3: (("10.3.0.5", 1),),
    }


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "{}",
        '{"clusters": []}',
        '{"clusters": {"x": ["10.0.0.1:1"]}}',
        '{"clusters": {"70000": ["10.0.0.1:1"]}}',
        '{"clusters": {"2": [1]}}',
        '{"clusters": {"2": ["10.0.0.1"]}}',
    ],
)
def test_bad_fleet_files_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError):
        parse_fleet(text, toml=False)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,  # nested past the JSON parser's recursion limit
        '{"clusters": {"\u00b2": ["10.0.0.1:1"]}}',  # a digit int() does not read
        '{"clusters": {"2": ["10.0.0.1:\u00b2"]}}',
    ],
)
def test_fleet_files_int_and_json_cannot_read_are_config_errors(text: str) -> None:
    """The worker re-reads the file while it runs and keeps its last view on a ConfigError;
    anything else would end the worker."""
    with pytest.raises(ConfigError):
        parse_fleet(text, toml=False)


def test_patterns_need_a_cluster_placeholder() -> None:
    with pytest.raises(ValueError):
        FleetPattern.parse("relays.example:1")
    with pytest.raises(ValueError):
        FleetPattern.parse("relays.{id}.{cluster}.example:1")
