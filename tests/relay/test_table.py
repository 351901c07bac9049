"""The soft table: lookups refresh, idle entries expire, a full table evicts the oldest."""

from __future__ import annotations

import pytest

from voice.relay.shim import shim_header
from voice.relay.table import RouteTable

T1 = ("10.0.0.1", 4000)
T2 = ("10.0.0.2", 4000)


def client(n: int) -> tuple[str, int]:
    return ("198.51.100.1", 10000 + n)


def test_update_then_lookup() -> None:
    table = RouteTable(10, idle_timeout=30)
    route = table.update(client(1), T1, now=0)
    assert route.header == shim_header(client(1))
    assert table.lookup(client(1), now=1) is route
    assert route.transceiver == T1
    assert table.lookup(client(2), now=1) is None


def test_idle_entries_expire_and_do_not_come_back() -> None:
    table = RouteTable(10, idle_timeout=30)
    table.update(client(1), T1, now=0)
    table.update(client(2), T1, now=10)
    assert table.get_timer() == 30
    table.handle_timeout(now=30)
    assert table.expired == 0  # exactly the timeout is still alive
    table.handle_timeout(now=30.5)
    assert table.expired == 1
    assert client(1) not in table and client(2) in table
    # An expired entry that was not swept yet is not resurrected by a lookup.
    assert table.lookup(client(2), now=41) is None
    assert len(table) == 0
    assert table.expired == 2
    assert table.get_timer() is None


def test_use_keeps_an_entry_alive() -> None:
    table = RouteTable(10, idle_timeout=30)
    table.update(client(1), T1, now=0)
    for t in range(20, 200, 20):
        assert table.lookup(client(1), now=t) is not None
    table.handle_timeout(now=200)
    assert table.expired == 0


def test_full_table_evicts_the_least_recently_used() -> None:
    table = RouteTable(3, idle_timeout=100)
    for n in range(3):
        table.update(client(n), T1, now=n)
    table.lookup(client(0), now=5)  # client 1 is now the least recently used
    table.update(client(3), T1, now=6)
    assert len(table) == 3
    assert client(1) not in table
    assert {client(0), client(2), client(3)} == {c for c in map(client, range(4)) if c in table}
    assert table.evicted == 1


def test_full_table_prefers_expiring_idle_entries() -> None:
    table = RouteTable(2, idle_timeout=10)
    table.update(client(0), T1, now=0)
    table.update(client(1), T1, now=5)
    table.update(client(2), T1, now=12)  # client 0 is idle: expired, not evicted
    assert table.expired == 1 and table.evicted == 0
    assert client(1) in table and client(2) in table


def test_transceiver_statement_repoints_the_entry() -> None:
    table = RouteTable(10, idle_timeout=30)
    first = table.update(client(1), T1, now=0)
    second = table.update(client(1), T2, now=1)
    assert second is first and first.transceiver == T2
    assert len(table) == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        RouteTable(0)
    with pytest.raises(ValueError):
        RouteTable(10, idle_timeout=0)
    assert RouteTable().remove(client(1)) is False
