"""Tests of the ICE-lite responder, driven by a scripted client: no sockets, no clock."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.ice import IceConnected, IceConsentExpired, IceLiteAgent, IceSelectedPairChanged
from voice.ice.lite import COUNTERS
from voice.stun import (
    Attribute,
    ErrorCodeAttribute,
    IceControlled,
    IceControlling,
    Message,
    MessageClass,
    MessageIntegrity,
    MessageIntegritySha256,
    Method,
    Priority,
    Software,
    UnknownAttribute,
    UnknownAttributes,
    UseCandidate,
    Username,
    XorMappedAddress,
    new_transaction_id,
    parse_message,
)

LOCAL_UFRAG, LOCAL_PWD = "srv1", "server-password-0123456789"
REMOTE_UFRAG, REMOTE_PWD = "cli1", "client-password-0123456789"
CLIENT = ("192.0.2.10", 50000)
CLIENT_REBOUND = ("192.0.2.10", 50999)
CLIENT_OTHER = ("198.51.100.7", 40000)
CONTROLLING = IceControlling(0x1234)


def make_agent(**kwargs: object) -> IceLiteAgent:
    kwargs.setdefault("remote_ufrag", REMOTE_UFRAG)
    kwargs.setdefault("remote_pwd", REMOTE_PWD)
    return IceLiteAgent(LOCAL_UFRAG, LOCAL_PWD, **kwargs)  # type: ignore[arg-type]


def check(
    *,
    username: str | None = f"{LOCAL_UFRAG}:{REMOTE_UFRAG}",
    password: str | None = LOCAL_PWD,
    use_candidate: bool = False,
    role: Attribute | None = CONTROLLING,
    extra: tuple[Attribute, ...] = (),
    fingerprint: bool = True,
    sha256: bool = False,
    tid: bytes | None = None,
) -> bytes:
    """A connectivity check as a browser sends it to a lite agent (RFC 8445 §7.2.2)."""
    attributes: list[Attribute] = []
    if username is not None:
        attributes.append(Username(username))
    attributes.append(Priority(1853824767))
    if role is not None:
        attributes.append(role)
    if use_candidate:
        attributes.append(UseCandidate())
    attributes.extend(extra)
    message = Message(
        MessageClass.REQUEST, Method.BINDING, tid or new_transaction_id(), tuple(attributes)
    )
    key = password.encode() if password is not None else None
    return message.encode(
        integrity_key=None if sha256 else key,
        integrity_sha256_key=key if sha256 else None,
        fingerprint=fingerprint,
    )


def events(agent: IceLiteAgent) -> list[object]:
    out = []
    while (event := agent.next_event()) is not None:
        out.append(event)
    return out


def only_response(agent: IceLiteAgent, to: tuple[str, int] = CLIENT) -> Message:
    sent = agent.datagrams_to_send()
    assert len(sent) == 1
    data, addr = sent[0]
    assert addr == to
    return parse_message(data)


def error_code(response: Message) -> int:
    assert response.message_class is MessageClass.ERROR_RESPONSE
    error = response.get(ErrorCodeAttribute)
    assert error is not None
    return error.code


# --- the check and its answer (RFC 8445 §7.3) -------------------------------------------------


def test_success_response() -> None:
    agent = make_agent(software="voice-test")
    tid = new_transaction_id()
    agent.receive_datagram(check(tid=tid), CLIENT, now=1.0)
    response = only_response(agent)
    assert response.message_class is MessageClass.SUCCESS_RESPONSE
    assert response.method is Method.BINDING
    assert response.transaction_id == tid
    assert response.get(XorMappedAddress) == XorMappedAddress(*CLIENT)
    assert response.get(Software) == Software("voice-test")
    assert response.check_integrity(LOCAL_PWD.encode())
    assert response.has_fingerprint
    assert agent.counters["success_responses"] == 1
    assert agent.counters["requests"] == 1


def test_success_response_ipv6() -> None:
    agent = make_agent()
    client = ("2001:db8::7", 61000)
    agent.receive_datagram(check(), client, now=0.0)
    response = only_response(agent, to=client)
    assert response.get(XorMappedAddress) == XorMappedAddress(*client)


def test_check_without_use_candidate_does_not_connect() -> None:
    agent = make_agent()
    agent.receive_datagram(check(), CLIENT, now=0.0)
    assert events(agent) == []
    assert agent.selected_address is None
    assert agent.get_timer() == 30.0  # consent is counted from the first valid check


def test_a_succeeded_check_validates_its_address_before_nomination() -> None:
    agent = make_agent()
    other = ("192.0.2.99", 4000)
    agent.receive_datagram(check(password="wrong-password-wrong-password"), other, now=0.0)
    agent.receive_datagram(check(), CLIENT, now=0.0)
    assert agent.is_validated(CLIENT)
    assert not agent.is_validated(other)
    assert agent.selected_address is None


def test_wrong_password_is_401_and_changes_nothing() -> None:
    agent = make_agent()
    agent.receive_datagram(
        check(password="not-the-password-at-all", use_candidate=True), CLIENT, now=0.0
    )
    response = only_response(agent)
    assert error_code(response) == 401
    assert response.get(MessageIntegrity) is None  # nothing to key it to
    assert response.has_fingerprint
    assert events(agent) == []
    assert agent.selected_address is None
    assert agent.get_timer() is None
    assert agent.counters["bad_integrity"] == 1


def test_wrong_local_ufrag_is_401() -> None:
    agent = make_agent()
    agent.receive_datagram(check(username=f"other:{REMOTE_UFRAG}", use_candidate=True), CLIENT, 0)
    assert error_code(only_response(agent)) == 401
    assert agent.counters["bad_username"] == 1
    assert events(agent) == []


def test_wrong_remote_ufrag_is_401_once_known() -> None:
    agent = make_agent()
    agent.receive_datagram(check(username=f"{LOCAL_UFRAG}:someone"), CLIENT, 0)
    assert error_code(only_response(agent)) == 401
    for username in (LOCAL_UFRAG, f"{LOCAL_UFRAG}:", f":{REMOTE_UFRAG}"):
        agent.receive_datagram(check(username=username), CLIENT, 0)
        assert error_code(only_response(agent)) == 401
    assert agent.counters["bad_username"] == 4


def test_checks_before_remote_credentials_are_answered() -> None:
    # RFC 8445 §7.3: checks may arrive before the answer's credentials; any remote part is
    # accepted until they are known, and only the one given afterwards.
    agent = IceLiteAgent(LOCAL_UFRAG, LOCAL_PWD)
    agent.receive_datagram(check(username=f"{LOCAL_UFRAG}:early", use_candidate=True), CLIENT, 0)
    assert only_response(agent).message_class is MessageClass.SUCCESS_RESPONSE
    assert events(agent) == [IceConnected(CLIENT)]
    agent.set_remote_credentials(REMOTE_UFRAG, REMOTE_PWD)
    agent.receive_datagram(check(username=f"{LOCAL_UFRAG}:early"), CLIENT, 1)
    assert error_code(only_response(agent)) == 401
    agent.receive_datagram(check(), CLIENT, 1)
    assert only_response(agent).message_class is MessageClass.SUCCESS_RESPONSE


def test_missing_username_or_integrity_is_400() -> None:
    agent = make_agent()
    agent.receive_datagram(check(username=None), CLIENT, 0)
    assert error_code(only_response(agent)) == 400
    agent.receive_datagram(check(password=None), CLIENT, 0)
    response = only_response(agent)
    assert error_code(response) == 400
    assert response.get(MessageIntegrity) is None
    assert agent.counters["bad_request"] == 2


def test_missing_fingerprint_is_dropped_silently() -> None:
    agent = make_agent()
    agent.receive_datagram(check(fingerprint=False, use_candidate=True), CLIENT, 0)
    assert agent.datagrams_to_send() == []
    assert events(agent) == []
    assert agent.counters["dropped_no_fingerprint"] == 1


def test_unknown_comprehension_required_attribute_is_420() -> None:
    agent = make_agent()
    agent.receive_datagram(check(extra=(UnknownAttribute(0x7F01, b"?"),)), CLIENT, 0)
    response = only_response(agent)
    assert error_code(response) == 420
    assert response.get(UnknownAttributes) == UnknownAttributes((0x7F01,))
    assert response.check_integrity(LOCAL_PWD.encode())  # the request was authentic


def test_unknown_optional_attribute_is_ignored() -> None:
    agent = make_agent()
    agent.receive_datagram(check(extra=(UnknownAttribute(0xC057, b"x"),)), CLIENT, 0)
    assert only_response(agent).message_class is MessageClass.SUCCESS_RESPONSE


def test_software_name_is_bounded() -> None:
    # RFC 8489 §14.14: SOFTWARE is fewer than 128 characters.
    make_agent(software="s" * 127)
    with pytest.raises(ValueError, match="fewer than 128"):
        make_agent(software="s" * 128)


def test_known_but_unexpected_attributes_are_ignored() -> None:
    # RFC 8489 §6.3: attributes we know but do not expect in a request change nothing.
    agent = make_agent()
    unexpected = (XorMappedAddress("203.0.113.9", 9), ErrorCodeAttribute(400), Software("x"))
    agent.receive_datagram(check(extra=unexpected), CLIENT, now=0.0)
    response = only_response(agent)
    assert response.message_class is MessageClass.SUCCESS_RESPONSE
    assert response.get(XorMappedAddress) == XorMappedAddress(*CLIENT)


def test_a_retransmitted_check_gets_the_same_response() -> None:
    # RFC 8489 §6.3.1: the agent keeps no transaction state; Binding is idempotent, so
    # reprocessing a retransmission yields the response the original got.
    agent = make_agent(software="voice-test")
    request = check(use_candidate=True)
    agent.receive_datagram(request, CLIENT, now=0.0)
    first = agent.datagrams_to_send()
    agent.receive_datagram(request, CLIENT, now=0.2)
    assert agent.datagrams_to_send() == first
    assert events(agent) == [IceConnected(CLIENT)]


def test_responses_never_carry_username() -> None:
    # RFC 8489 §9.1.3: neither a success nor an error response carries USERNAME, and an
    # error for a failed check carries no integrity attribute either.
    agent = make_agent()
    agent.receive_datagram(check(), CLIENT, now=0.0)
    agent.receive_datagram(check(sha256=True), CLIENT, now=0.0)
    agent.receive_datagram(check(password="wrong-password-wrong-password"), CLIENT, now=0.0)
    agent.receive_datagram(check(username="nope:cli1"), CLIENT, now=0.0)
    agent.receive_datagram(check(username=None), CLIENT, now=0.0)
    responses = [parse_message(data) for data, _ in agent.datagrams_to_send()]
    assert len(responses) == 5
    assert all(r.get(Username) is None for r in responses)
    for failed in responses[2:]:
        assert failed.get(MessageIntegrity) is None
        assert failed.get(MessageIntegritySha256) is None
    assert responses[0].get(MessageIntegrity) is not None
    assert responses[0].get(MessageIntegritySha256) is None
    assert responses[1].get(MessageIntegritySha256) is not None
    assert responses[1].get(MessageIntegrity) is None


def test_error_responses_carry_a_fitting_error_code() -> None:
    # RFC 8489 §6.3.1.1: an error response has ERROR-CODE with a reason for its code.
    agent = make_agent()
    agent.receive_datagram(check(username=None), CLIENT, now=0.0)
    error = only_response(agent).get(ErrorCodeAttribute)
    assert error == ErrorCodeAttribute(400, "Bad Request")


def test_unauthenticated_indications_are_discarded() -> None:
    # RFC 8489 §9.1.3 discards an indication that fails authentication; RFC 8445 §11 makes
    # keepalives unauthenticated, so every indication is discarded, whatever it carries.
    agent = make_agent()
    signed = Message(
        MessageClass.INDICATION,
        Method.BINDING,
        new_transaction_id(),
        (Username(f"{LOCAL_UFRAG}:{REMOTE_UFRAG}"), UseCandidate()),
    )
    for data in (
        Message(MessageClass.INDICATION, Method.BINDING, new_transaction_id()).encode(
            fingerprint=True
        ),
        signed.encode(integrity_key=b"wrong", fingerprint=True),
        signed.encode(integrity_key=LOCAL_PWD.encode(), fingerprint=True),
    ):
        agent.receive_datagram(data, CLIENT, now=0.0)
    assert agent.datagrams_to_send() == []
    assert events(agent) == []
    assert agent.selected_address is None
    assert agent.counters["indications"] == 3


def test_unknown_attribute_from_an_unauthenticated_request_is_401_not_420() -> None:
    agent = make_agent()
    agent.receive_datagram(
        check(password="wrong-password-wrong-password", extra=(UnknownAttribute(0x7F01, b""),)),
        CLIENT,
        0,
    )
    assert error_code(only_response(agent)) == 401


def test_role_conflict_is_487_and_nominates_nothing() -> None:
    # RFC 8445 §7.3.1.1: the peer claims the controlled role, as we always are.
    agent = make_agent()
    for tie_breaker in (0, 2**64 - 1):  # whatever the tie-breaker, a lite agent cannot switch
        agent.receive_datagram(
            check(role=IceControlled(tie_breaker), use_candidate=True), CLIENT, 0
        )
        response = only_response(agent)
        assert error_code(response) == 487
        assert response.check_integrity(LOCAL_PWD.encode())
    assert events(agent) == []
    assert agent.selected_address is None
    assert agent.counters["role_conflicts"] == 2


def test_both_role_attributes_is_400() -> None:
    agent = make_agent()
    agent.receive_datagram(check(extra=(IceControlled(1),)), CLIENT, 0)
    assert error_code(only_response(agent)) == 400


def test_no_role_attribute_is_accepted() -> None:
    agent = make_agent()
    agent.receive_datagram(check(role=None, use_candidate=True), CLIENT, 0)
    assert only_response(agent).message_class is MessageClass.SUCCESS_RESPONSE
    assert events(agent) == [IceConnected(CLIENT)]


def test_sha256_request_gets_sha256_response() -> None:
    agent = make_agent()
    agent.receive_datagram(check(sha256=True, use_candidate=True), CLIENT, 0)
    response = only_response(agent)
    assert response.message_class is MessageClass.SUCCESS_RESPONSE
    assert response.get(MessageIntegritySha256) is not None
    assert response.check_integrity_sha256(LOCAL_PWD.encode())
    assert events(agent) == [IceConnected(CLIENT)]


def test_indications_and_responses_get_no_answer() -> None:
    agent = make_agent()
    keepalive = Message(MessageClass.INDICATION, Method.BINDING, new_transaction_id())
    agent.receive_datagram(keepalive.encode(fingerprint=True), CLIENT, 0)
    stray = Message(MessageClass.SUCCESS_RESPONSE, Method.BINDING, new_transaction_id())
    agent.receive_datagram(stray.encode(fingerprint=True), CLIENT, 0)
    allocate = Message(MessageClass.REQUEST, 0x003, new_transaction_id())
    agent.receive_datagram(allocate.encode(fingerprint=True), CLIENT, 0)
    assert agent.datagrams_to_send() == []
    counters = agent.counters
    assert counters["indications"] == 1
    assert counters["dropped_response"] == 1
    assert counters["dropped_not_binding"] == 1


# --- nomination and the selected address ------------------------------------------------------


def test_first_nomination_connects() -> None:
    agent = make_agent()
    agent.receive_datagram(check(use_candidate=True), CLIENT, 0)
    assert events(agent) == [IceConnected(CLIENT)]
    assert agent.selected_address == CLIENT
    agent.receive_datagram(check(use_candidate=True), CLIENT, 1)
    assert events(agent) == []  # renominating the same address changes nothing
    assert agent.counters["nominations"] == 2


def test_later_nomination_of_another_address_moves_the_selection() -> None:
    agent = make_agent()
    agent.receive_datagram(check(use_candidate=True), CLIENT, 0)
    agent.receive_datagram(check(use_candidate=True), CLIENT_OTHER, 0.5)
    assert events(agent) == [IceConnected(CLIENT), IceSelectedPairChanged(CLIENT_OTHER)]
    assert agent.selected_address == CLIENT_OTHER


def test_checks_on_other_pairs_do_not_steal_a_live_selection() -> None:
    agent = make_agent()
    agent.receive_datagram(check(use_candidate=True), CLIENT, 10.0)
    agent.datagrams_to_send()
    agent.receive_datagram(check(), CLIENT_OTHER, 12.9)  # selected path heard 2.9 s ago
    response = only_response(agent, to=CLIENT_OTHER)  # the check itself is answered
    assert response.message_class is MessageClass.SUCCESS_RESPONSE
    assert events(agent) == [IceConnected(CLIENT)]
    assert agent.selected_address == CLIENT
    # ... and do not renew consent, which belongs to the selected address.
    assert agent.get_timer() == 40.0


def test_nat_rebinding_moves_the_selection_after_silence() -> None:
    # The client's NAT gives it a new port; its next checks, without USE-CANDIDATE, come
    # from there while the old mapping stays silent.
    agent = make_agent()
    agent.receive_datagram(check(use_candidate=True), CLIENT, 10.0)
    agent.receive_datagram(check(), CLIENT_REBOUND, 13.0)
    assert events(agent) == [IceConnected(CLIENT), IceSelectedPairChanged(CLIENT_REBOUND)]
    assert agent.selected_address == CLIENT_REBOUND
    assert agent.get_timer() == 43.0
    assert agent.counters["selected_changes"] == 1


def test_failed_check_from_a_new_address_moves_nothing() -> None:
    agent = make_agent()
    agent.receive_datagram(check(use_candidate=True), CLIENT, 0)
    agent.receive_datagram(check(password="forged-forged-forged-forged"), CLIENT_OTHER, 100)
    agent.receive_datagram(check(use_candidate=True, fingerprint=False), CLIENT_OTHER, 100)
    assert events(agent) == [IceConnected(CLIENT)]
    assert agent.selected_address == CLIENT


# --- consent freshness (RFC 7675) -------------------------------------------------------------


def test_consent_expires_exactly_at_30_seconds() -> None:
    agent = make_agent()
    agent.receive_datagram(check(use_candidate=True), CLIENT, 100.0)
    events(agent)
    assert agent.get_timer() == 130.0
    agent.handle_timeout(129.999)
    assert events(agent) == []
    agent.handle_timeout(130.0)
    assert events(agent) == [IceConsentExpired()]
    agent.handle_timeout(131.0)
    assert events(agent) == []  # once
    assert agent.get_timer() is None


def test_each_valid_check_renews_consent() -> None:
    agent = make_agent()
    agent.receive_datagram(check(use_candidate=True), CLIENT, 0.0)
    agent.receive_datagram(check(), CLIENT, 25.0)
    agent.handle_timeout(30.0)
    assert events(agent) == [IceConnected(CLIENT)]
    assert agent.get_timer() == 55.0
    # A check failing integrity is no proof of consent.
    agent.receive_datagram(check(password="forged-forged-forged-forged"), CLIENT, 50.0)
    assert agent.get_timer() == 55.0
    agent.handle_timeout(55.0)
    assert events(agent) == [IceConsentExpired()]


def test_custom_consent_timeout() -> None:
    agent = make_agent(consent_timeout=5.0)
    agent.receive_datagram(check(use_candidate=True), CLIENT, 1.0)
    assert agent.get_timer() == 6.0


def test_after_expiry_everything_is_dropped() -> None:
    agent = make_agent()
    agent.receive_datagram(check(use_candidate=True), CLIENT, 0.0)
    agent.handle_timeout(30.0)
    agent.datagrams_to_send()
    agent.receive_datagram(check(use_candidate=True), CLIENT, 31.0)
    assert agent.datagrams_to_send() == []
    assert agent.counters["dropped_after_expiry"] == 1


def test_no_timer_before_any_valid_check() -> None:
    agent = make_agent()
    assert agent.get_timer() is None
    agent.handle_timeout(1e9)
    assert events(agent) == []


# --- hostile input ----------------------------------------------------------------------------


def test_counters_are_all_present() -> None:
    assert set(make_agent().counters) == set(COUNTERS)


def _mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for at, byte in edits:
        out[at % len(out)] = byte
    return bytes(out)


@settings(max_examples=1500)
@given(
    st.one_of(
        st.binary(max_size=120),
        st.builds(
            _mutate,
            st.sampled_from([check(use_candidate=True), check(), check(sha256=True)]),
            st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=3),
        ),
    ),
    st.floats(0, 1e6),
)
def test_garbage_never_raises(data: bytes, now: float) -> None:
    agent = make_agent()
    agent.receive_datagram(data, CLIENT, now)
    agent.handle_timeout(now)
    for sent, addr in agent.datagrams_to_send():
        assert addr == CLIENT
        parse_message(sent)  # whatever we answer is well-formed STUN
    assert sum(agent.counters.values()) >= 1


def test_non_stun_bytes_are_counted() -> None:
    agent = make_agent()
    agent.receive_datagram(b"\x16\xfe\xfd" + bytes(40), CLIENT, 0)  # a DTLS record
    agent.receive_datagram(struct.pack("!HHI", 1, 0, 0) + bytes(12), CLIENT, 0)  # bad cookie
    assert agent.counters["dropped_malformed"] == 2
    assert agent.datagrams_to_send() == []


def test_every_phase_change_is_in_the_transition_table() -> None:
    """The phases a session goes through (validated, selected, moved, expired) are exactly the
    ones docs/diagrams.md draws from ``TRANSITIONS``."""
    from voice.ice.lite import TRANSITIONS, IceState

    agent = make_agent(consent_timeout=10.0, rebinding_silence=3.0)
    seen = [agent.state]

    def step(data: bytes | None, addr: tuple[str, int], now: float) -> None:
        before = agent.state
        if data is None:
            agent.handle_timeout(now)
        else:
            agent.receive_datagram(data, addr, now)
        moved = any(isinstance(e, IceSelectedPairChanged) for e in events(agent))
        if agent.state is not before or moved:
            assert agent.state in TRANSITIONS[before].values(), (before, agent.state)
            seen.append(agent.state)

    step(check(), CLIENT, 0.0)  # validated, not nominated
    step(check(use_candidate=True), CLIENT, 1.0)  # selected
    step(check(), CLIENT_OTHER, 2.0)  # another pair while ours is alive: nothing
    step(check(), CLIENT_OTHER, 6.0)  # ours silent for 5 s: the selection moves
    step(None, CLIENT, 16.0)  # no check for 10 s: consent expired
    assert seen == [
        IceState.WAITING,
        IceState.VALIDATED,
        IceState.SELECTED,
        IceState.SELECTED,
        IceState.EXPIRED,
    ]
    assert TRANSITIONS[IceState.EXPIRED] == {}
