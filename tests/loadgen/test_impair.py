"""The impairment link: its scheduling core with explicit times and seeds, then real
forwarding over loopback sockets."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing
from trio.socket import SocketType

from voice.loadgen.impair import GilbertElliott, ImpairedPath, Impairment, ImpairmentLink

SPACING = 0.020  # a 20 ms packet stream


def run_stream(
    impairment: Impairment, count: int, seed: int = 7
) -> tuple[ImpairedPath, list[tuple[float, int]]]:
    """Submits ``count`` numbered datagrams 20 ms apart and collects (departure, number),
    asking the path exactly at each of its timers, as a driver does."""
    path = ImpairedPath(impairment, seed=seed)
    out: list[tuple[float, int]] = []
    arrivals = [n * SPACING for n in range(count)]

    def due(now: float) -> list[bytes]:
        path.handle_timeout(now)
        return path.datagrams_to_send()

    def drain_until(limit: float) -> None:
        while (timer := path.get_timer()) is not None and timer <= limit:
            out.extend((timer, int(d)) for d in due(timer))

    for n, now in enumerate(arrivals):
        drain_until(now)
        path.submit(str(n).encode(), now)
        out.extend((now, int(d)) for d in due(now))
    drain_until(float("inf"))
    return path, out


def test_no_impairment_passes_everything_at_once_in_order() -> None:
    path, out = run_stream(Impairment(), 100)
    assert [n for _, n in out] == list(range(100))
    assert [t for t, _ in out] == [n * SPACING for n in range(100)]
    assert path.stats.delivered == 100 and path.stats.lost == 0
    assert path.get_timer() is None and len(path) == 0


def test_fixed_delay_shifts_every_datagram_and_keeps_order() -> None:
    _, out = run_stream(Impairment(delay=0.050), 50)
    assert [n for _, n in out] == list(range(50))
    assert [t for t, _ in out] == pytest.approx([n * SPACING + 0.050 for n in range(50)])


def test_nothing_leaves_before_its_time() -> None:
    path = ImpairedPath(Impairment(delay=0.1), seed=1)
    path.submit(b"a", 1.0)
    path.handle_timeout(1.0999)
    assert path.datagrams_to_send() == []
    assert path.get_timer() == pytest.approx(1.1)
    path.handle_timeout(1.1)
    assert path.datagrams_to_send() == [b"a"]
    assert path.datagrams_to_send() == []  # drained


def test_random_loss_rate_and_isolated_losses() -> None:
    path, out = run_stream(Impairment(loss=0.10), 5000)
    assert 0.08 < path.stats.lost_random / 5000 < 0.12
    assert path.stats.lost_burst == 0
    assert len(out) == 5000 - path.stats.lost
    # Bernoulli losses: runs of two or more are rare (about loss² of the packets).
    received = {n for _, n in out}
    pairs = sum(1 for n in range(4999) if n not in received and n + 1 not in received)
    assert pairs < 0.03 * 5000


def test_same_seed_same_fate_other_seed_other_fate() -> None:
    imp = Impairment(loss=0.2, delay=0.04, jitter=0.02, reorder=0.05, duplicate=0.05)
    assert run_stream(imp, 500, seed=3)[1] == run_stream(imp, 500, seed=3)[1]
    assert run_stream(imp, 500, seed=3)[1] != run_stream(imp, 500, seed=4)[1]


def test_gilbert_elliott_loses_in_runs_at_the_asked_rate() -> None:
    channel = GilbertElliott.from_rate(0.05, mean_burst=3.0)
    assert channel.loss_rate == pytest.approx(0.05)
    assert channel.r == pytest.approx(1 / 3)
    path, out = run_stream(Impairment(burst=channel), 20_000)
    assert path.stats.lost_random == 0
    assert 0.04 < path.stats.lost_burst / 20_000 < 0.06
    received = {n for _, n in out}
    runs, length = [], 0
    for n in range(20_000):
        if n in received:
            if length:
                runs.append(length)
            length = 0
        else:
            length += 1
    mean_run = sum(runs) / len(runs)
    assert 2.5 < mean_run < 3.5  # Bernoulli loss at 5 % would give runs of about 1.05


def test_gilbert_elliott_rejects_what_is_not_a_channel() -> None:
    with pytest.raises(ValueError):
        GilbertElliott(p=1.5, r=0.5)
    with pytest.raises(ValueError):
        GilbertElliott(p=0.1, r=0.0)
    with pytest.raises(ValueError):
        GilbertElliott.from_rate(0.05, mean_burst=0.5)
    with pytest.raises(ValueError):
        Impairment(loss=-0.1)
    with pytest.raises(ValueError):
        Impairment(jitter=-1.0)


def test_jitter_stays_within_its_bounds_and_reorders() -> None:
    _, out = run_stream(Impairment(delay=0.040, jitter=0.020), 2000)
    transit = [t - n * SPACING for t, n in out]
    assert min(transit) >= 0.020 - 1e-9 and max(transit) <= 0.060 + 1e-9
    assert 0.035 < sum(transit) / len(transit) < 0.045
    numbers = [n for _, n in out]
    overtaken = sum(1 for a, b in itertools.pairwise(numbers) if b < a)
    # Independent ±20 ms draws on a 20 ms stream: one neighbour pair in eight swaps.
    assert 0.06 * 2000 < overtaken < 0.2 * 2000
    assert [t for t, _ in out] == sorted(t for t, _ in out)  # departures never go back


def test_reordering_holds_a_datagram_behind_the_next_ones() -> None:
    path, out = run_stream(Impairment(reorder=0.02, reorder_delay=0.030), 5000)
    assert 0.01 * 5000 < path.stats.reordered < 0.03 * 5000
    numbers = [n for _, n in out]
    assert sorted(numbers) == list(range(5000))  # nothing lost, nothing doubled
    held = [n for t, n in out if t - n * SPACING == pytest.approx(0.030)]
    assert len(held) == path.stats.reordered
    # Held one and a half packet spacings, a datagram arrives after the one that followed
    # it and before the one after that.
    for n in held:
        if n + 2 < 5000 and n + 1 not in held and n + 2 not in held:
            assert numbers.index(n + 1) < numbers.index(n) < numbers.index(n + 2)


def test_duplication_sends_copies() -> None:
    path, out = run_stream(Impairment(duplicate=0.05), 4000)
    assert 0.035 * 4000 < path.stats.duplicated < 0.065 * 4000
    assert len(out) == 4000 + path.stats.duplicated
    assert {n for _, n in out} == set(range(4000))


def test_describe_names_each_setting() -> None:
    assert Impairment().describe() == "none"
    text = Impairment(
        loss=0.1,
        burst=GilbertElliott.from_rate(0.05),
        delay=0.04,
        jitter=0.02,
        reorder=0.02,
        duplicate=0.01,
    ).describe()
    for part in ("10% loss", "5% burst loss", "40±20 ms", "2% reorder", "1% duplicate"):
        assert part in text


# -- the Trio driver, on loopback --------------------------------------------------------


@asynccontextmanager
async def server_and_client() -> AsyncIterator[tuple[SocketType, SocketType]]:
    """Two UDP sockets on loopback, each bound to a port of its own: one the link's server,
    one its client."""
    with (
        trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as server,
        trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as client,
    ):
        await server.bind(("127.0.0.1", 0))
        await client.bind(("127.0.0.1", 0))
        yield server, client


async def _echo_server(
    sock: trio.socket.SocketType, prefix: bytes, task_status: trio.TaskStatus[None]
) -> None:
    task_status.started()
    while True:
        data, addr = await sock.recvfrom(2048)
        await sock.sendto(prefix + data, addr)


async def test_link_forwards_both_ways_between_client_and_server() -> None:
    link = ImpairmentLink(Impairment(), seed=1)
    async with server_and_client() as (server, client), trio.open_nursery() as nursery:
        await nursery.start(_echo_server, server, b"echo:")
        address = await nursery.start(link.run)
        assert link.route(server.getsockname()) == address
        for n in range(20):
            await client.sendto(b"%d" % n, address)
            data, source = await client.recvfrom(2048)
            assert data == b"echo:%d" % n
            assert source == address  # the client only ever sees the link
        assert link.client == client.getsockname()
        nursery.cancel_scope.cancel()
    assert link.up.stats.delivered == 20 and link.down.stats.delivered == 20


async def test_link_drops_what_its_paths_lose_and_counts_unrouted() -> None:
    # Everything toward the server is lost; nothing may come back.
    link = ImpairmentLink(Impairment(loss=1.0), Impairment(), seed=1)
    async with server_and_client() as (server, client), trio.open_nursery() as nursery:
        address = await nursery.start(link.run)
        await client.sendto(b"before routing", address)
        # Loopback delivers at once: when every task is blocked, the link has read it.
        await trio.testing.wait_all_tasks_blocked()
        assert link.unrouted == 1
        link.route(server.getsockname())
        for n in range(10):
            await client.sendto(b"%d" % n, address)
        # The server answers the link directly: that direction is not impaired.
        await server.sendto(b"hello", address)
        data, _ = await client.recvfrom(2048)
        assert data == b"hello"
        nursery.cancel_scope.cancel()
    assert link.unrouted == 1
    assert link.up.stats.lost_random == 10 and link.up.stats.delivered == 0


async def test_link_delays_on_the_trio_clock(autojump_clock: trio.abc.Clock) -> None:
    link = ImpairmentLink(Impairment(delay=0.250), seed=1)
    async with server_and_client() as (server, client), trio.open_nursery() as nursery:
        await nursery.start(_echo_server, server, b"")
        address = await nursery.start(link.run)
        link.route(server.getsockname())
        sent = trio.current_time()
        await client.sendto(b"x", address)
        await client.recvfrom(2048)
        # Both directions hold it 250 ms: the round trip is at least half a second.
        assert trio.current_time() - sent >= 0.5
        nursery.cancel_scope.cancel()


async def test_link_outlives_a_server_that_went_away() -> None:
    """Datagrams to a closed port vanish (the link's socket is unconnected, so no ICMP error
    comes back to it as a failed receive); the link carries on and forwards again once the
    server is back."""
    link = ImpairmentLink(Impairment(), seed=1)
    async with server_and_client() as (server, client):
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as gone:
            await gone.bind(("127.0.0.1", 0))
            closed_port = gone.getsockname()
        async with trio.open_nursery() as nursery:
            await nursery.start(_echo_server, server, b"back:")
            address = await nursery.start(link.run)
            link.route(closed_port)
            for n in range(5):
                await client.sendto(b"lost %d" % n, address)
                await trio.testing.wait_all_tasks_blocked()
            link.route(server.getsockname())
            await client.sendto(b"again", address)
            data, _ = await client.recvfrom(2048)
            assert data == b"back:again"
            nursery.cancel_scope.cancel()
