"""The ICE-lite responder for one session (RFC 8445 §2.5, §7.3), sans-IO.

A lite agent is the simplest thing that can take part in ICE: it has one host candidate on
a public address, never sends a check of its own, and is always the controlled agent. All
it does is answer the Binding requests of the full agent at the other end (the browser),
learn from them where the browser is, and notice when the browser stops talking.

The driver feeds every STUN datagram of the session to :meth:`IceLiteAgent.receive_datagram`
and sends what :meth:`IceLiteAgent.datagrams_to_send` returns::

    agent = IceLiteAgent(local_ufrag, local_pwd, remote_ufrag=ufrag, remote_pwd=pwd)
    ...
    agent.receive_datagram(data, addr, trio.current_time())
    for datagram, to in agent.datagrams_to_send():
        await sock.sendto(datagram, to)
    while (event := agent.next_event()) is not None:
        ...  # IceConnected / IceSelectedPairChanged / IceConsentExpired
    # and call agent.handle_timeout(now) when now reaches agent.get_timer()

Which address is selected: the rule
-----------------------------------
* A successful check carrying USE-CANDIDATE nominates its source address (RFC 8445 §7.3.2,
  §8.2). The first nomination emits :class:`IceConnected`; a later nomination from a different
  address emits :class:`IceSelectedPairChanged`. Browsers facing a lite agent put USE-CANDIDATE
  on every check of the pair they selected, so a browser that moves (a new network, or NAT
  rebinding) is followed at its first check from the new address.
* A successful check *without* USE-CANDIDATE from a different address moves the selected
  address only when the selected address has been silent (no successful check) for at
  least ``rebinding_silence`` seconds (3 s by default). That follows a client that keeps
  checking a nominated pair without re-nominating it, whose NAT changed its mapping;
  while the nominated address is alive, the checks a browser keeps sending on its other,
  unselected pairs do not steal the media.

Consent (RFC 7675)
------------------
A lite agent sends no checks, so it cannot run RFC 7675 as written; it does the mirror
image. Consent is the peer proving, with a check that passes MESSAGE-INTEGRITY, that it
still wants our traffic at the selected address. Each successful check from the selected
address (before any nomination: from any address) moves the deadline to
``now + consent_timeout``; :meth:`IceLiteAgent.handle_timeout` emits :class:`IceConsentExpired`
once, at the deadline, and the agent then ignores everything. Before the first successful
check there is no deadline: the driver bounds session set-up itself.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from typing import Final

from voice.counters import Counters
from voice.ice.errors import IceUsageError
from voice.ice.events import IceConnected, IceConsentExpired, IceEvent, IceSelectedPairChanged
from voice.stun.attributes import (
    Attribute,
    ErrorCodeAttribute,
    IceControlled,
    IceControlling,
    MessageIntegrity,
    MessageIntegritySha256,
    Software,
    UnknownAttributes,
    UseCandidate,
    Username,
    XorMappedAddress,
)
from voice.stun.credentials import short_term_key
from voice.stun.errors import StunParseError
from voice.stun.message import Message, parse_message
from voice.stun.registry import ErrorCode, MessageClass, Method
from voice.types import Address

logger = logging.getLogger(__name__)

#: Every counter the agent keeps, so an exporter sees a stable set of names.
COUNTERS = (
    "datagrams",  # every datagram fed in
    "requests",  # Binding requests (before any check)
    "indications",  # Binding indications: keepalives (RFC 8445 §11), answered by nothing
    "success_responses",  # sent: the check passed
    "error_responses",  # sent: 400, 401, 420 or 487
    "nominations",  # successful checks carrying USE-CANDIDATE
    "selected_changes",  # IceSelectedPairChanged events
    "role_conflicts",  # 487 sent
    "unknown_attributes",  # 420 sent
    "bad_request",  # 400 sent: no USERNAME or no MESSAGE-INTEGRITY, or both role attributes
    "bad_username",  # 401 sent: USERNAME is not ours
    "bad_integrity",  # 401 sent: MESSAGE-INTEGRITY does not verify with our password
    "dropped_malformed",  # not a STUN message (StunParseError)
    "dropped_no_fingerprint",  # a request without FINGERPRINT (RFC 8445 §7.3)
    "dropped_not_binding",  # a method other than Binding
    "dropped_response",  # a response: a lite agent sends no requests
    "dropped_after_expiry",  # anything after IceConsentExpired
)


class IceState(enum.Enum):
    """Where the agent is in a session, as :attr:`IceLiteAgent.state` reports it."""

    WAITING = "waiting for a check"
    VALIDATED = "validated, nothing nominated"
    SELECTED = "selected"
    EXPIRED = "consent expired"


#: The agent's phases and what moves it between them (the module docstring explains each
#: rule). ``tests/ice/test_lite.py`` checks that every change a session makes is listed, and
#: ``docs/diagrams.md`` is drawn from it.
TRANSITIONS: Final[dict[IceState, dict[str, IceState]]] = {
    IceState.WAITING: {
        "check succeeds": IceState.VALIDATED,
        "check with USE-CANDIDATE succeeds / IceConnected": IceState.SELECTED,
    },
    IceState.VALIDATED: {
        "check with USE-CANDIDATE succeeds / IceConnected": IceState.SELECTED,
        "no check for consent_timeout / IceConsentExpired": IceState.EXPIRED,
    },
    IceState.SELECTED: {
        "nomination, or a check after rebinding_silence, from a new address / "
        "IceSelectedPairChanged": IceState.SELECTED,
        "no check from the selected address for consent_timeout / IceConsentExpired": (
            IceState.EXPIRED
        ),
    },
    IceState.EXPIRED: {},
}


class IceLiteAgent:
    """The controlled, lite side of one ICE session.

    ``local_ufrag`` may be any string the driver chooses (the relay's routing token, for
    example); ``local_pwd`` is the key of every MESSAGE-INTEGRITY we check and send.
    The remote credentials, from the peer's SDP, may arrive after the first checks
    (RFC 8445 §7.3 expects that): until :meth:`set_remote_credentials`, a USERNAME is
    accepted when its part before the colon is our ufrag.
    """

    def __init__(
        self,
        local_ufrag: str,
        local_pwd: str,
        *,
        remote_ufrag: str | None = None,
        remote_pwd: str | None = None,
        consent_timeout: float = 30.0,
        software: str | None = None,
        rebinding_silence: float = 3.0,
    ) -> None:
        if not local_ufrag or ":" in local_ufrag:
            raise IceUsageError("the local ufrag must be non-empty and contain no colon")
        if software is not None and len(software) >= 128:
            # RFC 8489 §14.14: SOFTWARE is fewer than 128 characters; refuse it here rather
            # than fail on every response.
            raise IceUsageError("software must be fewer than 128 characters")
        self.local_ufrag = local_ufrag
        self._key = short_term_key(local_pwd)
        self.remote_ufrag: str | None = None
        self._remote_pwd: str | None = None
        if remote_ufrag is not None and remote_pwd is not None:
            self.set_remote_credentials(remote_ufrag, remote_pwd)
        self._consent_timeout = consent_timeout
        self._rebinding_silence = rebinding_silence
        self._software = Software(software) if software else None
        self._selected: Address | None = None
        self._last_consent: float | None = None
        self._expired = False
        self._outgoing: list[tuple[bytes, Address]] = []
        self._events: deque[IceEvent] = deque()
        self.counters: Counters[str] = Counters(COUNTERS)
        self._validated: set[Address] = set()

    # --- the driver's interface -------------------------------------------------------------

    def set_remote_credentials(self, ufrag: str, pwd: str) -> None:
        """Records the peer's ice-ufrag and ice-pwd from its SDP.

        From then on the part of USERNAME after the colon must be ``ufrag``. The password is
        kept for completeness: a lite agent never sends a check, so never signs with it.
        """
        self.remote_ufrag = ufrag
        self._remote_pwd = pwd

    def is_validated(self, addr: Address) -> bool:
        """True once an authenticated check from ``addr`` has succeeded.

        The peer may start DTLS on a pair as soon as a check on it succeeds, before it
        nominates (RFC 8445 §12.1 lets data use a valid pair), so the transport
        above accepts DTLS from every validated address, not only the selected one.
        """
        return addr in self._validated

    @property
    def state(self) -> IceState:
        """The agent's phase (see :data:`TRANSITIONS`)."""
        if self._expired:
            return IceState.EXPIRED
        if self._selected is not None:
            return IceState.SELECTED
        return IceState.VALIDATED if self._validated else IceState.WAITING

    @property
    def selected_address(self) -> Address | None:
        """Where media goes now: the nominated (or rebound) peer address, or None."""
        return self._selected

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        """Drains the responses to send, each with its destination."""
        out, self._outgoing = self._outgoing, []
        return out

    def next_event(self) -> IceEvent | None:
        """The next event, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """The consent deadline, or None before the first successful check and after expiry."""
        if self._expired or self._last_consent is None:
            return None
        return self._last_consent + self._consent_timeout

    def handle_timeout(self, now: float) -> None:
        """Emits :class:`IceConsentExpired` once ``now`` has reached the consent deadline."""
        deadline = self.get_timer()
        if deadline is not None and now >= deadline:
            # RFC 7675 §5.1: consent lapses after the timeout without proof of it.
            self._expired = True
            self._events.append(IceConsentExpired())
            logger.info("ICE %s: consent expired", self.local_ufrag)

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Handles one datagram the driver classified as STUN; never raises on its content."""
        self._count("datagrams")
        if self._expired:
            self._count("dropped_after_expiry")
            return
        try:
            message = parse_message(data)
        except StunParseError as exc:
            self._count("dropped_malformed")
            logger.debug("ICE %s: dropped from %s: %s", self.local_ufrag, addr, exc)
            return
        if message.method != Method.BINDING:
            self._count("dropped_not_binding")
        elif message.message_class is MessageClass.INDICATION:
            self._count("indications")
        elif message.message_class is not MessageClass.REQUEST:
            self._count("dropped_response")
        else:
            self._count("requests")
            self._binding_request(message, addr, now)

    # --- the check --------------------------------------------------------------------------

    def _binding_request(self, request: Message, addr: Address, now: float) -> None:
        # RFC 8445 §7.3: the answering agent uses the FINGERPRINT mechanism (and RFC 8445
        # §7.2.4 makes the checker send it); a request without one is not part of this
        # usage and gets no answer at all.
        if not request.has_fingerprint:
            self._count("dropped_no_fingerprint")
            return
        username = request.get(Username)
        sha256 = request.get(MessageIntegritySha256) is not None
        # RFC 8489 §9.1.3: without USERNAME and a MESSAGE-INTEGRITY the request cannot be
        # authenticated: 400, without integrity of our own (we have nothing to key it to).
        if username is None or (request.get(MessageIntegrity) is None and not sha256):
            self._count("bad_request")
            self._error(request, addr, ErrorCode.BAD_REQUEST, authenticated=False)
            return
        # RFC 8445 §7.3: the USERNAME is "our-ufrag:their-ufrag".
        if not self._username_is_ours(username.value):
            self._count("bad_username")
            self._error(request, addr, ErrorCode.UNAUTHENTICATED, authenticated=False)
            return
        # RFC 8489 §9.1.3: verify with our password, preferring SHA-256 when present; a
        # failure changes no state at all.
        valid = (
            request.check_integrity_sha256(self._key)
            if sha256
            else request.check_integrity(self._key)
        )
        if not valid:
            self._count("bad_integrity")
            self._error(request, addr, ErrorCode.UNAUTHENTICATED, authenticated=False)
            return
        # Authenticated from here on: error responses carry our MESSAGE-INTEGRITY.
        unknown = request.unknown_comprehension_required()
        if unknown:
            # RFC 8489 §6.3.1: refuse what we were required, and failed, to understand.
            self._count("unknown_attributes")
            self._error(
                request,
                addr,
                ErrorCode.UNKNOWN_ATTRIBUTE,
                extra=(UnknownAttributes(unknown),),
            )
            return
        controlling = request.get(IceControlling) is not None
        controlled = request.get(IceControlled) is not None
        if controlling and controlled:
            self._count("bad_request")
            self._error(request, addr, ErrorCode.BAD_REQUEST)
            return
        if controlled:
            # RFC 8445 §7.3.1.1: both sides claim the controlled role. A full agent would
            # compare tie-breakers and might switch to controlling; a lite agent cannot
            # control (RFC 8445 §6.1.1), so we always answer 487, which makes the peer
            # switch to the controlling role (RFC 8445 §7.2.5.1) and check again.
            self._count("role_conflicts")
            self._error(request, addr, ErrorCode.ROLE_CONFLICT)
            return
        self._success(request, addr)
        self._validated.add(addr)
        self._update_selection(addr, now, nominated=request.get(UseCandidate) is not None)

    def _username_is_ours(self, username: str) -> bool:
        local, colon, remote = username.partition(":")
        if not colon or local != self.local_ufrag or not remote:
            return False
        return self.remote_ufrag is None or remote == self.remote_ufrag

    def _update_selection(self, addr: Address, now: float, *, nominated: bool) -> None:
        selected = self._selected
        if nominated:
            self._count("nominations")
        if selected is None:
            if nominated:
                # RFC 8445 §8.2: the first nominated pair is the selected pair.
                self._selected = addr
                self._events.append(IceConnected(addr))
                logger.info("ICE %s: connected to %s", self.local_ufrag, addr)
            self._last_consent = now
            return
        if addr != selected:
            silent_for = now - (self._last_consent if self._last_consent is not None else now)
            if not nominated and silent_for < self._rebinding_silence:
                return  # a check on another pair while ours is alive: answered, no change
            self._selected = addr
            self._count("selected_changes")
            self._events.append(IceSelectedPairChanged(addr))
            logger.info("ICE %s: selected address moved to %s", self.local_ufrag, addr)
        # RFC 7675 §5.1: an authenticated check from the selected address renews consent.
        self._last_consent = now

    # --- responses --------------------------------------------------------------------------

    def _success(self, request: Message, addr: Address) -> None:
        # RFC 8489 §6.3.1.1 and RFC 8489 §14.2: the response reports the request's source
        # address in XOR-MAPPED-ADDRESS, so the peer learns its reflexive address (RFC 8445
        # §7.3 has it computed even before the peer's credentials are known).
        attributes: list[Attribute] = [XorMappedAddress(addr[0], addr[1])]
        self._count("success_responses")
        self._send(request, MessageClass.SUCCESS_RESPONSE, attributes, addr, authenticated=True)

    def _error(
        self,
        request: Message,
        addr: Address,
        code: ErrorCode,
        *,
        authenticated: bool = True,
        extra: tuple[Attribute, ...] = (),
    ) -> None:
        attributes: list[Attribute] = [ErrorCodeAttribute(code, code.reason), *extra]
        self._count("error_responses")
        self._send(
            request, MessageClass.ERROR_RESPONSE, attributes, addr, authenticated=authenticated
        )

    def _send(
        self,
        request: Message,
        message_class: MessageClass,
        attributes: list[Attribute],
        addr: Address,
        *,
        authenticated: bool,
    ) -> None:
        if self._software is not None:
            attributes.append(self._software)
        response = Message(message_class, Method.BINDING, request.transaction_id, tuple(attributes))
        # RFC 8489 §9.1.3: a response to an authenticated request is signed with the same
        # password and the same algorithm; RFC 8445 §7.3: FINGERPRINT on every message.
        use_sha256 = authenticated and request.get(MessageIntegritySha256) is not None
        data = response.encode(
            integrity_key=self._key if authenticated and not use_sha256 else None,
            integrity_sha256_key=self._key if use_sha256 else None,
            fingerprint=True,
        )
        self._outgoing.append((data, addr))

    def _count(self, name: str) -> None:
        self.counters[name] += 1
