"""A minimal controlling ICE client for one candidate pair, sans-IO.

This is the other end of :class:`~voice.ice.lite.IceLiteAgent`: what a browser does towards
a lite server, reduced to one local and one remote candidate. The tests use it as a scripted
peer and the load generator uses it to open many sessions cheaply. It is *not* a full ICE
agent: no gathering, no check list, no pacing across pairs.

What it does:

1. :meth:`IceControllingClient.connect` sends a Binding request with USERNAME
   "remote:local", PRIORITY, ICE-CONTROLLING, USE-CANDIDATE (aggressive nomination: the only
   pair is nominated at once), MESSAGE-INTEGRITY keyed with the *remote* password and
   FINGERPRINT (RFC 8445 §7.2.2 and RFC 8445 §7.2.4), and retransmits it every
   ``check_interval`` seconds.
2. A response counts only if it matches an outstanding transaction id, comes from the
   address the request went to (RFC 8445 §7.2.5.2.1), ends with a FINGERPRINT, and its
   MESSAGE-INTEGRITY verifies with the remote password. The first such success response
   emits :class:`~voice.ice.events.IceConnected` with the XOR-MAPPED-ADDRESS it reports.
3. It then sends a consent check every ``consent_interval`` seconds, randomised by
   ±20 % so that many clients do not synchronise (RFC 7675 §5.1), each with a new
   transaction id; every valid response renews consent, and ``consent_timeout`` seconds
   without one emits :class:`~voice.ice.events.IceConsentExpired` (also when the first check is
   never answered). Consent checks keep USE-CANDIDATE, as browsers do with a lite peer, so
   a client whose address changes is followed at once.
"""

from __future__ import annotations

import enum
import random
import secrets
from collections import deque

from voice.counters import Counters
from voice.ice.candidate import TYPE_PREFERENCE, candidate_priority
from voice.ice.events import IceConnected, IceConsentExpired, IceEvent
from voice.stun.attributes import (
    ErrorCodeAttribute,
    IceControlling,
    Priority,
    Software,
    UseCandidate,
    Username,
    XorMappedAddress,
)
from voice.stun.credentials import short_term_key
from voice.stun.errors import StunParseError
from voice.stun.message import Message, new_transaction_id, parse_message
from voice.stun.registry import ErrorCode, MessageClass, Method
from voice.types import Address

COUNTERS = (
    "requests_sent",
    "success_responses",
    "error_responses",
    "role_conflicts",
    "dropped_malformed",
    "dropped_unexpected",  # not a Binding response, or an unknown transaction
    "dropped_wrong_source",  # RFC 8445 §7.2.5.2.1: not from where the request went
    "dropped_no_fingerprint",
    "dropped_bad_integrity",
    "dropped_no_mapped_address",
    "requests_answered",  # checks from a full-agent server (its triggered checks)
    "requests_refused",
)


class _State(enum.Enum):
    IDLE = "idle"
    CHECKING = "checking"
    CONNECTED = "connected"
    EXPIRED = "expired"


class IceControllingClient:
    """Controlling-side checks and consent for one pair (local socket, ``remote_address``)."""

    def __init__(
        self,
        local_ufrag: str,
        local_pwd: str,
        remote_ufrag: str,
        remote_pwd: str,
        remote_address: Address,
        *,
        tie_breaker: int | None = None,
        check_interval: float = 0.5,
        consent_interval: float = 5.0,
        consent_timeout: float = 30.0,
        software: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.local_ufrag = local_ufrag
        self.local_pwd = local_pwd
        self.remote_ufrag = remote_ufrag
        self.remote_address = remote_address
        self._remote_key = short_term_key(remote_pwd)
        self._local_key = short_term_key(local_pwd)
        self.tie_breaker = secrets.randbits(64) if tie_breaker is None else tie_breaker
        self._check_interval = check_interval
        self._consent_interval = consent_interval
        self._consent_timeout = consent_timeout
        self._rng = rng or random.Random(secrets.randbits(64))
        # RFC 8445 §7.1.1: PRIORITY is what a peer-reflexive candidate learned from this
        # check would be worth: the prflx type preference, the rest as for our host.
        self._priority = candidate_priority(TYPE_PREFERENCE["prflx"], 65535, 1)
        self._software = Software(software) if software else None
        self._state = _State.IDLE
        self._pending: dict[bytes, float] = {}  # transaction id -> when first sent
        self._request: bytes = b""  # the initial check, retransmitted while CHECKING
        self._next_send: float | None = None
        self._last_consent = 0.0
        self.mapped_address: Address | None = None
        self._outgoing: list[tuple[bytes, Address]] = []
        self._events: deque[IceEvent] = deque()
        self.counters: Counters[str] = Counters(COUNTERS)

    # --- the driver's interface -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._state is _State.CONNECTED

    def is_validated(self, addr: Address) -> bool:
        """True for the server's address once a check to it has succeeded."""
        return self.connected and addr == self.remote_address

    def connect(self, now: float) -> None:
        """Starts checking: queues the first request and arms the retransmission timer."""
        if self._state is not _State.IDLE:
            raise RuntimeError("connect() was already called")
        self._state = _State.CHECKING
        self._last_consent = now  # the consent window also bounds the initial checks
        self._request = self._new_check(now)
        self._outgoing.append((self._request, self.remote_address))
        self.counters["requests_sent"] += 1
        self._next_send = now + self._check_interval

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._outgoing = self._outgoing, []
        return out

    def next_event(self) -> IceEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        if self._state in (_State.IDLE, _State.EXPIRED) or self._next_send is None:
            return None
        return min(self._next_send, self._last_consent + self._consent_timeout)

    def handle_timeout(self, now: float) -> None:
        if self._state in (_State.IDLE, _State.EXPIRED):
            return
        if now >= self._last_consent + self._consent_timeout:
            # RFC 7675 §5.1: no valid response for the whole consent timeout.
            self._state = _State.EXPIRED
            self._next_send = None
            self._pending.clear()
            self._events.append(IceConsentExpired())
            return
        if self._next_send is None or now < self._next_send:
            return
        if self._state is _State.CHECKING:
            # RFC 8489 §6.2.1: a retransmission repeats the request, transaction id and all.
            self._outgoing.append((self._request, self.remote_address))
            self.counters["requests_sent"] += 1
            self._next_send = now + self._check_interval
        else:
            self._outgoing.append((self._new_check(now), self.remote_address))
            self.counters["requests_sent"] += 1
            self._next_send = now + self._consent_interval * self._rng.uniform(0.8, 1.2)
        # Forget transactions too old to matter for consent any more.
        horizon = now - self._consent_timeout
        self._pending = {t: at for t, at in self._pending.items() if at > horizon}

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Handles a STUN datagram from the server; never raises on its content."""
        if self._state in (_State.IDLE, _State.EXPIRED):
            self.counters["dropped_unexpected"] += 1
            return
        try:
            response = parse_message(data)
        except StunParseError:
            self.counters["dropped_malformed"] += 1
            return
        if response.method == Method.BINDING and response.message_class is MessageClass.REQUEST:
            self._answer(response, addr)
            return
        if (
            response.method != Method.BINDING
            or response.message_class
            not in (MessageClass.SUCCESS_RESPONSE, MessageClass.ERROR_RESPONSE)
            or response.transaction_id not in self._pending
        ):
            self.counters["dropped_unexpected"] += 1
            return
        if addr != self.remote_address:
            self.counters["dropped_wrong_source"] += 1
            return
        if not response.has_fingerprint:
            self.counters["dropped_no_fingerprint"] += 1
            return
        # RFC 8489 §9.1.4: a response is authentic only if it carries a MESSAGE-INTEGRITY
        # made with the password we used for the request.
        if not response.check_integrity(self._remote_key):
            self.counters["dropped_bad_integrity"] += 1
            return
        del self._pending[response.transaction_id]
        if response.message_class is MessageClass.ERROR_RESPONSE:
            self._error_response(response, now)
            return
        mapped = response.get(XorMappedAddress)
        if mapped is None:
            self.counters["dropped_no_mapped_address"] += 1
            return
        self.counters["success_responses"] += 1
        self._last_consent = now
        self.mapped_address = (mapped.host, mapped.port)
        if self._state is _State.CHECKING:
            self._state = _State.CONNECTED
            self._events.append(IceConnected(self.mapped_address))
            self._next_send = now + self._consent_interval * self._rng.uniform(0.8, 1.2)

    # --- internals --------------------------------------------------------------------------

    def _answer(self, request: Message, addr: Address) -> None:
        """Answers a full-agent server's own checks (its triggered checks, RFC 8445 §7.3).

        A lite server never checks us, but a full one (aiortc, a browser) checks every pair
        it learns of, including the peer-reflexive one our first check creates, and does
        not use a pair until its own check on it succeeds.
        """
        username = request.get(Username)
        if (
            username is None
            or username.value != f"{self.local_ufrag}:{self.remote_ufrag}"
            or not request.has_fingerprint
            or not request.check_integrity(self._local_key)
        ):
            self.counters["requests_refused"] += 1
            return
        response = Message(
            MessageClass.SUCCESS_RESPONSE,
            Method.BINDING,
            request.transaction_id,
            (XorMappedAddress(addr[0], addr[1]),),
        )
        self._outgoing.append(
            (response.encode(integrity_key=self._local_key, fingerprint=True), addr)
        )
        self.counters["requests_answered"] += 1

    def _new_check(self, now: float) -> bytes:
        tid = new_transaction_id()
        self._pending[tid] = now
        attributes = [
            # RFC 8445 §7.2.2: USERNAME is "receiver-ufrag:sender-ufrag".
            Username(f"{self.remote_ufrag}:{self.local_ufrag}"),
            Priority(self._priority),
            IceControlling(self.tie_breaker),
            UseCandidate(),
        ]
        if self._software is not None:
            attributes.append(self._software)
        request = Message(MessageClass.REQUEST, Method.BINDING, tid, tuple(attributes))
        return request.encode(integrity_key=self._remote_key, fingerprint=True)

    def _error_response(self, response: Message, now: float) -> None:
        self.counters["error_responses"] += 1
        error = response.get(ErrorCodeAttribute)
        if error is not None and error.code == ErrorCode.ROLE_CONFLICT:
            # RFC 8445 §7.2.5.1 would have us switch to controlled; this client exists to
            # be the controlling side, so it only counts the conflict and keeps checking.
            self.counters["role_conflicts"] += 1
        if self._state is _State.CHECKING:
            # The transaction is over; the next retransmission starts a new one.
            self._request = self._new_check(now)
