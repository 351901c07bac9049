"""Flood benchmark: a victim call's loss while a live session is flooded with STUN checks.

Run as ``./dev bench flood`` (or ``python bench/flood.py``). Issue 11 §3: an attacker sends
STUN checks at a high rate (20 000 a second by default) to the edge while a victim's echo
call runs, either

* **bad-integrity**: checks naming the *victim's* live ufrag, signed with a wrong key (an
  on-path attacker, or anyone who learnt the ufrag), from one source address; or
* **signed**: correctly signed checks for the attacker's *own* call, from a new address
  (which that call's ICE agent authenticates, so they are not "bad" at all);

against ``voice serve`` in relay mode (the embedded relay in front) and in direct mode.
Each case runs twice in the same process: with the per-source budgets of VOICE-RELAY §10
lifted (the code as it was before them: the baseline) and with the defaults. Printed per
row: the victim's uplink loss (what the server's session lost of the caller's stream),
downlink loss (what the caller lost of the echo), and what the edge dropped by reason.

Everything shares this machine's cores: the flooder is a separate process, the server and
the victim's caller share one Trio loop, as in ``voice serve`` with a local caller. The
figures are medians over ``--repeat`` runs of each case.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import secrets
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _common, however we are run

from _common import print_table

from voice.loadgen.caller import Caller
from voice.metrics import sample_value
from voice.relay.config import RelayConfig
from voice.relay.counters import DropReason
from voice.relay.token import TokenKey
from voice.server import ServerConfig, ServerInfo, run_server
from voice.stun.attributes import Username
from voice.stun.credentials import short_term_key
from voice.stun.message import Message, new_transaction_id
from voice.stun.registry import MessageClass, Method
from voice.transceiver.service import TransceiverConfig
from voice.types import Address

#: What "no budget" means for the baseline: more than any flood here can send.
UNLIMITED = 1e12

# The flooder: a separate process, so it competes for the CPU like a remote sender's
# interrupts would not, but does not share the server's loop. Paced in batches.
FLOODER = """
import socket, sys, time
host, port, payload = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
rate, seconds = float(sys.argv[4]), float(sys.argv[5])
sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((sys.argv[6], 0))
batch = max(1, int(rate / 200))
start = time.monotonic(); sent = 0
while (now := time.monotonic()) - start < seconds:
    due = int((now - start) * rate)
    while sent < due:
        for _ in range(batch):
            try:
                sock.sendto(payload, (host, port))
            except OSError:
                pass
        sent += batch
    time.sleep(0.002)
print(sent)
"""


@dataclasses.dataclass
class Outcome:
    uplink_loss: float
    downlink_loss: float
    drops: dict[str, int]
    sent: int
    #: CPU seconds per second the edge's process used during the flood (the server, and
    #: the victim's caller, which costs the same in every row).
    cpu: float


def bad_integrity_check(victim_ufrag: str) -> bytes:
    request = Message(
        MessageClass.REQUEST, Method.BINDING, new_transaction_id(), (Username(f"{victim_ufrag}:x"),)
    )
    return request.encode(integrity_key=short_term_key("not the password"), fingerprint=True)


def signed_check(caller: Caller) -> bytes:
    assert caller.peer is not None
    ice = caller.peer.ice
    return ice._new_check(trio.current_time())  # type: ignore[attr-defined,no-any-return]


async def one_case(mode: str, attack: str, limited: bool, seconds: float, rate: float) -> Outcome:
    relay = None
    if mode == "relay":
        relay = RelayConfig(keys=(TokenKey(1, secrets.token_bytes(32)),), log_interval=0)
        if not limited:
            relay = dataclasses.replace(relay, client_rate=UNLIMITED, client_burst=UNLIMITED)
    config = ServerConfig(http_port=0, transceiver=TransceiverConfig(), relay=relay)
    async with trio.open_nursery() as nursery:
        info: ServerInfo = await nursery.start(run_server, config)
        endpoint = info.transceiver.endpoint
        if not limited:
            endpoint.client_rate = endpoint.client_burst = UNLIMITED
            endpoint.unverified_rate = endpoint.unverified_burst = UNLIMITED
        attacker = Caller(info.url)
        nursery.start_soon(partial(attacker.run, 3600.0, hang_up=False))
        await attacker.connected.wait()
        [attacker_session] = info.transceiver.sessions.values()
        victim = Caller(info.url)
        sent = 0
        async with trio.open_nursery() as call:
            call.start_soon(partial(victim.run, seconds))
            await victim.connected.wait()
            [victim_session] = [
                s for s in info.transceiver.sessions.values() if s is not attacker_session
            ]
            if attack == "bad-integrity":
                payload = bad_integrity_check(victim_session.ufrag)
            elif attack == "signed":
                payload = signed_check(attacker)
            else:
                payload = b""
            cpu_before, wall_before = time.process_time(), time.monotonic()
            if payload:
                target: Address = info.media
                process = await trio.run_process(
                    [
                        sys.executable,
                        "-c",
                        FLOODER,
                        target[0],
                        str(target[1]),
                        payload.hex(),
                        str(rate),
                        str(seconds),
                        "127.0.0.1",
                    ],
                    capture_stdout=True,
                    check=False,
                )
                sent = int(process.stdout.decode().strip() or 0)
            else:
                await trio.sleep(seconds)
            cpu = (time.process_time() - cpu_before) / (time.monotonic() - wall_before)
        stats = victim_session.peer.rtp.stats
        expected = stats.packets_received + max(0, stats.packets_lost)
        uplink = max(0, stats.packets_lost) / expected if expected else math.nan
        result = victim.result
        down_expected = result.packets_received + result.packets_lost
        downlink = result.packets_lost / down_expected if down_expected else math.nan
        drops = {
            f"tx:{reason}": int(
                sample_value(
                    info.transceiver.registry, "voice_packets_dropped_total", reason=reason
                )
            )
            for reason in ("rate_limited", "unverified_source_limit", "unverified_check_limit")
        }
        if info.relay is not None:
            drops["relay:rate-limit"] = info.relay.counters.drops[DropReason.RATE_LIMIT]
        nursery.cancel_scope.cancel()  # the server, and the attacker's call with it
    return Outcome(uplink, downlink, drops, sent, cpu)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench flood", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="flood (and call) length")
    parser.add_argument("--rate", type=float, default=20_000.0, help="flood, checks/s")
    parser.add_argument("--repeat", type=int, default=1, help="medians over this many runs")
    parser.add_argument("--modes", default="relay,direct")
    parser.add_argument("--attacks", default="none,bad-integrity,signed")
    args = parser.parse_args(argv)
    rows = []
    for mode in args.modes.split(","):
        for attack in args.attacks.split(","):
            figures: dict[bool, list[Outcome]] = {False: [], True: []}
            for _ in range(args.repeat):
                for limited in (False, True):
                    outcome = trio.run(one_case, mode, attack, limited, args.seconds, args.rate)
                    figures[limited].append(outcome)
            for limited in (False, True):
                runs = figures[limited]
                up = statistics.median(o.uplink_loss for o in runs) * 100
                down = statistics.median(o.downlink_loss for o in runs) * 100
                drops = runs[-1].drops
                rows.append(
                    [
                        mode,
                        attack,
                        "budgets (after)" if limited else "none (before)",
                        int(statistics.median(o.sent for o in runs)),
                        f"{up:.1f} %",
                        f"{down:.1f} %",
                        f"{statistics.median(o.cpu for o in runs) * 100:.0f} %",
                        " ".join(f"{k}={v}" for k, v in drops.items() if v) or "-",
                    ]
                )
    load = os.getloadavg()[0]
    print(
        f"victim echo call under a {args.rate:,.0f} checks/s flood for {args.seconds} s; "
        f"medians of {args.repeat}; load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    print_table(
        [
            "mode",
            "flood",
            "per-source budgets",
            "flood sent",
            "uplink loss",
            "downlink loss",
            "edge CPU",
            "edge drops",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
