"""DTLS handshake CPU time per role: voice.dtls against OpenSSL (through pyOpenSSL).

Both run the same WebRTC-shaped handshake in memory: ECDHE (X25519) with ECDSA P-256
certificates on both sides, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, use_srtp, extended
master secret, a client certificate, and the SRTP keying material exported at the end.
Certificates are made once, as a transceiver would. The CPU time spent inside each role's
calls is measured separately (``time.process_time_ns``), and medians over many handshakes
are printed with the ratio to OpenSSL's, which is C and the natural floor.

Run: ``python bench/dtls.py [--handshakes N]`` or ``./dev bench dtls``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from voice.dtls import Certificate, DtlsConnection, DtlsHandshakeComplete
from voice.dtls.connection import SRTP_EXPORTER_LABEL
from voice.srtp.profiles import SrtpProfile

# Run as a script or loaded by `voice bench`: either way bench/ must be importable for the
# shared helpers.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table

_clock = time.process_time_ns


class _Meter:
    """Adds up the CPU time spent inside calls made through it."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self, fn: Callable[..., object], *args: object) -> object:
        start = _clock()
        try:
            return fn(*args)
        finally:
            self.ns += _clock() - start


def voice_handshake(server_cert: Certificate, client_cert: Certificate) -> tuple[int, int]:
    """One in-memory handshake of ours; returns (client ns, server ns)."""
    client_meter, server_meter = _Meter(), _Meter()
    profiles = [SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80]
    start = _clock()
    client = DtlsConnection(
        is_server=False,
        certificate=client_cert,
        remote_fingerprints=[("sha-256", server_cert.fingerprint())],
        srtp_profiles=profiles,
    )
    client_meter.ns += _clock() - start
    start = _clock()
    server = DtlsConnection(
        is_server=True,
        certificate=server_cert,
        remote_fingerprints=[("sha-256", client_cert.fingerprint())],
        srtp_profiles=profiles,
    )
    server_meter.ns += _clock() - start
    client_meter(client.connect, 0.0)
    while not (client.is_handshake_complete and server.is_handshake_complete):
        datagrams = client_meter(client.datagrams_to_send)
        assert isinstance(datagrams, list)
        for datagram in datagrams:
            server_meter(server.receive_datagram, datagram, 0.0)
        datagrams = server_meter(server.datagrams_to_send)
        assert isinstance(datagrams, list)
        for datagram in datagrams:
            client_meter(client.receive_datagram, datagram, 0.0)
        if not datagrams and not client.is_handshake_complete:
            raise RuntimeError(f"handshake stalled: {client.counters} {server.counters}")
    for conn, meter in ((client, client_meter), (server, server_meter)):
        event = meter(conn.next_event)
        assert isinstance(event, DtlsHandshakeComplete), event
        meter(conn.srtp_keying_material)
    return client_meter.ns, server_meter.ns


def openssl_handshake(contexts: tuple[object, object]) -> tuple[int, int]:
    """The same handshake with OpenSSL through pyOpenSSL and memory BIOs."""
    from OpenSSL import SSL

    client_ctx, server_ctx = contexts
    client_meter, server_meter = _Meter(), _Meter()
    start = _clock()
    client = SSL.Connection(client_ctx)  # type: ignore[arg-type]
    client.set_connect_state()
    client_meter.ns += _clock() - start
    start = _clock()
    server = SSL.Connection(server_ctx)  # type: ignore[arg-type]
    server.set_accept_state()
    server_meter.ns += _clock() - start

    def step(conn: SSL.Connection) -> bool:
        try:
            conn.do_handshake()
        except SSL.WantReadError:
            return False
        return True

    def pending(conn: SSL.Connection) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(conn.bio_read(65536))
            except SSL.WantReadError:
                return out

    client_done = server_done = False
    while not (client_done and server_done):
        client_done = bool(client_meter(step, client))
        for datagram in client_meter(pending, client):  # type: ignore[attr-defined]
            server_meter(server.bio_write, datagram)
        server_done = bool(server_meter(step, server))
        for datagram in server_meter(pending, server):  # type: ignore[attr-defined]
            client_meter(client.bio_write, datagram)
    for conn, meter in ((client, client_meter), (server, server_meter)):
        meter(conn.get_selected_srtp_profile)
        meter(conn.export_keying_material, SRTP_EXPORTER_LABEL, 60)
    return client_meter.ns, server_meter.ns


def openssl_contexts(server_cert: Certificate, client_cert: Certificate) -> tuple[object, object]:
    from OpenSSL import SSL, crypto

    def context(cert: Certificate) -> SSL.Context:
        ctx = SSL.Context(SSL.DTLS_METHOD)
        ctx.use_certificate(crypto.X509.from_cryptography(cert.x509))
        ctx.use_privatekey(crypto.PKey.from_cryptography_key(cert.private_key))
        ctx.set_cipher_list(b"ECDHE-ECDSA-AES128-GCM-SHA256")
        ctx.set_tlsext_use_srtp(b"SRTP_AES128_CM_SHA1_80")
        # Like WebRTC: ask for the peer's certificate and accept it; the fingerprint check
        # would follow, as it does inside our handshake.
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *args: True)
        return ctx

    return context(client_cert), context(server_cert)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/dtls.py", description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=300, help="handshakes per stack")
    args = parser.parse_args(argv)

    server_cert, client_cert = Certificate.generate(), Certificate.generate()
    contexts = openssl_contexts(server_cert, client_cert)
    for _ in range(10):  # warm up both
        voice_handshake(server_cert, client_cert)
        openssl_handshake(contexts)
    ours: list[tuple[int, int]] = []
    theirs: list[tuple[int, int]] = []
    for _ in range(args.handshakes):  # interleaved, so machine noise hits both alike
        ours.append(voice_handshake(server_cert, client_cert))
        theirs.append(openssl_handshake(contexts))

    def median_ms(samples: list[tuple[int, int]], role: int) -> float:
        return statistics.median(s[role] for s in samples) / 1e6

    rows = []
    for role, name in ((0, "client"), (1, "server")):
        mine, base = median_ms(ours, role), median_ms(theirs, role)
        rows.append([name, mine, base, f"{mine / base:.2f}x"])
    total_ours = statistics.median(c + s for c, s in ours) / 1e6
    total_base = statistics.median(c + s for c, s in theirs) / 1e6
    rows.append(["both", total_ours, total_base, f"{total_ours / total_base:.2f}x"])
    print(f"DTLS 1.2 handshake CPU time, median of {args.handshakes} (ms)")
    print_table(["role", "voice.dtls ms", "OpenSSL (pyOpenSSL) ms", "ratio"], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
