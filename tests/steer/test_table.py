"""The steering decision: nearest region by prefix, skipping regions down or full, and the
ingresses nearest the caller (VOICE-STEER §3, §4). Pure data: no network, no clock."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from voice.errors import ConfigError
from voice.steer.table import (
    RegionHealth,
    choose,
    load_table,
    parse_table,
    redirect_url,
)

TABLE = {
    "region": [
        {"name": "eu", "signaling": "http://10.1.0.2:8080", "ingress": "eu", "capacity": 2},
        {"name": "us", "signaling": "http://10.2.0.2:8080/", "ingress": "us", "capacity": 2},
    ],
    "prefix": [
        {"network": "10.0.0.0/8", "regions": ["us", "eu"]},
        {"network": "10.1.0.0/16", "regions": ["eu", "us"]},
        {"network": "fd00:1::/32", "regions": ["eu"]},
    ],
}
UP = RegionHealth(signaling_up=True, ingress_up=True, sessions=0)


def test_longest_prefix_names_the_nearest_region_first() -> None:
    table = parse_table(TABLE)
    assert [r.name for r in table.order_for("10.1.5.5")] == ["eu", "us"]
    assert [r.name for r in table.order_for("10.9.0.1")] == ["us", "eu"]
    assert [r.name for r in table.order_for("fd00:1::7")] == ["eu", "us"]
    # No match (and an unparsable address): every region, in file order.
    assert [r.name for r in table.order_for("192.0.2.1")] == ["eu", "us"]
    assert [r.name for r in table.order_for("not-an-address")] == ["eu", "us"]


def test_healthy_nearest_region_gets_the_call_with_nearest_ingresses_first() -> None:
    table = parse_table(TABLE)
    decision = choose(table, "10.1.0.9", {"eu": UP, "us": UP})
    assert decision is not None
    assert decision.region.name == "eu"
    assert decision.ingresses == ("eu", "us")
    url = redirect_url(decision, [("agent", "echo"), ("ingress", "forged")])
    assert url == "http://10.1.0.2:8080/v1/sessions?agent=echo&ingress=eu%2Cus"


def test_entries_sharing_an_ingress_name_it_once() -> None:
    table = parse_table(
        {
            "region": [
                {"name": "a1", "signaling": "http://10.1.0.2:8081", "ingress": "a"},
                {"name": "a2", "signaling": "http://10.1.0.2:8082", "ingress": "a"},
                {"name": "b1", "signaling": "http://10.2.0.2:8081", "ingress": "b"},
            ]
        }
    )
    decision = choose(table, "10.1.0.9", {"a1": UP, "a2": UP, "b1": UP})
    assert decision is not None and decision.ingresses == ("a", "b")


def test_region_down_or_full_is_skipped_and_a_dead_ingress_is_not_named() -> None:
    table = parse_table(TABLE)
    down = RegionHealth(signaling_up=False, ingress_up=False)
    full = RegionHealth(signaling_up=True, ingress_up=True, sessions=2)
    relay_gone = RegionHealth(signaling_up=True, ingress_up=False)
    for eu in (down, full):
        decision = choose(table, "10.1.0.9", {"eu": eu, "us": UP})
        assert decision is not None and decision.region.name == "us"
    decision = choose(table, "10.1.0.9", {"eu": full, "us": UP})
    assert decision is not None and decision.ingresses == ("eu", "us")  # full, relay fine
    # Its relay gone, a region can carry no call (its media would all cross that relay).
    decision = choose(table, "10.1.0.9", {"eu": relay_gone, "us": UP})
    assert decision is not None
    assert decision.region.name == "us" and decision.ingresses == ("us",)
    # Nobody can take it; never polled counts as down.
    assert choose(table, "10.1.0.9", {"eu": down, "us": full}) is None
    assert choose(table, "10.1.0.9", {}) is None


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"region": []}, "no [[region]]"),
        ({"region": [{"name": "x", "signaling": "ftp://h"}]}, "http(s) base URL"),
        ({"region": [{"name": "x", "signaling": "http://h/v1"}]}, "http(s) base URL"),
        ({"region": [{"name": "x", "signaling": "http://h", "ingress": "a b"}]}, "ingress"),
        ({"region": [{"name": "x", "signaling": "http://h", "capacity": -1}]}, "capacity"),
        ({"prefix": [{"network": "10.0.0.0/33", "regions": ["eu"]}]}, "prefix 1"),
        ({"prefix": [{"network": "10.0.0.0/8", "regions": ["mars"]}]}, "unknown region"),
    ],
)
def test_malformed_files_are_refused_with_the_reason(change: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        parse_table({**TABLE, **change})


def test_load_table_reads_toml(tmp_path: Path) -> None:
    path = tmp_path / "regions.toml"
    path.write_text(
        '[[region]]\nname = "eu"\nsignaling = "http://127.0.0.1:1"\n'
        '[[prefix]]\nnetwork = "127.0.0.0/8"\nregions = ["eu"]\n'
    )
    assert load_table(path).regions[0].name == "eu"
    path.write_text("[[region]\n")
    with pytest.raises(ConfigError, match=r"regions\.toml"):
        load_table(path)
    path.write_text("x = " + "[" * 100_000)  # nested past tomllib's recursion limit
    with pytest.raises(ConfigError, match=r"regions\.toml"):
        load_table(path)
    path.write_text('[[region]]\nname = "eu"\nsignaling = "ftp://x"\n')
    with pytest.raises(ConfigError, match=r"regions\.toml: region eu: signaling"):
        load_table(path)
