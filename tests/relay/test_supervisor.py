"""The multi-process relay: `voice relay --workers 2` as a real process tree on loopback.

Shows that the kernel steers each client to one worker (the BPF program in the running
relay picks the worker :func:`steering_index` names), that the worker answering for a
client is always the one holding its entry, and that flows resume after a worker is killed
and after the whole relay is killed and started again, from either side.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import trio

from tests.support.netns import extra_addresses
from tests.support.processes import wait_for_exit
from tests.support.rawudp import raw_udp_available, send_raw_udp
from tests.support.relay import FakeTransceiver
from voice.relay.steering import steering_index
from voice.types import Address

from .conftest import KEY, Client, check

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(
    r"relay ready: public ([\d.]+):(\d+), (\d+) workers \(steering: ([\w-]+)\), "
    r"internal ports ([\d,]+), pids ([\d,]+)"
)
STARTUP = 20  # hang guard for process start-up on a loaded machine, not a timing assert


def free_port_pair() -> int:
    """A base port such that base and base+1 are both free for UDP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first:
            first.bind(("127.0.0.1", 0))
            base = first.getsockname()[1]
            if base >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as second:
                try:
                    second.bind(("127.0.0.1", base + 1))
                except OSError:
                    continue
                return base
    raise RuntimeError("no two consecutive free ports")


def two_workers_args(internal_port: int, *fakes: FakeTransceiver) -> list[str]:
    """`voice relay` flags for two workers whose internal sockets are on loopback from
    ``internal_port`` up, with transceiver n (from 1) at the n-th fake, and no periodic log
    line. The caller adds the public side (``--host``, ``--port``)."""
    args = [
        "--workers=2",
        "--internal-host=127.0.0.1",
        f"--internal-port={internal_port}",
        "--log-interval=0",
    ]
    for n, fake in enumerate(fakes, start=1):
        assert fake.address is not None
        args.append(f"--transceiver={n}=127.0.0.1:{fake.address[1]}")
    return args


class RelayProcess:
    """`python -m voice relay ...` with its log lines collected as they come."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.lines: list[str] = []
        self._new_line = trio.Event()
        self.process: trio.Process | None = None

    async def start(self, nursery: trio.Nursery) -> re.Match[str]:
        env = dict(os.environ, VOICE_FLEET_KEYS=f"{KEY.key_id}:{KEY.secret.hex()}")
        # run_process under nursery.start: when the test ends, however it ends, the nursery
        # is cancelled and the relay is terminated with it.
        self.process = await nursery.start(
            partial(
                trio.run_process,
                [sys.executable, "-m", "voice", "relay", *self.args],
                stderr=subprocess.PIPE,
                cwd=ROOT,
                env=env,
                check=False,
            )
        )
        nursery.start_soon(self._read)
        line = await self.wait_for("relay ready")
        ready = READY.search(line)
        assert ready is not None, line
        return ready

    async def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        pending = b""
        async for chunk in self.process.stderr:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                self.lines.append(line.decode(errors="replace"))
            self._new_line.set()
            self._new_line = trio.Event()

    async def wait_for(self, text: str, start: int = 0) -> str:
        seen = start
        while True:
            for line in self.lines[seen:]:
                if text in line:
                    return line
            seen = len(self.lines)
            await self._new_line.wait()

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        await self.process.wait()


async def exchange(client: Client, fake: FakeTransceiver, public: Address, data: bytes) -> Address:
    """Client -> relay -> transceiver -> relay -> client; returns the relay socket used."""
    await client.send(data, public)
    got = await fake.next()
    assert got.payload == data and got.client == client.address
    assert await client.receive() == (data, public)
    return got.relay


async def test_workers_steering_respawn_and_full_restart(nursery: trio.Nursery) -> None:
    t1, t2 = FakeTransceiver(), FakeTransceiver()
    for fake in (t1, t2):
        await nursery.start(fake.run)
    assert t1.address is not None and t2.address is not None
    base = free_port_pair()
    args = [*two_workers_args(base, t1, t2), "--host=127.0.0.1"]
    relay = RelayProcess([*args, "--port=0"])
    with trio.fail_after(STARTUP):
        ready = await relay.start(nursery)
    public = (ready.group(1), int(ready.group(2)))
    assert ready.group(4) == "bpf"
    internal_ports = [int(p) for p in ready.group(5).split(",")]
    assert internal_ports == [base, base + 1]
    pids = [int(p) for p in ready.group(6).split(",")]

    with trio.fail_after(STARTUP):
        # Twelve calls, alternating transceivers, six on each worker. Ephemeral ports are
        # random, so twelve of them all hash to one worker once in ~2000 runs: keep opening
        # clients until each worker has its six, so the test always exercises both.
        clients: list[Client] = []
        per_worker = [0, 0]
        while len(clients) < 12:
            client = await Client().open()
            index = steering_index(client.address, 2)
            if per_worker[index] < 6:
                per_worker[index] += 1
                clients.append(client)
            else:
                client.close()
        owner = {c.address: (t1 if n % 2 == 0 else t2) for n, c in enumerate(clients)}
        worker_of: dict[Address, int] = {}
        for n, client in enumerate(clients):
            fake = owner[client.address]
            await client.send(check(1 if n % 2 == 0 else 2), public)
            got = await fake.next()
            await client.receive()
            worker = internal_ports.index(got.relay[1])
            # The worker the running relay used is the one the steering hash names.
            assert worker == steering_index(client.address, 2)
            worker_of[client.address] = worker
        assert set(worker_of.values()) == {0, 1}
        for round_ in range(3):
            for client in clients:
                relay_socket = await exchange(
                    client, owner[client.address], public, b"\x80 rtp %d" % round_
                )
                assert internal_ports.index(relay_socket[1]) == worker_of[client.address]

        # Kill worker 0. The supervisor respawns it on the same sockets; its table is empty.
        mark = len(relay.lines)
        os.kill(pids[0], signal.SIGKILL)
        await relay.wait_for("relay worker 0 ready again", mark)
        for client in clients:
            fake = owner[client.address]
            # Transceiver first: its packet goes to the internal socket it knows, the new
            # worker rebuilds the entry, then the client's media flows with no new check.
            await fake.send(client.address, b"\x80 agent speaks")
            assert await client.receive() == (b"\x80 agent speaks", public)
            relay_socket = await exchange(client, fake, public, b"\x80 caller speaks")
            assert internal_ports.index(relay_socket[1]) == worker_of[client.address]

        # Kill the whole relay (the supervisor; its workers die with it) and start it again
        # on the same ports.
        respawned = re.search(r"\(pid (\d+)\)", await relay.wait_for("respawned", mark))
        assert respawned is not None
        await relay.kill()
        for pid in (pids[1], int(respawned.group(1))):
            await wait_for_exit(pid)
        killed_at = time.monotonic()
        restarted = RelayProcess([*args, f"--port={public[1]}"])
        ready = await restarted.start(nursery)
        ready_at = time.monotonic()
        half = len(clients) // 2
        # Half the calls resume transceiver first, half client first (their next check).
        for client in clients[:half]:
            fake = owner[client.address]
            await fake.send(client.address, b"\x80 after restart")
            assert await client.receive() == (b"\x80 after restart", public)
        for n, client in enumerate(clients[half:], start=half):
            consent = check(1 if n % 2 == 0 else 2)
            await client.send(consent, public)
            await owner[client.address].next()
            await client.receive()
        for client in clients:
            relay_socket = await exchange(client, owner[client.address], public, b"\x80 again")
            assert internal_ports.index(relay_socket[1]) == worker_of[client.address]
        resumed_at = time.monotonic()
        print(
            f"full restart: ready {1000 * (ready_at - killed_at):.0f} ms after the kill, "
            f"all {len(clients)} calls flowing both ways {1000 * (resumed_at - ready_at):.1f} ms "
            "after ready"
        )
        await restarted.kill()


async def test_wildcard_relay_process_answers_from_the_address_written_to(
    nursery: trio.Nursery,
) -> None:
    """Issue 11 §5b as measured: `voice relay --workers 2` on its default wildcard host, on
    a machine with loopback and an interface of two addresses. Each client, writing to any
    of them, is answered from that address, by whichever worker steering picks."""
    fake = FakeTransceiver()
    await nursery.start(fake.run)
    assert fake.address is not None
    with extra_addresses("10.77.0.2/24"):
        relay = RelayProcess([*two_workers_args(free_port_pair(), fake), "--port=0"])
        with trio.fail_after(STARTUP):
            ready = await relay.start(nursery)
            assert ready.group(1) == "0.0.0.0"
            port = int(ready.group(2))
            for target in ("127.0.0.1", "10.77.0.2", "10.77.0.1"):
                for source in ("127.0.0.1", "10.77.0.1", "10.77.0.1", "10.77.0.1"):
                    client = await Client(source).open()
                    request = check(1)
                    await client.send(request, (target, port))
                    assert (await fake.next()).client == client.address
                    answer, answered_from = await client.receive()
                    assert answer == b"\x01\x01" + request[2:]
                    assert answered_from == (target, port)
                    client.close()
        await relay.kill()


@pytest.mark.skipif(not raw_udp_available(), reason="raw sockets need root")
async def test_port_zero_datagrams_do_not_crash_loop_the_workers(nursery: trio.Nursery) -> None:
    """Issue 11 §1 as found: checks with a live token from source port 0 sent to
    `voice relay` put its workers into a crash loop. Now no worker exits, and every
    worker keeps forwarding."""
    fake = FakeTransceiver()
    await nursery.start(fake.run)
    assert fake.address is not None
    relay = RelayProcess(
        [*two_workers_args(free_port_pair(), fake), "--host=127.0.0.1", "--port=0"]
    )
    with trio.fail_after(STARTUP):
        ready = await relay.start(nursery)
        public = (ready.group(1), int(ready.group(2)))
        for _ in range(20):  # the hash of (ip, 0) names one worker: all of these reach it
            send_raw_udp(("127.0.0.1", 0), public, check(1))
            send_raw_udp(("127.0.0.2", 0), public, check(1))
        clients = [await Client().open() for _ in range(8)]
        for client in clients:
            await client.send(check(1), public)
            assert (await fake.next()).client == client.address
            await client.receive()
            await exchange(client, fake, public, b"\x80 still forwarding")
        assert {steering_index(c.address, 2) for c in clients} == {0, 1}
        assert not [line for line in relay.lines if "exited" in line or "respawned" in line]
    await relay.kill()
