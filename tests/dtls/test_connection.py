"""DtlsConnection against itself, in memory: handshakes, data, loss, and every way to fail."""

from __future__ import annotations

import datetime
import random
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import voice.dtls
from voice.dtls import (
    AlertDescription,
    Certificate,
    CipherSuite,
    DtlsApplicationData,
    DtlsArgumentError,
    DtlsClosed,
    DtlsConnection,
    DtlsHandshakeComplete,
    SrtpProfile,
)
from voice.dtls.certificate import fingerprint
from voice.dtls.connection import COUNTERS
from voice.dtls.extensions import Extension, UseSrtp
from voice.dtls.flights import MAX_RETRANSMISSIONS
from voice.dtls.fragments import HandshakeFragment, iter_fragments
from voice.dtls.messages import Certificate as CertificateMessage
from voice.dtls.messages import ClientHello, ServerHello, ServerKeyExchange
from voice.dtls.registry import ContentType, ExtensionType, HandshakeType, NamedGroup
from voice.dtls.state import DtlsState
from voice.errors import LocalProtocolError
from voice.srtp.profiles import PROFILE_SIZES

from .pair import LossyChannel, drain, make_pair, pump, records_of, rewrite_message

AES128 = CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
AES256 = CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
CHACHA = CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256

Certs = tuple[Certificate, Certificate]


def handshake(certs: Certs, **kwargs: object) -> tuple[DtlsConnection, DtlsConnection]:
    client, server = make_pair(certs, **kwargs)
    client.connect(0.0)
    client_events, server_events = pump(client, server)
    assert any(isinstance(e, DtlsHandshakeComplete) for e in client_events), client_events
    assert any(isinstance(e, DtlsHandshakeComplete) for e in server_events), server_events
    return client, server


def closed_event(events: list[object]) -> DtlsClosed:
    closed = [e for e in events if isinstance(e, DtlsClosed)]
    assert len(closed) == 1, events
    return closed[0]


def edit_client_hello(edit: object) -> object:
    def tamper(datagram: bytes) -> bytes:
        def change(body: bytes) -> bytes:
            return edit(ClientHello.parse(body)).encode()  # type: ignore[operator]

        return rewrite_message(datagram, HandshakeType.client_hello, change)

    return tamper


def edit_server_hello(edit: object) -> object:
    def tamper(datagram: bytes) -> bytes:
        def change(body: bytes) -> bytes:
            return edit(ServerHello.parse(body)).encode()  # type: ignore[operator]

        return rewrite_message(datagram, HandshakeType.server_hello, change)

    return tamper


def without_extension(ext_type: int) -> object:
    def edit(hello: ClientHello | ServerHello) -> ClientHello | ServerHello:
        return replace(hello, extensions=tuple(e for e in hello.extensions if e.type != ext_type))

    return edit


def with_extension(ext_type: int, data: bytes) -> object:
    def edit(hello: ClientHello | ServerHello) -> ClientHello | ServerHello:
        kept = tuple(e for e in hello.extensions if e.type != ext_type)
        return replace(hello, extensions=(*kept, Extension(ext_type, data)))

    return edit


# -- handshakes that succeed --------------------------------------------------------------


def test_handshake_completes_with_matching_keys(certs: Certs) -> None:
    client, server = make_pair(certs)
    client.connect(0.0)
    client_events, server_events = pump(client, server)
    (c_done,) = client_events
    (s_done,) = server_events
    assert isinstance(c_done, DtlsHandshakeComplete) and isinstance(s_done, DtlsHandshakeComplete)
    # Server preference order decides: AES-128-GCM suite, AEAD AES-128-GCM SRTP profile.
    assert c_done.cipher_suite == s_done.cipher_suite == AES128
    assert c_done.srtp_profile == s_done.srtp_profile == SrtpProfile.SRTP_AEAD_AES_128_GCM
    assert c_done.peer_fingerprint == certs[0].fingerprint()
    assert s_done.peer_fingerprint == certs[1].fingerprint()
    assert client.is_handshake_complete and server.is_handshake_complete
    assert client.srtp_keying_material() == server.srtp_keying_material()
    assert len(client.srtp_keying_material()) == 56
    assert client.export_keying_material(b"EXPERIMENTAL x", 20, b"ctx") == (
        server.export_keying_material(b"EXPERIMENTAL x", 20, b"ctx")
    )
    assert client.get_timer() is None and server.get_timer() is None


@pytest.mark.parametrize("suite", [AES128, AES256, CHACHA])
def test_each_cipher_suite_carries_data_both_ways(certs: Certs, suite: CipherSuite) -> None:
    client, server = handshake(certs, cipher_suites=[suite])
    assert client.cipher_suite == server.cipher_suite == suite
    client.send_application_data(b"ping")
    server.send_application_data(b"pong")
    client_events, server_events = pump(client, server)
    assert client_events == [DtlsApplicationData(b"pong")]
    assert server_events == [DtlsApplicationData(b"ping")]


def test_server_preference_decides_suite_and_profile(certs: Certs) -> None:
    client, server = handshake(
        certs,
        client_cipher_suites=[AES128, AES256],
        server_cipher_suites=[AES256, AES128],
        client_srtp_profiles=[
            SrtpProfile.SRTP_AEAD_AES_128_GCM,
            SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
        ],
        server_srtp_profiles=[
            SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
            SrtpProfile.SRTP_AEAD_AES_128_GCM,
        ],
    )
    assert client.cipher_suite == AES256
    assert client.srtp_profile == server.srtp_profile == SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80


@pytest.mark.parametrize("profile", list(PROFILE_SIZES))
def test_srtp_keying_material_length_follows_profile(certs: Certs, profile: SrtpProfile) -> None:
    client, server = handshake(certs, srtp_profiles=[profile])
    material = client.srtp_keying_material()
    assert len(material) == PROFILE_SIZES[profile].keying_material_length
    assert material == server.srtp_keying_material()


def test_without_srtp_profiles_no_use_srtp_is_negotiated(certs: Certs) -> None:
    client, _ = handshake(certs, srtp_profiles=[])
    assert client.srtp_profile is None
    with pytest.raises(LocalProtocolError):
        client.srtp_keying_material()


def test_exporter_context_absent_and_empty_differ(certs: Certs) -> None:
    client, _ = handshake(certs)
    no_context = client.export_keying_material(b"label", 32)
    empty_context = client.export_keying_material(b"label", 32, b"")
    assert no_context != empty_context
    assert client.export_keying_material(b"label", 32) == no_context


def test_key_log_lines_agree(certs: Certs) -> None:
    client_log: list[str] = []
    server_log: list[str] = []
    handshake(certs, client_key_log=client_log.append, server_key_log=server_log.append)
    assert len(client_log) == 1 and client_log == server_log
    label, client_random, master = client_log[0].split(" ")
    assert label == "CLIENT_RANDOM" and len(client_random) == 64 and len(master) == 96


def test_cookie_exchange(certs: Certs) -> None:
    client, server = handshake(certs, server_cookie_secret=b"s" * 32)
    assert server.counters["hello_verify_request"] == 1
    assert client.srtp_keying_material() == server.srtp_keying_material()


def test_wrong_cookie_is_challenged_again(certs: Certs) -> None:
    client, server = make_pair(certs, server_cookie_secret=b"s" * 32)
    client.connect(0.0)
    (first,) = client.datagrams_to_send()
    forged = edit_client_hello(lambda h: replace(h, cookie=b"\x00" * 32))(first)  # type: ignore[operator]
    server.receive_datagram(forged, 0.0)
    (answer,) = server.datagrams_to_send()
    (record,) = records_of(answer)
    assert record.fragment[0] == HandshakeType.hello_verify_request
    # RFC 6347 §4.2.1: the HelloVerifyRequest reuses the ClientHello's record number.
    assert record.sequence_number == records_of(first)[0].sequence_number
    assert server.state is DtlsState.SERVER_WAIT_CLIENT_HELLO


@pytest.mark.parametrize("size", [128, 200, 300])
def test_small_datagrams_fragment_certificates_both_ways(certs: Certs, size: int) -> None:
    client, server = make_pair(certs, max_datagram_size=size)
    client.connect(0.0)
    sizes: list[int] = []
    certificate_fragments = {"to_server": 0, "to_client": 0}

    def watch(direction: str) -> Callable[[bytes], bytes]:
        def look(datagram: bytes) -> bytes:
            sizes.append(len(datagram))
            for record in records_of(datagram):
                if record.epoch == 0 and record.content_type == ContentType.handshake:
                    for frag in iter_fragments(record.fragment):
                        if frag.msg_type == HandshakeType.certificate:
                            certificate_fragments[direction] += 1
            return datagram

        return look

    client_events, server_events = pump(
        client, server, to_server=watch("to_server"), to_client=watch("to_client")
    )
    assert isinstance(client_events[0], DtlsHandshakeComplete)
    assert isinstance(server_events[0], DtlsHandshakeComplete)
    assert max(sizes) <= size
    assert certificate_fragments["to_server"] >= 2 and certificate_fragments["to_client"] >= 2


def test_close_notify_is_answered(certs: Certs) -> None:
    client, server = handshake(certs)
    client.close()
    client_events, server_events = pump(client, server)
    assert closed_event(client_events) == DtlsClosed(
        "closed locally", AlertDescription.close_notify, by_peer=False
    )
    assert closed_event(server_events) == DtlsClosed(
        "peer closed", AlertDescription.close_notify, by_peer=True
    )
    assert client.state is DtlsState.CLOSED and server.state is DtlsState.CLOSED
    assert client.counters["after_close"] == 1  # the server's answering close_notify
    client.close()  # idempotent
    with pytest.raises(LocalProtocolError):
        client.send_application_data(b"late")


def test_renegotiation_is_refused_with_a_warning(certs: Certs) -> None:
    client, server = handshake(certs)
    # The server asks for a renegotiation with a HelloRequest in epoch 1.
    request = HandshakeFragment(
        HandshakeType.hello_request, 0, server._handshake._next_send_seq, 0, b""
    )
    client.receive_datagram(server._records.seal(ContentType.handshake, request.encode()), 1.0)
    assert client.counters["renegotiation_refused"] == 1
    (alert,) = client.datagrams_to_send()
    server.receive_datagram(alert, 1.0)
    assert server.counters["warning_alert"] == 1
    assert client.state is DtlsState.ESTABLISHED and server.state is DtlsState.ESTABLISHED
    # ... and a server meeting a new ClientHello after the handshake does the same.
    hello = HandshakeFragment(
        HandshakeType.client_hello, 1, client._handshake._next_send_seq, 0, b"\x00"
    )
    server.receive_datagram(client._records.seal(ContentType.handshake, hello.encode()), 1.0)
    assert server.counters["renegotiation_refused"] == 1
    assert server.state is DtlsState.ESTABLISHED


def test_without_extended_master_secret_when_allowed(certs: Certs) -> None:
    client, server = make_pair(certs, require_extended_master_secret=False)
    client.connect(0.0)
    no_ems = edit_client_hello(without_extension(ExtensionType.extended_master_secret))
    _, server_events = pump(client, server, to_server=no_ems)  # type: ignore[arg-type]
    # The client's transcript has the original hello, the server's the edited one: the
    # handshake must fail at Finished. That proves the server did not use EMS (else the
    # client would have refused it) and checks what the transcript covers.
    assert closed_event(server_events).alert is AlertDescription.decrypt_error


def test_api_misuse_raises_local_protocol_error(certs: Certs) -> None:
    client, server = make_pair(certs)
    with pytest.raises(LocalProtocolError):
        server.connect(0.0)
    with pytest.raises(LocalProtocolError):
        client.send_application_data(b"too early")
    with pytest.raises(LocalProtocolError):
        client.export_keying_material(b"x", 16)
    client.connect(0.0)
    with pytest.raises(LocalProtocolError):
        client.connect(0.0)
    with pytest.raises(DtlsArgumentError, match="only a server"):
        DtlsConnection(
            is_server=False, certificate=certs[0], remote_fingerprints=None, cookie_secret=b"x"
        )
    with pytest.raises(DtlsArgumentError, match="max_datagram_size"):
        DtlsConnection(
            is_server=True, certificate=certs[0], remote_fingerprints=None, max_datagram_size=64
        )
    client2, _ = handshake(certs)
    with pytest.raises(DtlsArgumentError):
        client2.send_application_data(b"x" * 1200)


def test_datagrams_before_connect_are_counted(certs: Certs) -> None:
    client, _ = make_pair(certs)
    client.receive_datagram(b"\x16\xfe\xfd" + bytes(10), 0.0)
    assert client.counters["before_connect"] == 1


# -- loss, duplication, reordering ---------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_handshake_survives_a_lossy_reordering_channel(
    certs: Certs, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What is tested is recovery, not when to give up: allow enough retransmissions that
    # even an unlucky run of losses (20% each way) is recovered from.
    monkeypatch.setattr("voice.dtls.flights.MAX_RETRANSMISSIONS", 16)
    rng = random.Random(seed)
    kwargs: dict[str, object] = {"max_datagram_size": rng.choice([200, 1200])}
    if seed % 2:
        kwargs["server_cookie_secret"] = b"k" * 32
    client, server = make_pair(certs, **kwargs)
    channel = LossyChannel(rng)
    client.connect(0.0)
    events: dict[DtlsConnection, list[object]] = {client: [], server: []}

    def done() -> bool:
        for conn in (client, server):
            events[conn].extend(drain(conn))
        return client.is_handshake_complete and server.is_handshake_complete

    channel.run(client, server, done)
    assert client.is_handshake_complete and server.is_handshake_complete, events
    assert client.srtp_keying_material() == server.srtp_keying_material()
    assert not any(isinstance(e, DtlsClosed) for e in events[client] + events[server])


def test_lost_final_flight_is_resent_when_the_client_retransmits(certs: Certs) -> None:
    client, server = make_pair(certs)
    client.connect(0.0)
    dropped: list[bytes] = []

    def drop_server_finished(datagram: bytes) -> bytes | None:
        if server.is_handshake_complete and not dropped:
            dropped.append(datagram)
            return None
        return datagram

    pump(client, server, to_client=drop_server_finished)
    assert server.is_handshake_complete and not client.is_handshake_complete
    assert server.get_timer() is None  # RFC 6347 §4.2.4: the last flight has no timer
    timer = client.get_timer()
    assert timer == 1.0
    client.handle_timeout(timer)
    client_events, _ = pump(client, server, now=timer)
    assert isinstance(client_events[0], DtlsHandshakeComplete)
    assert server.counters["retransmit_on_duplicate"] == 1
    assert client.srtp_keying_material() == server.srtp_keying_material()


def test_retransmission_timer_doubles_then_gives_up(certs: Certs) -> None:
    client, _ = make_pair(certs)
    client.connect(0.0)
    first = client.datagrams_to_send()
    now, waits = 0.0, []
    client.handle_timeout(0.5)  # early: nothing happens
    assert client.datagrams_to_send() == []
    for _ in range(MAX_RETRANSMISSIONS):
        timer = client.get_timer()
        assert timer is not None
        waits.append(timer - now)
        now = timer
        client.handle_timeout(now)
        # The same ClientHello again, in a new record (new record sequence number).
        (again,) = client.datagrams_to_send()
        assert again[13:] == first[0][13:] and again[:11] != first[0][:11]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    timer = client.get_timer()
    assert timer is not None and timer - now == 60.0  # RFC 6347 §4.2.4.1: capped at 60 s
    client.handle_timeout(timer)
    assert drain(client) == [DtlsClosed("handshake timed out", None, by_peer=False)]
    assert client.get_timer() is None


def test_duplicated_datagrams_are_harmless(certs: Certs) -> None:
    client, server = make_pair(certs)
    client.connect(0.0)
    for _ in range(10):
        for d in client.datagrams_to_send():
            server.receive_datagram(d, 0.0)
            server.receive_datagram(d, 0.0)
        for d in server.datagrams_to_send():
            client.receive_datagram(d, 0.0)
            client.receive_datagram(d, 0.0)
    assert client.is_handshake_complete and server.is_handshake_complete
    client.send_application_data(b"once")
    (datagram,) = client.datagrams_to_send()
    replayed = server.counters["replayed"]
    server.receive_datagram(datagram, 0.0)
    server.receive_datagram(datagram, 0.0)
    assert [e for e in drain(server) if isinstance(e, DtlsApplicationData)] == [
        DtlsApplicationData(b"once")
    ]
    assert server.counters["replayed"] == replayed + 1


# -- failures: each ends in the right alert, or in a silent drop ---------------------------


def test_wrong_fingerprint_at_the_client(certs: Certs) -> None:
    client, server = make_pair(certs, client_remote_fingerprints=[("sha-256", "00:" * 31 + "00")])
    client.connect(0.0)
    client_events, server_events = pump(client, server)
    assert closed_event(client_events).alert is AlertDescription.bad_certificate
    peer_side = closed_event(server_events)
    assert peer_side.alert is AlertDescription.bad_certificate and peer_side.by_peer


def test_wrong_fingerprint_at_the_server(certs: Certs) -> None:
    other = Certificate.generate()
    client, server = make_pair(certs, server_remote_fingerprints=[("sha-256", other.fingerprint())])
    client.connect(0.0)
    client_events, server_events = pump(client, server)
    assert closed_event(server_events).alert is AlertDescription.bad_certificate
    assert closed_event(client_events).by_peer
    assert not client.is_handshake_complete


def test_fingerprint_with_unknown_algorithm_only_fails(certs: Certs) -> None:
    client, server = make_pair(certs, client_remote_fingerprints=[("md5", "AB:CD")])
    client.connect(0.0)
    client_events, _ = pump(client, server)
    assert closed_event(client_events).alert is AlertDescription.bad_certificate


def test_no_common_cipher_suite(certs: Certs) -> None:
    client, server = make_pair(certs, client_cipher_suites=[AES256], server_cipher_suites=[AES128])
    client.connect(0.0)
    client_events, server_events = pump(client, server)
    assert closed_event(server_events).alert is AlertDescription.handshake_failure
    assert closed_event(client_events) == DtlsClosed(
        "peer sent handshake_failure", AlertDescription.handshake_failure, by_peer=True
    )


def test_no_common_srtp_profile(certs: Certs) -> None:
    client, server = make_pair(
        certs,
        client_srtp_profiles=[SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_32],
        server_srtp_profiles=[SrtpProfile.SRTP_AEAD_AES_128_GCM],
    )
    client.connect(0.0)
    _, server_events = pump(client, server)
    assert closed_event(server_events).alert is AlertDescription.handshake_failure


def test_tampered_finished_is_a_decrypt_error(
    certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, server = make_pair(certs)
    real = client._handshake._finished

    def wrong(*, client: bool, transcript: bytes) -> bytes:
        return bytes(b ^ 1 for b in real(client=client, transcript=transcript))

    monkeypatch.setattr(client._handshake, "_finished", wrong)
    client.connect(0.0)
    client_events, server_events = pump(client, server)
    assert closed_event(server_events).alert is AlertDescription.decrypt_error
    assert closed_event(client_events).alert is AlertDescription.decrypt_error


def test_tampered_ciphertext_is_dropped_silently_then_recovered(certs: Certs) -> None:
    client, server = make_pair(certs)
    client.connect(0.0)
    flipped: list[bool] = []

    def flip_protected(datagram: bytes) -> bytes:
        records = records_of(datagram)
        if flipped or not any(r.epoch == 1 for r in records):
            return datagram
        flipped.append(True)
        return datagram[:-1] + bytes([datagram[-1] ^ 0x80])  # the last record is Finished

    pump(client, server, to_server=flip_protected)
    assert server.counters["bad_mac"] == 1
    assert server.datagrams_to_send() == []  # no alert for a bad MAC (RFC 6347 §4.1.2.7)
    assert not server.is_handshake_complete and server.state is DtlsState.SERVER_WAIT_FINISHED
    client.handle_timeout(1.0)
    pump(client, server, now=1.0)
    assert server.is_handshake_complete and client.is_handshake_complete


def test_future_epoch_before_change_cipher_spec_is_dropped(certs: Certs) -> None:
    client, server = make_pair(certs)
    client.connect(0.0)
    pump(client, server, rounds=1)  # flight 1 -> server, flight 4 -> client
    flight5 = b"".join(client.datagrams_to_send())
    without_ccs = b"".join(
        r.encode() for r in records_of(flight5) if r.content_type != ContentType.change_cipher_spec
    )
    server.receive_datagram(without_ccs, 0.0)
    assert server.counters["future_epoch"] == 1
    assert server.state is DtlsState.SERVER_WAIT_CHANGE_CIPHER_SPEC
    assert drain(server) == [] and server.datagrams_to_send() == []


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x16",
        b"\x16\xfe\xfd\x00\x00",  # a header cut short
        b"\x16\xfe\xfd" + bytes(8) + b"\x00\x40" + b"short",  # a length past the end
        b"\x17\xfe\xfd" + bytes(8) + b"\x00\x03abc",  # plaintext application data
        b"\x15\xfe\xfd" + bytes(8) + b"\x00\x01\x02",  # a one-byte alert
        b"\x63\xfe\xfd" + bytes(8) + b"\x00\x00",  # an unknown content type
        b"\x16\x03\x03" + bytes(8) + b"\x00\x00",  # a TLS version
        b"\x16\xfe\xfd\x00\x05" + bytes(6) + b"\x00\x00",  # an unknown epoch
    ],
)
def test_garbage_and_truncated_records_are_dropped(certs: Certs, garbage: bytes) -> None:
    client, server = handshake(certs)
    for conn in (client, server):
        before = sum(conn.counters.values())
        conn.receive_datagram(garbage, 1.0)
        assert drain(conn) == [] and conn.datagrams_to_send() == []
        assert conn.state is DtlsState.ESTABLISHED
        assert sum(conn.counters.values()) == before + (1 if garbage else 0)


def test_garbage_handshake_during_handshake_is_a_decode_error(certs: Certs) -> None:
    client, server = make_pair(certs)
    client.connect(0.0)
    (hello,) = client.datagrams_to_send()
    truncated = rewrite_message(hello, HandshakeType.client_hello, lambda body: body[:40])
    server.receive_datagram(truncated, 0.0)
    assert closed_event(drain(server)).alert is AlertDescription.decode_error
    (alert,) = server.datagrams_to_send()
    assert alert[0] == ContentType.alert and alert[-2:] == bytes([2, AlertDescription.decode_error])


def test_unexpected_message_is_fatal(certs: Certs) -> None:
    client, server = make_pair(certs)
    client.connect(0.0)
    pump(client, server, rounds=1)  # the server now waits for the client's Certificate
    done = HandshakeFragment(HandshakeType.server_hello_done, 0, 1, 0, b"")
    record = client._records.seal(ContentType.handshake, done.encode(), epoch=0)
    server.receive_datagram(record, 0.0)
    assert closed_event(drain(server)).alert is AlertDescription.unexpected_message


def test_stray_messages_before_a_client_hello_are_dropped(certs: Certs) -> None:
    client, server = make_pair(certs)
    done = HandshakeFragment(HandshakeType.server_hello_done, 0, 0, 0, b"")
    server.receive_datagram(client._records.seal(ContentType.handshake, done.encode()), 0.0)
    assert server.counters["handshake_before_client_hello"] == 1
    assert drain(server) == [] and server.datagrams_to_send() == []
    client.connect(0.0)
    pump(client, server)
    assert server.is_handshake_complete


def test_unprotected_alert_after_keys_is_ignored(certs: Certs) -> None:
    client, _ = handshake(certs)
    forged = b"\x15\xfe\xfd" + bytes(8) + b"\x00\x02\x02\x28"  # fatal handshake_failure, epoch 0
    client.receive_datagram(forged, 1.0)
    assert client.counters["unprotected_alert"] == 1 and client.state is DtlsState.ESTABLISHED


@pytest.mark.parametrize(
    ("edit", "alert"),
    [
        (
            without_extension(ExtensionType.extended_master_secret),
            AlertDescription.handshake_failure,
        ),
        (
            with_extension(ExtensionType.renegotiation_info, b"\x02ab"),
            AlertDescription.handshake_failure,
        ),
        (without_extension(ExtensionType.signature_algorithms), AlertDescription.handshake_failure),
        (without_extension(ExtensionType.use_srtp), AlertDescription.handshake_failure),
        (
            with_extension(ExtensionType.ec_point_formats, b"\x01\x01"),
            AlertDescription.illegal_parameter,
        ),
        (
            with_extension(ExtensionType.supported_groups, b"\x00\x02\x00\x19"),
            AlertDescription.handshake_failure,
        ),
        (with_extension(ExtensionType.use_srtp, b"\x00\x01"), AlertDescription.decode_error),
        (lambda h: replace(h, version=0xFEFF), AlertDescription.protocol_version),
        (lambda h: replace(h, compression_methods=b"\x01"), AlertDescription.illegal_parameter),
    ],
)
def test_server_refuses_bad_client_hellos(
    certs: Certs, edit: object, alert: AlertDescription
) -> None:
    client, server = make_pair(certs)
    client.connect(0.0)
    _, server_events = pump(client, server, to_server=edit_client_hello(edit))  # type: ignore[arg-type]
    assert closed_event(server_events).alert is alert


def test_server_accepts_scsv_instead_of_renegotiation_info(certs: Certs) -> None:
    def edit(hello: ClientHello) -> ClientHello:
        hello = without_extension(ExtensionType.renegotiation_info)(hello)  # type: ignore[operator]
        return replace(
            hello,
            cipher_suites=(*hello.cipher_suites, CipherSuite.TLS_EMPTY_RENEGOTIATION_INFO_SCSV),
        )

    client, server = make_pair(certs)
    client.connect(0.0)
    pump(client, server, to_server=edit_client_hello(edit))  # type: ignore[arg-type]
    # The transcripts differ (we edited the hello), so Finished fails; but the server did
    # answer with renegotiation_info, or the client would have refused the ServerHello.
    assert client.state is DtlsState.CLOSED
    assert client.counters["unexpected_change_cipher_spec"] == 0
    assert server.state is DtlsState.CLOSED


@pytest.mark.parametrize(
    ("edit", "alert"),
    [
        (with_extension(0x1234, b""), AlertDescription.unsupported_extension),
        (without_extension(ExtensionType.renegotiation_info), AlertDescription.handshake_failure),
        (
            without_extension(ExtensionType.extended_master_secret),
            AlertDescription.handshake_failure,
        ),
        (without_extension(ExtensionType.use_srtp), AlertDescription.handshake_failure),
        (
            with_extension(ExtensionType.use_srtp, UseSrtp((1, 7)).encode()),
            AlertDescription.illegal_parameter,
        ),
        (
            with_extension(ExtensionType.use_srtp, UseSrtp((2,)).encode()),
            AlertDescription.illegal_parameter,
        ),
        (
            with_extension(ExtensionType.use_srtp, UseSrtp((7,), b"mki").encode()),
            AlertDescription.illegal_parameter,
        ),
        (
            with_extension(ExtensionType.renegotiation_info, b"\x01x"),
            AlertDescription.handshake_failure,
        ),
        (
            with_extension(ExtensionType.ec_point_formats, b"\x01\x02"),
            AlertDescription.illegal_parameter,
        ),
        (lambda h: replace(h, cipher_suite=CHACHA), AlertDescription.illegal_parameter),
        (lambda h: replace(h, version=0xFEFF), AlertDescription.protocol_version),
        (lambda h: replace(h, compression_method=1), AlertDescription.illegal_parameter),
    ],
)
def test_client_refuses_bad_server_hellos(
    certs: Certs, edit: object, alert: AlertDescription
) -> None:
    client, server = make_pair(certs)
    client.connect(0.0)
    client_events, _ = pump(client, server, to_client=edit_server_hello(edit))  # type: ignore[arg-type]
    assert closed_event(client_events).alert is alert


def test_client_without_certificate_is_refused_when_fingerprints_are_set(certs: Certs) -> None:
    client, server = make_pair(certs)
    # A client that cannot sign with any scheme the server listed sends an empty Certificate.
    client._settings.certificate.__class__ = type(
        "Unsigned", (Certificate,), {"signature_scheme": 0x0807}
    )
    try:
        client.connect(0.0)
        _, server_events = pump(client, server)
    finally:
        client._settings.certificate.__class__ = Certificate
    assert closed_event(server_events).alert is AlertDescription.handshake_failure


def test_client_without_certificate_is_accepted_when_fingerprints_are_not_checked(
    certs: Certs,
) -> None:
    client, server = make_pair(certs, server_remote_fingerprints=None)
    client._settings.certificate.__class__ = type(
        "Unsigned", (Certificate,), {"signature_scheme": 0x0807}
    )
    try:
        client.connect(0.0)
        client_events, server_events = pump(client, server)
    finally:
        client._settings.certificate.__class__ = Certificate
    assert server_events == [DtlsHandshakeComplete(SrtpProfile.SRTP_AEAD_AES_128_GCM, AES128, None)]
    assert isinstance(client_events[0], DtlsHandshakeComplete)


def test_client_without_supported_groups_gets_p256(certs: Certs) -> None:
    client, server = make_pair(certs)
    client.connect(0.0)
    groups: list[int] = []

    def look(datagram: bytes) -> bytes:
        for record in records_of(datagram):
            if record.epoch == 0 and record.content_type == ContentType.handshake:
                for frag in iter_fragments(record.fragment):
                    if frag.msg_type == HandshakeType.server_key_exchange:
                        groups.append(ServerKeyExchange.parse(frag.body).named_group)
        return datagram

    no_groups = edit_client_hello(without_extension(ExtensionType.supported_groups))
    pump(client, server, to_server=no_groups, to_client=look)  # type: ignore[arg-type]
    assert groups == [NamedGroup.secp256r1]


def test_client_refuses_a_server_key_that_cannot_sign_ecdsa(certs: Certs) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([])
    now = datetime.datetime.now(datetime.UTC)
    rsa_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now)
        .sign(key, hashes.SHA256())
    ).public_bytes(serialization.Encoding.DER)
    client, server = make_pair(
        certs, client_remote_fingerprints=[("sha-256", fingerprint(rsa_cert))]
    )
    client.connect(0.0)

    def swap(datagram: bytes) -> bytes:
        return rewrite_message(
            datagram, HandshakeType.certificate, lambda _: CertificateMessage((rsa_cert,)).encode()
        )

    client_events, _ = pump(client, server, to_client=swap)
    assert closed_event(client_events).alert is AlertDescription.unsupported_certificate


def test_application_data_before_the_peers_finished_is_discarded(certs: Certs) -> None:
    # RFC 6347 §4.2.4: data of the new epoch that overtakes the peer's Finished is discarded
    # (or buffered) until that Finished arrives; we discard it.
    client, server = make_pair(certs)
    client.connect(0.0)
    pump(client, server, rounds=1)  # flight 1 -> server, flight 4 -> client
    server.receive_datagram(b"".join(client.datagrams_to_send()), 0.0)  # flight 5
    assert server.is_handshake_complete
    flight6 = records_of(b"".join(server.datagrams_to_send()))
    server.send_application_data(b"too early")
    (early,) = server.datagrams_to_send()
    ccs = [r for r in flight6 if r.content_type == ContentType.change_cipher_spec]
    rest = [r for r in flight6 if r.content_type != ContentType.change_cipher_spec]
    client.receive_datagram(b"".join(r.encode() for r in ccs), 0.0)
    client.receive_datagram(early, 0.0)  # decrypts under epoch 1, but Finished is missing
    assert client.counters["early_application_data"] == 1
    assert not any(isinstance(e, DtlsApplicationData) for e in drain(client))
    client.receive_datagram(b"".join(r.encode() for r in rest), 0.0)
    assert any(isinstance(e, DtlsHandshakeComplete) for e in drain(client))


def test_every_counted_name_is_declared() -> None:
    """Each counter the layer increments is in COUNTERS, so an exporter shows it from zero."""
    counted: set[str] = set()
    for path in Path(voice.dtls.__file__).parent.glob("*.py"):
        counted |= set(re.findall(r'counters\["([a-z_]+)"\]', path.read_text(encoding="utf-8")))
    assert counted and counted <= set(COUNTERS)
