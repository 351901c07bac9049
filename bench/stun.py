"""STUN per-message costs: full parse + MESSAGE-INTEGRITY + FINGERPRINT, the relay's peek,
building a response, and the lite agent's whole answer to a check.

Baseline, in the same run and on the same bytes: aioice (aiortc's STUN/ICE library),
``stun.parse_message`` (which checks the FINGERPRINT) followed by
``Message.check_message_integrity``, and its way of building a signed response.

Run as ``python bench/stun.py`` or ``voice bench stun``; ``--repeat`` sets how many timed
batches each median is taken over.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from aioice import stun as aioice_stun

from voice.ice import IceLiteAgent
from voice.stun import (
    IceControlled,
    IceControlling,
    Message,
    MessageClass,
    Method,
    Priority,
    Software,
    UnknownAttribute,
    UseCandidate,
    Username,
    XorMappedAddress,
    new_transaction_id,
    parse_message,
    peek_username,
)

# The helpers sit beside this file; `voice bench` loads benchmarks by path, not as a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, time_per_call

SERVER_UFRAG, SERVER_PWD = "srv1", "VOkJxbRl1RmTxUk/WvJxBt"
CLIENT_UFRAG = "evtj"
KEY = SERVER_PWD.encode()
SOURCE = ("192.0.2.1", 32853)


def sample_checks() -> list[bytes]:
    """Two checks of the shapes seen in practice, each signed and fingerprinted."""
    browser_like = Message(
        MessageClass.REQUEST,
        Method.BINDING,
        new_transaction_id(),
        (
            Username(f"{SERVER_UFRAG}:{CLIENT_UFRAG}"),
            UnknownAttribute(0xC057, b"\x00\x01\x00\x0a"),  # Chrome's GOOG-NETWORK-INFO
            IceControlling(0x0102030405060708),
            UseCandidate(),
            Priority(1853824767),
        ),
    )
    rfc5769_like = Message(
        MessageClass.REQUEST,
        Method.BINDING,
        new_transaction_id(),
        (
            Software("STUN test client"),
            Priority(0x6E0001FF),
            IceControlled(0x932FF9B151263B36),
            Username(f"{SERVER_UFRAG}:{CLIENT_UFRAG}"),
        ),
    )
    return [m.encode(integrity_key=KEY, fingerprint=True) for m in (browser_like, rfc5769_like)]


def _over(messages: list[bytes], fn: Callable[[bytes], object]) -> Callable[[], None]:
    def run() -> None:
        for data in messages:
            fn(data)

    return run


def ours_parse_verify(data: bytes) -> None:
    message = parse_message(data)  # also checks the FINGERPRINT
    if not message.check_integrity(KEY):
        raise AssertionError("integrity")


def aioice_parse_verify(data: bytes) -> None:
    message = aioice_stun.parse_message(data)  # also checks the FINGERPRINT
    if not message.check_message_integrity(KEY):
        raise AssertionError("integrity")


def ours_response(data: bytes) -> bytes:
    request = parse_message(data)
    response = Message(
        MessageClass.SUCCESS_RESPONSE,
        Method.BINDING,
        request.transaction_id,
        (XorMappedAddress(*SOURCE),),
    )
    return response.encode(integrity_key=KEY, fingerprint=True)


def aioice_response(data: bytes) -> bytes:
    request = aioice_stun.parse_message(data)
    response = aioice_stun.Message(
        message_method=aioice_stun.Method.BINDING,
        message_class=aioice_stun.Class.RESPONSE,
        transaction_id=request.transaction_id,
    )
    response.attributes["XOR-MAPPED-ADDRESS"] = SOURCE
    response.add_message_integrity(KEY)
    return bytes(response)


def _calibrate(run: Callable[[], None]) -> int:
    """How many calls of ``run`` take about 20 ms."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            run()
        if time.perf_counter() - start > 0.02:
            return number
        number *= 2


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/stun.py", description=__doc__)
    parser.add_argument("--repeat", type=int, default=21, help="timed batches per median")
    args = parser.parse_args(argv)

    messages = sample_checks()
    for data in messages:  # both libraries must agree the samples are valid
        ours_parse_verify(data)
        aioice_parse_verify(data)
        assert peek_username(data) == f"{SERVER_UFRAG}:{CLIENT_UFRAG}".encode()

    agent = IceLiteAgent(SERVER_UFRAG, SERVER_PWD)

    def agent_answer(data: bytes) -> None:
        agent.receive_datagram(data, SOURCE, 0.0)
        agent.datagrams_to_send()
        while agent.next_event() is not None:
            pass

    n = len(messages)

    def paired(a: Callable[[bytes], object], b: Callable[[bytes], object]) -> tuple[float, float]:
        """Median µs per message of ``a`` and ``b``, timed in alternating batches so that
        load from other processes on a shared machine falls on both alike."""
        run_a, run_b = _over(messages, a), _over(messages, b)
        number = _calibrate(run_a)
        samples_a, samples_b = [], []
        for _ in range(args.repeat):
            samples_a.append(time_per_call(run_a, repeat=1, number=number))
            samples_b.append(time_per_call(run_b, repeat=1, number=number))
        return statistics.median(samples_a) / n * 1e6, statistics.median(samples_b) / n * 1e6

    rows: list[list[object]] = []
    ours, theirs = paired(ours_parse_verify, aioice_parse_verify)
    rows.append(["parse + MESSAGE-INTEGRITY + FINGERPRINT", ours, theirs, theirs / ours])
    ours, theirs = paired(ours_response, aioice_response)
    rows.append(["parse request + build signed response", ours, theirs, theirs / ours])
    peek, full = paired(peek_username, ours_parse_verify)
    rows.append(["peek_username (vs our full parse+verify)", peek, full, full / peek])
    agent_cost, _ = paired(agent_answer, agent_answer)
    rows.append(["IceLiteAgent: check in, response out", agent_cost, "", ""])
    print(f"STUN, median µs per message over {args.repeat} batches, {n} sample checks")
    print_table(["operation", "voice µs", "baseline µs", "baseline / voice"], rows)
    print("baseline: aioice.stun (parse_message + check_message_integrity), same messages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
