"""Tests of the minimal controlling client, mostly against the lite agent (no sockets, no clock)."""

import random

from voice.ice import IceConnected, IceConsentExpired, IceControllingClient, IceLiteAgent
from voice.ice.events import IceEvent, IceSelectedPairChanged
from voice.stun import (
    ErrorCodeAttribute,
    IceControlling,
    Message,
    MessageClass,
    Method,
    Priority,
    UseCandidate,
    Username,
    XorMappedAddress,
    parse_message,
)

SERVER = ("203.0.113.5", 3478)
CLIENT = ("192.0.2.10", 50000)
CLIENT_REBOUND = ("192.0.2.10", 50999)
S_UFRAG, S_PWD = "srv1", "server-password-0123456789"
C_UFRAG, C_PWD = "cli1", "client-password-0123456789"


def pair(**kwargs: object) -> tuple[IceControllingClient, IceLiteAgent]:
    client = IceControllingClient(
        C_UFRAG,
        C_PWD,
        S_UFRAG,
        S_PWD,
        SERVER,
        tie_breaker=42,
        rng=random.Random(1),
        **kwargs,  # type: ignore[arg-type]
    )
    agent = IceLiteAgent(S_UFRAG, S_PWD, remote_ufrag=C_UFRAG, remote_pwd=C_PWD)
    return client, agent


def drain(obj: IceControllingClient | IceLiteAgent) -> list[IceEvent]:
    out = []
    while (event := obj.next_event()) is not None:
        out.append(event)
    return out


def exchange(
    client: IceControllingClient,
    agent: IceLiteAgent,
    now: float,
    *,
    source: tuple[str, int] = CLIENT,
) -> int:
    """Delivers client->server and server->client datagrams; returns how many requests."""
    requests = client.datagrams_to_send()
    for data, to in requests:
        assert to == SERVER
        agent.receive_datagram(data, source, now)
    for data, to in agent.datagrams_to_send():
        assert to == source
        client.receive_datagram(data, SERVER, now)
    return len(requests)


def test_request_carries_what_rfc_8445_asks() -> None:
    client, _ = pair()
    client.connect(0.0)
    [(data, to)] = client.datagrams_to_send()
    assert to == SERVER
    request = parse_message(data)
    assert request.message_class is MessageClass.REQUEST
    assert request.method is Method.BINDING
    assert request.get(Username) == Username(f"{S_UFRAG}:{C_UFRAG}")
    assert request.get(IceControlling) == IceControlling(42)
    assert request.get(UseCandidate) is not None
    assert request.get(Priority) == Priority((110 << 24) + (65535 << 8) + 255)
    assert request.check_integrity(S_PWD.encode())
    assert request.has_fingerprint


def test_connects_to_the_lite_agent() -> None:
    client, agent = pair()
    client.connect(0.0)
    assert exchange(client, agent, 0.0) == 1
    assert drain(client) == [IceConnected(CLIENT)]
    assert drain(agent) == [IceConnected(CLIENT)]
    assert client.connected
    assert client.mapped_address == CLIENT
    assert agent.selected_address == CLIENT


def test_retransmits_until_answered() -> None:
    client, agent = pair(check_interval=0.5)
    client.connect(0.0)
    [(first, _)] = client.datagrams_to_send()  # lost
    assert client.get_timer() == 0.5
    client.handle_timeout(0.4)
    assert client.datagrams_to_send() == []
    client.handle_timeout(0.5)
    [(second, _)] = client.datagrams_to_send()
    assert second == first  # same transaction, same bytes
    assert client.get_timer() == 1.0
    agent.receive_datagram(second, CLIENT, 0.5)
    for data, _ in agent.datagrams_to_send():
        client.receive_datagram(data, SERVER, 0.6)
    assert drain(client) == [IceConnected(CLIENT)]
    assert client.counters["requests_sent"] == 2


def test_consent_checks_keep_both_sides_alive() -> None:
    client, agent = pair()
    client.connect(0.0)
    exchange(client, agent, 0.0)
    drain(client)
    drain(agent)
    now = 0.0
    intervals = []
    while now < 120.0:
        timer = client.get_timer()
        assert timer is not None
        intervals.append(timer - now)
        now = timer
        client.handle_timeout(now)
        agent.handle_timeout(now)
        exchange(client, agent, now)
    # RFC 7675 §5.1: every 5 s, randomised within 0.8-1.2 of it.
    assert all(4.0 <= i <= 6.0 for i in intervals)
    assert drain(client) == []
    assert drain(agent) == []
    assert client.counters["success_responses"] > 20


def test_consent_expires_when_the_server_goes_quiet() -> None:
    client, agent = pair()
    client.connect(0.0)
    exchange(client, agent, 10.0)  # answered at t=10
    drain(client)
    now = 10.0
    while (timer := client.get_timer()) is not None and timer < 40.0:
        now = timer
        client.handle_timeout(now)
        client.datagrams_to_send()  # lost
    assert client.get_timer() == 40.0
    client.handle_timeout(39.999)
    assert drain(client) == []
    client.handle_timeout(40.0)
    assert drain(client) == [IceConsentExpired()]
    assert client.get_timer() is None


def test_never_answered_gives_up_at_the_consent_timeout() -> None:
    client, _ = pair(consent_timeout=3.0)
    client.connect(0.0)
    while (timer := client.get_timer()) is not None:
        client.handle_timeout(timer)
        client.datagrams_to_send()
    assert drain(client) == [IceConsentExpired()]


def test_wrong_password_response_is_ignored() -> None:
    client = IceControllingClient(C_UFRAG, C_PWD, S_UFRAG, "a-different-password-xxxx", SERVER)
    agent = IceLiteAgent(S_UFRAG, S_PWD)
    client.connect(0.0)
    exchange(client, agent, 0.0)
    assert drain(client) == []
    assert agent.counters["bad_integrity"] == 1
    # The 401 carries no MESSAGE-INTEGRITY, so the client cannot trust it either.
    assert client.counters["dropped_bad_integrity"] == 1


def test_response_from_elsewhere_or_for_another_transaction_is_ignored() -> None:
    client, agent = pair()
    client.connect(0.0)
    [(data, _)] = client.datagrams_to_send()
    agent.receive_datagram(data, CLIENT, 0.0)
    [(response, _)] = agent.datagrams_to_send()
    client.receive_datagram(response, ("203.0.113.6", 3478), 0.0)  # RFC 8445 §7.2.5.2.1
    assert client.counters["dropped_wrong_source"] == 1
    forged = Message(
        MessageClass.SUCCESS_RESPONSE,
        Method.BINDING,
        bytes(12),
        (XorMappedAddress("10.0.0.1", 1),),
    ).encode(integrity_key=S_PWD.encode(), fingerprint=True)
    client.receive_datagram(forged, SERVER, 0.0)
    assert client.counters["dropped_unexpected"] == 1
    client.receive_datagram(b"\x00garbage", SERVER, 0.0)
    assert client.counters["dropped_malformed"] == 1
    assert drain(client) == []
    client.receive_datagram(response, SERVER, 0.0)
    assert drain(client) == [IceConnected(CLIENT)]


def test_rebinding_client_is_followed_by_the_agent() -> None:
    client, agent = pair()
    client.connect(0.0)
    exchange(client, agent, 0.0)
    drain(agent)
    timer = client.get_timer()
    assert timer is not None
    client.handle_timeout(timer)
    exchange(client, agent, timer, source=CLIENT_REBOUND)  # the NAT picked a new port
    assert drain(agent) == [IceSelectedPairChanged(CLIENT_REBOUND)]
    assert client.mapped_address == CLIENT_REBOUND


def test_role_conflict_is_counted() -> None:
    client, _ = pair()
    client.connect(0.0)
    [(data, _)] = client.datagrams_to_send()
    request = parse_message(data)
    conflict = Message(
        MessageClass.ERROR_RESPONSE,
        Method.BINDING,
        request.transaction_id,
        (ErrorCodeAttribute(487),),
    ).encode(integrity_key=S_PWD.encode(), fingerprint=True)
    client.receive_datagram(conflict, SERVER, 0.1)
    assert client.counters["role_conflicts"] == 1
    assert not client.connected
    client.handle_timeout(0.5)
    [(retry, _)] = client.datagrams_to_send()
    assert parse_message(retry).transaction_id != request.transaction_id  # a new transaction


def _server_check(password: str, username: str = f"{C_UFRAG}:{S_UFRAG}") -> bytes:
    request = Message(
        MessageClass.REQUEST,
        Method.BINDING,
        b"\x07" * 12,
        (Username(username), Priority(1), UseCandidate()),
    )
    return request.encode(integrity_key=password.encode(), fingerprint=True)


def test_answers_a_full_agent_servers_own_checks() -> None:
    client, agent = pair()
    client.connect(0.0)
    exchange(client, agent, 0.0)
    client.receive_datagram(_server_check(C_PWD), SERVER, 0.1)
    [(data, to)] = client.datagrams_to_send()
    response = parse_message(data)
    assert to == SERVER
    assert response.message_class is MessageClass.SUCCESS_RESPONSE
    assert response.transaction_id == b"\x07" * 12
    assert response.check_integrity(C_PWD.encode())
    assert response.get(XorMappedAddress) == XorMappedAddress(*SERVER)


def test_refuses_checks_it_cannot_authenticate() -> None:
    client, agent = pair()
    client.connect(0.0)
    exchange(client, agent, 0.0)
    client.receive_datagram(_server_check("wrong-password-wrong-pw"), SERVER, 0.1)
    client.receive_datagram(_server_check(C_PWD, username="someone:else"), SERVER, 0.1)
    assert client.datagrams_to_send() == []
    assert client.counters["requests_refused"] == 2


def test_each_consent_check_is_a_new_transaction() -> None:
    # RFC 7675 §5.1: every consent check has a transaction id of its own.
    client, agent = pair()
    client.connect(0.0)
    exchange(client, agent, 0.0)
    ids = set()
    now = 0.0
    for _ in range(5):
        now = client.get_timer() or now
        client.handle_timeout(now)
        sent = client.datagrams_to_send()
        assert len(sent) == 1
        ids.add(parse_message(sent[0][0]).transaction_id)
    assert len(ids) == 5


def test_a_response_after_consent_expiry_is_ignored() -> None:
    # RFC 7675 §5.1: outstanding consent transactions are dropped when consent expires.
    client, agent = pair()
    client.connect(0.0)
    exchange(client, agent, 0.0)
    drain(client)
    late = []
    now = 0.0
    while (timer := client.get_timer()) is not None:
        now = timer
        client.handle_timeout(now)
        for data, _ in client.datagrams_to_send():
            agent.receive_datagram(data, CLIENT, now)
            late.extend(agent.datagrams_to_send())  # answered, but never delivered
    assert drain(client) == [IceConsentExpired()]
    assert late
    for data, _ in late:
        client.receive_datagram(data, SERVER, now + 1.0)
    assert drain(client) == []
    assert client.counters["success_responses"] == 1
    assert client.datagrams_to_send() == []


def test_response_signed_with_the_other_algorithm_is_dropped() -> None:
    # RFC 8489 §9.1.4: the client sent MESSAGE-INTEGRITY only, so a response protected by
    # MESSAGE-INTEGRITY-SHA256 alone (even with the right password) is discarded.
    client, _agent = pair()
    client.connect(0.0)
    [(data, _)] = client.datagrams_to_send()
    tid = parse_message(data).transaction_id
    forged = Message(
        MessageClass.SUCCESS_RESPONSE, Method.BINDING, tid, (XorMappedAddress(*CLIENT),)
    ).encode(integrity_sha256_key=S_PWD.encode(), fingerprint=True)
    client.receive_datagram(forged, SERVER, 0.1)
    assert drain(client) == []
    assert client.counters["dropped_bad_integrity"] == 1


def test_consent_check_intervals_are_randomised() -> None:
    # RFC 7675 §5.1: each interval is drawn afresh between 0.8 and 1.2 times the base period
    # (so that checks from many agents do not fall into step), never a fixed 5 s.
    client, agent = pair()
    client.connect(0.0)
    exchange(client, agent, 0.0)
    drain(client)
    now = 0.0
    intervals = []
    while now < 300.0:
        timer = client.get_timer()
        assert timer is not None
        intervals.append(timer - now)
        now = timer
        client.handle_timeout(now)
        agent.handle_timeout(now)
        exchange(client, agent, now)
    assert all(4.0 <= i <= 6.0 for i in intervals)
    assert len({round(i, 6) for i in intervals}) > len(intervals) // 2
    assert max(intervals) - min(intervals) > 1.0
    # Below and above the base period alike: a draw, not a fixed offset.
    assert min(intervals) < 4.5 and max(intervals) > 5.5
