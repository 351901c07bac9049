"""What tracing costs a call: ``PeerConnection`` datagram processing with the tracer hook off,
against the same code before the hook existed, and (for information) with tracing on.

The unit of work is one echo step of a call's media path on the transceiver's side: an SRTP
packet in (``receive_datagram``: demultiplex, unprotect, parse, statistics, event), its
event drained, one RTP packet out (``send_rtp``: protect) and the datagrams drained. Three
variants run interleaved in every round, each on a freshly connected pair of peers:

* ``before`` (only with ``--before REV``): ``voice/peer/connection.py`` as it was at that
  revision (read from git and run against today's other modules), the same-run baseline;
  without it the baseline is ``tracer=None``. The revision before the hook existed
  (0ee50af, where the hook's cost was first measured) no longer imports against today's
  ``voice`` (names were renamed since), so old code is compared only where it still loads;
* ``tracer=None``: today's code with tracing off (one ``is None`` test per datagram);
* ``tracing on``: today's code with a :class:`voice.trace.Tracer` decoding every datagram
  (STUN/DTLS/SRTP decryption included) and writing JSON lines to /dev/null.

Medians of the per-step time over the rounds; the ratio is against ``before``.

The relay's :class:`~voice.relay.router.Router` is measured the same way: one step is a
known client's datagram to its transceiver and the transceiver's reply to the client, with
``voice/relay/router.py`` at ``--router-before`` as the baseline if given (31e75da, before
every decision was traced, no longer loads either), today's router with ``tracer=None``,
and with tracing on.

Run it as ``voice bench trace`` (``--help`` for the knobs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voice.dtls import Certificate
from voice.ice import IceControllingClient, IceLiteAgent
from voice.opus.toc import build_packet
from voice.peer import PeerConnection
from voice.relay.directory import Directory
from voice.relay.router import Router
from voice.relay.shim import encode_shim
from voice.relay.token import TokenKey, TokenMinter, TokenVerifier
from voice.rtp import RtpPacket
from voice.stun import Message, MessageClass, Method, Username, new_transaction_id, short_term_key
from voice.trace import Tracer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table

ROOT = Path(__file__).resolve().parent.parent
RELAY_KEY = TokenKey(1, b"k" * 32)
TRANSCEIVER = ("10.0.0.1", 4001)
SERVER, CLIENT = ("192.0.2.1", 3478), ("198.51.100.7", 50000)
CERTS = (Certificate.generate(), Certificate.generate())


def load_before(
    rev: str, path: str = "voice/peer/connection.py", name: str = "PeerConnection"
) -> type[Any]:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    module = types.ModuleType(f"voice._before_{name}")
    module.__file__ = f"<{rev}:{path}>"
    sys.modules[module.__name__] = module
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    except ImportError as exc:
        raise SystemExit(
            f"voice bench trace: {path} at {rev} does not load against today's voice ({exc}); "
            "give a newer revision, or none for tracing off as the baseline"
        ) from None
    cls: type[Any] = getattr(module, name)
    return cls


def router_steps(router_class: type[Any], tracer: Tracer | None, packets: int) -> float:
    """Seconds per relay step (a known client's datagram in, its transceiver's reply out)."""
    router = router_class(TokenVerifier([RELAY_KEY]), Directory({1: TRANSCEIVER}))
    router.handle_timeout(0.0, wall=1_735_689_600.0)
    router.client_rate = router.client_burst = 1e12  # measure routing, not the budget
    token = TokenMinter(RELAY_KEY, 0, 1).mint(1_735_689_600.0).encode()
    assert (
        router.from_client(
            Message(
                MessageClass.REQUEST,
                Method.BINDING,
                new_transaction_id(),
                (Username((token + b":cli").decode()),),
            ).encode(fingerprint=True),
            CLIENT,
            0.0,
        )
        is not None
    )
    router.tracer = tracer
    rtp = b"\x80" + bytes(171)
    reply = encode_shim(CLIENT, rtp)
    from_client, from_transceiver = router.from_client, router.from_transceiver
    # CPU time of this process: on a shared machine, time spent descheduled is not ours.
    start = time.process_time()
    for n in range(packets):
        now = n * 0.02
        from_client(rtp, CLIENT, now)
        from_transceiver(reply, TRANSCEIVER, now)
    elapsed = time.process_time() - start
    assert router.counters.dropped == 0
    return elapsed / packets


def connected_pair(peer_class: type[Any], tracer: Tracer | None) -> tuple[Any, Any]:
    pwd = "serverPassword0123456789"
    extra: dict[str, Any] = {}
    if tracer is not None:
        extra["tracer"] = tracer.session("bench", SERVER, [short_term_key(pwd)])
    server = peer_class(
        ice=IceLiteAgent("srv", pwd, remote_ufrag="cli", remote_pwd="clientPassword0123456"),
        certificate=CERTS[0],
        remote_fingerprints=None,
        is_dtls_server=True,
        local_ssrc=1111,
        cname="server",
        now=0.0,
        **extra,
    )
    client = PeerConnection(
        ice=IceControllingClient("cli", "clientPassword0123456", "srv", pwd, SERVER),
        certificate=CERTS[1],
        remote_fingerprints=None,
        is_dtls_server=False,
        local_ssrc=2222,
        cname="client",
        now=0.0,
    )
    client.connect(0.0)
    for _ in range(20):
        for data, _ in client.datagrams_to_send():
            server.receive_datagram(data, CLIENT, 0.0)
        for data, _ in server.datagrams_to_send():
            client.receive_datagram(data, SERVER, 0.0)
    while server.next_event() is not None:
        pass
    assert server.state.name == "CONNECTED", server.state
    return server, client


def echo_steps(peer_class: type[Any], tracer: Tracer | None, packets: int) -> float:
    """Seconds per echo step over ``packets`` steps on a fresh pair."""
    server, client = connected_pair(peer_class, tracer)
    opus = build_packet([bytes(60)], config=9)
    for n in range(packets):
        client.send_rtp(RtpPacket(111, n, 960 * n, 2222, payload=opus), 0.0)
    incoming = [data for data, _ in client.datagrams_to_send()]
    replies = [RtpPacket(111, n, 960 * n, 1111, payload=opus) for n in range(packets)]
    receive, send, drain = server.receive_datagram, server.send_rtp, server.datagrams_to_send
    next_event = server.next_event
    start = time.process_time()  # CPU time: a shared machine's waits are not ours
    for n, data in enumerate(incoming):
        now = n * 0.02
        receive(data, CLIENT, now)
        while next_event() is not None:
            pass
        send(replies[n], now)
        drain()
    elapsed = time.process_time() - start
    assert server.rtp.stats.packets_received == packets
    return elapsed / packets


def print_versus_before(title: str, samples: dict[str, list[float]]) -> None:
    """A table of each variant's median seconds per step, as microseconds and as a ratio to
    the first variant's median (the same-run baseline: ``before``, else ``tracer=None``)."""
    base = statistics.median(next(iter(samples.values())))
    rows = []
    for name, values in samples.items():
        median = statistics.median(values)
        rows.append((name, median * 1e6, median / base, f"{(median / base - 1) * 100:+.1f} %"))
    print(title)
    print_table(["variant", "us per step", "ratio", "vs baseline"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="What tracing costs a call's datagram path.")
    parser.add_argument("--rounds", type=int, default=9, help="rounds (fresh pairs each)")
    parser.add_argument("--packets", type=int, default=2000, help="echo steps per round")
    parser.add_argument(
        "--before", help="git revision of voice/peer/connection.py to compare (default: none)"
    )
    parser.add_argument(
        "--router-before", help="git revision of voice/relay/router.py to compare (default: none)"
    )
    parser.add_argument("--router-packets", type=int, default=20000, help="relay steps per round")
    parser.add_argument("--router-rounds", type=int, default=31, help="relay rounds")
    args = parser.parse_args(argv)

    before = load_before(args.before) if args.before else None
    samples: dict[str, list[float]] = {"before": []} if before else {}
    samples |= {"tracer=None": [], "tracing on": []}
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        for _ in range(args.rounds):
            if before is not None:
                samples["before"].append(echo_steps(before, None, args.packets))
            samples["tracer=None"].append(echo_steps(PeerConnection, None, args.packets))
            on = Tracer(jsonl=devnull)
            samples["tracing on"].append(echo_steps(PeerConnection, on, args.packets))
    print_versus_before(
        f"PeerConnection echo step (SRTP in + event + RTP out), {args.packets} steps x "
        f"{args.rounds} rounds, medians; baseline = "
        + (f"code at {args.before}" if before else "tracing off"),
        samples,
    )

    router_before = (
        load_before(args.router_before, "voice/relay/router.py", "Router")
        if args.router_before
        else None
    )
    relay: dict[str, list[float]] = {"before": []} if router_before else {}
    relay |= {"tracer=None": [], "tracing on": []}
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        for round_ in range(args.router_rounds):
            # Alternate which variant runs first: on a shared machine the order matters.
            pair: list[tuple[str, type[Any]]] = [("tracer=None", Router)]
            if router_before is not None:
                pair.insert(0, ("before", router_before))
            for name, cls in pair if round_ % 2 else pair[::-1]:
                relay[name].append(router_steps(cls, None, args.router_packets))
            on = Tracer(jsonl=devnull)
            relay["tracing on"].append(router_steps(Router, on, args.router_packets))
    print_versus_before(
        f"\nRelay Router step (known client -> transceiver, reply -> client), "
        f"{args.router_packets} steps x {args.router_rounds} rounds, medians; "
        "baseline = " + (f"router at {args.router_before}" if router_before else "tracing off"),
        relay,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
