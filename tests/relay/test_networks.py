"""The shim source allowlist: networks, directory hosts, memoised answers."""

from __future__ import annotations

from voice.relay.networks import NetworkAllowlist


def test_networks_and_extra_hosts() -> None:
    extra = {"192.0.2.9"}
    allow = NetworkAllowlist(["10.0.0.0/8", "fd00::/8"], extra_hosts=lambda: extra)
    assert allow.allows("10.1.2.3")
    assert allow.allows("fd00::1")
    assert allow.allows("192.0.2.9")
    assert not allow.allows("192.0.2.10")
    assert not allow.allows("2001:db8::1")
    assert allow.allows("::ffff:10.0.0.1")  # an IPv4-mapped source is its IPv4 address
    assert not allow.allows("not an address")


def test_memo_is_invalidated_when_hosts_change() -> None:
    extra: set[str] = set()
    allow = NetworkAllowlist(extra_hosts=lambda: extra)
    assert not allow.allows("192.0.2.9")
    extra.add("192.0.2.9")
    assert not allow.allows("192.0.2.9")  # memoised
    allow.invalidate()
    assert allow.allows("192.0.2.9")


def test_memo_is_bounded() -> None:
    allow = NetworkAllowlist(["10.0.0.0/8"], memo_size=4)
    for n in range(100):
        assert not allow.allows(f"192.0.2.{n}")
    assert len(allow._memo) <= 4
    assert allow.allows("10.0.0.1")
