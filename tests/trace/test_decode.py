"""voice.trace against a whole sans-IO call: every datagram decoded, the handshake's secrets
used to decrypt the rest, each field annotated with its section."""

from __future__ import annotations

import io
import json

import pytest

from voice.dtls import Certificate
from voice.ice import IceControllingClient, IceLiteAgent
from voice.opus.toc import build_packet
from voice.peer import PeerConnection, PeerState
from voice.rtp import RtpPacket
from voice.stun import short_term_key
from voice.trace import Field, FlowDecoder, KeyRing, SessionTracer, Tracer, format_record
from voice.trace.tracer import Record

SERVER = ("192.0.2.1", 3478)
CLIENT = ("198.51.100.7", 50000)
SERVER_PWD = "server-password-0123456789"
CERTS = (Certificate.generate(), Certificate.generate())


def traced_call(
    tracer: Tracer, *, stun_key: bytes | None = None, session: SessionTracer | None = None
) -> tuple[PeerConnection, PeerConnection]:
    """Connects our caller to our transceiver stack, tracing the transceiver's side, and
    sends one Opus packet each way; returns (server, client)."""
    key = short_term_key(SERVER_PWD) if stun_key is None else stun_key
    session = session or tracer.session("s1", SERVER, [key])
    server = PeerConnection(
        ice=IceLiteAgent("srv", SERVER_PWD, remote_ufrag="cli", remote_pwd="client-password-0123"),
        certificate=CERTS[0],
        remote_fingerprints=[("sha-256", CERTS[1].fingerprint("sha-256"))],
        is_dtls_server=True,
        local_ssrc=1111,
        cname="server",
        now=0.0,
        tracer=session,
    )
    client = PeerConnection(
        ice=IceControllingClient("cli", "client-password-0123", "srv", SERVER_PWD, SERVER),
        certificate=CERTS[1],
        remote_fingerprints=[("sha-256", CERTS[0].fingerprint("sha-256"))],
        is_dtls_server=False,
        local_ssrc=2222,
        cname="client",
        now=0.0,
    )

    def pump() -> None:
        for _ in range(50):
            moved = False
            for data, _addr in client.datagrams_to_send():
                moved = True
                server.receive_datagram(data, CLIENT, 0.0)
            for data, _addr in server.datagrams_to_send():
                moved = True
                client.receive_datagram(data, SERVER, 0.0)
            if not moved:
                return

    client.connect(0.0)
    pump()
    assert server.state is PeerState.CONNECTED
    opus = build_packet([b"\x01" * 30], config=9)  # SILK wideband 20 ms
    client.send_rtp(RtpPacket(111, 500, 960, 2222, payload=opus), 0.0)
    server.send_rtp(RtpPacket(111, 70, 960, 1111, payload=opus), 0.0)
    pump()
    server.close(0.0)
    pump()
    return server, client


def datagrams(records: list[Record]) -> list[Record]:
    return [r for r in records if "dir" in r]


def values(record: Record, name: str) -> list[object]:
    return [f.value for f in Field.from_dict(record["tree"]).find(name)]


def test_every_datagram_of_a_call_is_decoded_with_its_kind_and_direction() -> None:
    tracer = Tracer(keep=True)
    traced_call(tracer)
    assert tracer.records is not None
    records = datagrams(tracer.records)
    kinds = [(r["dir"], r["kind"]) for r in records]
    # ICE check, then the DTLS flights, then media; RTCP and the alert close the call.
    assert kinds[:2] == [("in", "stun"), ("out", "stun")]
    assert ("in", "dtls") in kinds and ("out", "dtls") in kinds
    assert ("in", "rtp") in kinds and ("out", "rtp") in kinds
    assert ("out", "rtcp") in kinds
    assert records[0]["src"] == "198.51.100.7:50000" and records[0]["dst"] == "192.0.2.1:3478"
    assert records[1]["src"] == "192.0.2.1:3478"


def test_stun_integrity_is_verified_with_the_known_key_and_flagged_with_a_wrong_one() -> None:
    good = Tracer(keep=True)
    traced_call(good)
    assert good.records is not None
    request, response = datagrams(good.records)[:2]
    assert values(request, "method") == ["Binding"]
    assert values(request, "class") == ["REQUEST"]
    assert values(request, "transaction_id") == values(response, "transaction_id")
    assert values(request, "verdict") == ["valid", "valid"]  # MESSAGE-INTEGRITY, FINGERPRINT
    assert "MESSAGE-INTEGRITY valid" in request["summary"]

    bad = Tracer(keep=True)
    traced_call(bad, stun_key=b"not the password")
    assert bad.records is not None
    assert values(datagrams(bad.records)[0], "verdict")[0] == "INVALID"


def test_the_dtls_handshake_is_decrypted_when_the_key_log_is_known() -> None:
    tracer = Tracer(keep=True)
    traced_call(tracer)
    assert tracer.records is not None
    dtls = [r for r in datagrams(tracer.records) if r["kind"] == "dtls"]
    seqs = [values(r, "message_seq") for r in dtls]
    messages = [values(r, "msg_type") for r in dtls]
    assert messages[0] == ["client_hello"]
    assert "finished" in messages[2] and "finished" in messages[3]  # both, decrypted
    assert seqs[2][-1] == 4 and seqs[3] == [5]
    assert "Alert(warning, close_notify)" in dtls[-1]["summary"]


class WithoutKeys(SessionTracer):
    """A session tracer that is never told the master secret."""

    def key_log(self, line: str) -> None:
        pass


def test_without_the_key_log_encrypted_records_stay_encrypted() -> None:
    tracer = Tracer(keep=True)
    traced_call(tracer, session=WithoutKeys(tracer, "s1", SERVER, KeyRing()))
    assert tracer.records is not None
    dtls = [r for r in datagrams(tracer.records) if r["kind"] == "dtls"]
    assert "finished" not in values(dtls[2], "msg_type")
    assert "encrypted handshake" in dtls[2]["summary"]
    assert "key unknown" in values(dtls[2], "encrypted")
    rtp = next(r for r in datagrams(tracer.records) if r["kind"] == "rtp")
    assert values(rtp, "sequence_number") and not values(rtp, "config")
    assert values(rtp, "payload")[0].endswith("encrypted")  # type: ignore[union-attr]


def test_media_is_decrypted_down_to_the_opus_toc() -> None:
    tracer = Tracer(keep=True)
    traced_call(tracer)
    assert tracer.records is not None
    rtp = [r for r in datagrams(tracer.records) if r["kind"] == "rtp"]
    incoming = next(r for r in rtp if r["dir"] == "in")
    outgoing = next(r for r in rtp if r["dir"] == "out")
    assert values(incoming, "sequence_number") == [500]
    assert values(incoming, "ssrc") == [2222]
    assert values(outgoing, "ssrc") == [1111]
    for record in (incoming, outgoing):
        assert values(record, "config") == [9]
        assert values(record, "mode") == ["SILK"]
        assert "opus SILK 20ms" in record["summary"]
    rtcp = [r for r in datagrams(tracer.records) if r["kind"] == "rtcp"]
    assert rtcp and "Bye" in rtcp[-1]["summary"]


def test_every_citation_in_a_trace_names_an_rfc_section() -> None:
    tracer = Tracer(keep=True)
    traced_call(tracer)
    assert tracer.records is not None
    cites = set()
    for record in datagrams(tracer.records):
        stack = [Field.from_dict(record["tree"])]
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            if node.cite:
                cites.add(node.cite)
    assert all(c.startswith("RFC ") and " §" in c for c in cites)
    assert {"RFC 7983 §7", "RFC 8489 §14.5", "RFC 6347 §4.2.2", "RFC 3550 §5.1"} <= cites


def test_json_lines_and_the_terminal_view() -> None:
    out, view = io.StringIO(), io.StringIO()
    traced_call(Tracer(jsonl=out, pretty=view, tree=True))
    lines = out.getvalue().splitlines()
    first = json.loads(lines[0])
    assert first["kind"] == "stun" and first["session"] == "s1"
    text = view.getvalue()
    assert "STUN Binding request" in text and "(RFC 8489 §14.5)" in text
    assert "\033[" not in text
    coloured = format_record(first, color=True)
    assert coloured.startswith("\033[36m")


def test_only_the_chosen_sessions_are_traced() -> None:
    tracer = Tracer(sessions=["other"])
    assert tracer.session("s1", SERVER) is None
    assert tracer.session("other", SERVER) is not None


def test_first_traces_the_first_calls_whatever_their_random_ids() -> None:
    tracer = Tracer(sessions=["first:2", "known"])
    assert tracer.session("a1b2", SERVER) is not None
    assert tracer.session("c3d4", SERVER) is not None
    assert tracer.session("e5f6", SERVER) is None  # both places taken
    assert tracer.session("known", SERVER) is not None  # named ids still count
    assert tracer.wants("a1b2") and not tracer.wants("e5f6")  # a claimed call stays traced
    only = Tracer(sessions=["first"])
    assert only.session("x", SERVER) is not None and only.session("y", SERVER) is None


@pytest.mark.parametrize("bad", ["first:0", "first:", "first:two", "first:-1"])
def test_first_needs_a_positive_count(bad: str) -> None:
    with pytest.raises(ValueError, match="positive whole number"):
        Tracer(sessions=[bad])


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00\x01", b"\x16\xfe\xfd" + bytes(5), b"\x80", b"\x81\xc8\x00\x01", b"\xff" * 30],
)
def test_garbage_is_decoded_as_an_error_never_raised(garbage: bytes) -> None:
    decoded = FlowDecoder().decode(garbage, CLIENT)
    assert decoded.summary
    json.dumps(decoded.root.to_dict())


def test_a_handshake_message_in_two_datagrams_is_reassembled() -> None:
    """Browsers with a post-quantum key share send a ClientHello too big for one datagram."""
    from voice.dtls import DtlsConnection
    from voice.dtls.fragments import HandshakeFragment, iter_fragments
    from voice.dtls.record import Record, iter_records

    client = DtlsConnection(is_server=False, certificate=CERTS[1], remote_fingerprints=None)
    client.connect(0.0)
    [datagram] = client.datagrams_to_send()
    [record] = list(iter_records(datagram))
    [hello] = list(iter_fragments(record.fragment))
    half = hello.length // 2
    pieces = [
        HandshakeFragment(hello.msg_type, hello.length, 0, 0, hello.body[:half]),
        HandshakeFragment(hello.msg_type, hello.length, 0, half, hello.body[half:]),
    ]
    decoder = FlowDecoder()
    first, second = (
        decoder.decode(
            Record(record.content_type, record.version, 0, n, piece.encode()).encode(), CLIENT
        )
        for n, piece in enumerate(pieces)
    )
    assert f"client_hello(seq 0, bytes 0-{half} of {hello.length})" in first.summary
    assert not first.root.find("random")
    assert second.root.find("reassembled")[0].value == hello.length
    assert len(str(second.root.find("random")[0].value)) == 64
    assert decoder.dtls_client == CLIENT
