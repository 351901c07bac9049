"""Wireshark reads our calls: a real call's pcap and key log, dissected by tshark.

A synthetic caller (our load generator) calls ``voice serve``'s stack in-process, through
the embedded relay, over loopback UDP; the transceiver traces the session to a pcap and a key
log. tshark, an independent implementation of every protocol involved, must then dissect
every STUN message without a malformed or checksum warning, decrypt the DTLS handshake (both
Finished messages visible), and dissect the SRTP and SRTCP packets; and the fields both
tshark and :mod:`voice.trace` see must agree packet by packet.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest
import trio

from tests.conftest import require_program
from voice.loadgen.caller import Caller
from voice.relay.config import RelayConfig
from voice.relay.token import TokenKey
from voice.server import ServerConfig, ServerInfo, run_server
from voice.trace import Field, PcapWriter, Tracer
from voice.trace.tracer import Record
from voice.transceiver.service import TransceiverConfig

pytestmark = pytest.mark.interop

FIELDS = (
    "frame.number",
    "_ws.col.Protocol",
    "_ws.malformed",
    "_ws.expert.severity",
    "udp.checksum.status",
    "ip.checksum.status",
    "stun.id",
    "dtls.handshake.type",
    "dtls.handshake.message_seq",
    "rtp.seq",
    "rtp.ssrc",
    "rtcp.pt",
    "rtcp.senderssrc",
)


async def record_call(nursery: trio.Nursery, pcap: Path, key_log: Path) -> list[Record]:
    with pcap.open("wb") as pcap_file, key_log.open("w") as key_file:
        tracer = Tracer(pcap=PcapWriter(pcap_file), key_log=key_file, keep=True)
        config = ServerConfig(
            http_port=0,
            relay=RelayConfig(keys=(TokenKey(1, secrets.token_bytes(32)),), log_interval=0),
            transceiver=TransceiverConfig(tracer=tracer),
        )
        info: ServerInfo = await nursery.start(run_server, config)
        assert info.relay is not None
        info.relay.router.tracer = tracer
        result = await Caller(info.url).run(duration=1.2)
        assert result.failed is None
        # The caller hung up: wait until the transceiver has said goodbye too.
        with trio.fail_after(5):
            for session in list(info.transceiver.sessions.values()):
                await session.ended.wait()
        info.stop.set()
    assert tracer.records is not None
    return tracer.records


def tshark(pcap: Path, key_log: Path) -> list[dict[str, str]]:
    program = require_program("tshark")
    command = [program, "-r", str(pcap), "-n", "-o", f"tls.keylog_file:{key_log}"]
    command += ["-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"]
    command += ["--enable-heuristic", "rtp_udp", "-T", "fields", "-E", "separator=|"]
    for name in FIELDS:
        command += ["-e", name]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    return [dict(zip(FIELDS, line.split("|"), strict=True)) for line in out.stdout.splitlines()]


def ours(record: Record, name: str, under: str | None = None) -> list[str]:
    root = Field.from_dict(record["tree"])
    scopes = root.find(under) if under else [root]
    return [str(f.value) for scope in scopes for f in scope.find(name)]


def split(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


async def test_tshark_dissects_and_agrees_with_the_trace(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    pcap, key_log = tmp_path / "call.pcap", tmp_path / "keys.log"
    everything = await record_call(nursery, pcap, key_log)
    routes = [r for r in everything if r.get("event") == "route"]
    # The relay's one admission, then every datagram forwarded, each one traced.
    assert routes[0]["decision"] == "admitted"
    assert {r["decision"] for r in routes[1:]} == {"forwarded"}
    records = [r for r in everything if "dir" in r]
    # Each datagram the call received came through the relay (a late one may reach the
    # relay after the call ended), and each one the call sent was relayed until it stopped.
    legs = [r["leg"] for r in routes]
    received = sum(1 for r in records if r["dir"] == "in")
    sent = sum(1 for r in records if r["dir"] == "out")
    assert received <= legs.count("client>transceiver") <= received + 2
    assert sent - 2 <= legs.count("transceiver>client") <= sent
    assert key_log.read_text().startswith("CLIENT_RANDOM ")
    frames = await trio.to_thread.run_sync(tshark, pcap, key_log)
    assert len(frames) == len(records)

    kinds = {"stun": 0, "dtls": 0, "rtp": 0, "rtcp": 0}
    finished_seqs: list[str] = []
    for frame, record in zip(frames, records, strict=True):
        where = f"frame {frame['frame.number']} ({record['summary']})"
        # Our synthetic IP and UDP headers carry correct checksums (1: good).
        assert frame["udp.checksum.status"] == "1" and frame["ip.checksum.status"] == "1", where
        assert not frame["_ws.malformed"], where
        kind = record["kind"]
        kinds[kind] += 1
        if kind == "stun":
            assert frame["_ws.col.Protocol"] == "STUN", where
            assert not frame["_ws.expert.severity"], where
            assert frame["stun.id"] == ours(record, "transaction_id")[0], where
        elif kind == "dtls":
            assert frame["_ws.col.Protocol"].startswith("DTLS"), where
            assert split(frame["dtls.handshake.message_seq"]) == ours(record, "message_seq"), where
            types = split(frame["dtls.handshake.type"])
            finished_seqs += [
                s for t, s in zip(types, ours(record, "message_seq"), strict=True) if t == "20"
            ]
        elif kind == "rtp":
            assert frame["_ws.col.Protocol"] == "SRTP", where
            assert frame["rtp.seq"] == ours(record, "sequence_number", "RTP header")[0], where
            assert int(frame["rtp.ssrc"], 16) == int(ours(record, "ssrc", "RTP header")[0])
        else:
            assert frame["_ws.col.Protocol"] == "SRTCP", where
            first = Field.from_dict(record["tree"]).find("RTCP packet")[0]
            assert split(frame["rtcp.pt"])[0] == str(first.find("packet_type")[0].value)
            sender = int(split(frame["rtcp.senderssrc"])[0], 16)
            assert sender == first.find("ssrc")[0].value, where
    # Both Finished messages were decrypted by tshark with our key log (client's seq 4,
    # server's seq 5 in a mutually authenticated handshake).
    assert finished_seqs == ["4", "5"]
    assert kinds["stun"] >= 2 and kinds["dtls"] >= 4 and kinds["rtp"] > 50 and kinds["rtcp"] >= 1
