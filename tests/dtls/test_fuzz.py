"""Hypothesis feeds mutated flights to both roles: nothing a peer sends may raise.

Each example runs a real handshake between two of our connections and corrupts one datagram
on its way (flips bytes, cuts it short, splices in garbage, or replaces it). Whatever
happens -- a silent drop, an alert, a completed handshake -- no exception may escape either
connection, and a connection that closes reports exactly one DtlsClosed.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice.dtls import Certificate, DtlsClosed, DtlsHandshakeComplete

from .pair import make_pair, pump

_CERTS = (Certificate.generate(), Certificate.generate())

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2000), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 2000), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 2000), st.integers(0, 255)),
    st.tuples(st.just("replace"), st.integers(0, 2000), st.integers(0, 255)),
)


def mutate(datagram: bytes, how: tuple[str, int, int], garbage: bytes) -> bytes:
    kind, at, value = how
    at = at % (len(datagram) + 1)
    if kind == "flip" and at < len(datagram):
        return datagram[:at] + bytes([datagram[at] ^ value]) + datagram[at + 1 :]
    if kind == "truncate":
        return datagram[:at]
    if kind == "insert":
        return datagram[:at] + garbage + datagram[at:]
    return garbage + datagram[at:]


@given(
    to_server=st.booleans(),
    index=st.integers(0, 8),
    mutations=st.lists(mutation, min_size=1, max_size=3),
    garbage=st.binary(max_size=16),
    cookie=st.booleans(),
    small=st.booleans(),
)
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_flights_never_escape(
    to_server: bool,
    index: int,
    mutations: list[tuple[str, int, int]],
    garbage: bytes,
    cookie: bool,
    small: bool,
) -> None:
    kwargs: dict[str, object] = {"max_datagram_size": 200 if small else 1200}
    if cookie:
        kwargs["server_cookie_secret"] = b"c" * 32
    client, server = make_pair(_CERTS, **kwargs)
    count = 0

    def tamper(datagram: bytes) -> bytes:
        nonlocal count
        count += 1
        if count - 1 != index:
            return datagram
        for how in mutations:
            datagram = mutate(datagram, how, garbage)
        return datagram

    client.connect(0.0)
    if to_server:
        client_events, server_events = pump(client, server, to_server=tamper)
    else:
        client_events, server_events = pump(client, server, to_client=tamper)
    # Let the timers run so that a dropped datagram is recovered from, or the handshake
    # gives up; either way the objects stay well-behaved.
    now = 0.0
    for _ in range(10):
        timers = [t for t in (client.get_timer(), server.get_timer()) if t is not None]
        if not timers:
            break
        now = min(timers)
        client.handle_timeout(now)
        server.handle_timeout(now)
        more_client, more_server = pump(client, server, now=now)
        client_events += more_client
        server_events += more_server
    for events in (client_events, server_events):
        assert sum(isinstance(e, DtlsClosed) for e in events) <= 1
        assert sum(isinstance(e, DtlsHandshakeComplete) for e in events) <= 1
    if client.is_handshake_complete and server.is_handshake_complete:
        assert client.srtp_keying_material() == server.srtp_keying_material()
