"""One DTLS 1.2 endpoint, client or server, as a sans-IO object.

The driver feeds it datagrams and the time, and drains datagrams to send, events, and the
next deadline::

    conn = DtlsConnection(is_server=False, certificate=cert, remote_fingerprints=[...])
    conn.connect(now)
    while True:
        for datagram in conn.datagrams_to_send(): sock.send(datagram)
        ... wait for a datagram or until conn.get_timer() ...
        conn.receive_datagram(data, now)  # or conn.handle_timeout(now)
        while (event := conn.next_event()) is not None: ...

How the work is split: :mod:`~voice.dtls.record` frames and protects records,
:mod:`~voice.dtls.fragments` reassembles handshake messages, :mod:`~voice.dtls.flights` packs
and retransmits what we send, :mod:`~voice.dtls.state` is the table of which message may come
next, :mod:`~voice.dtls.messages` and :mod:`~voice.dtls.extensions` parse and build, and
:mod:`~voice.dtls.keyschedule` derives keys. A connection owns one *role* object, a
:class:`~voice.dtls.client.ClientHandshake` or a :class:`~voice.dtls.server.ServerHandshake`
(both on the shared steps of :mod:`~voice.dtls.handshake`): it holds what the handshake
learns and has one method per incoming message, in the order a handshake meets them, so
each direction reads top to bottom in one file. This module is the rest: the public API,
incoming records and alerts, reassembly and ordering of handshake messages, and the check of
every step against the state table.

Nothing a peer sends makes a method here raise: malformed or unauthenticated records are
dropped and counted in :attr:`DtlsConnection.counters`, and protocol violations end the
connection with the fatal alert RFC 5246 §7.2.2 names for them.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence

from voice.counters import Counters
from voice.dtls.certificate import Certificate
from voice.dtls.client import ClientHandshake
from voice.dtls.errors import DtlsArgumentError, DtlsParseError, DtlsUsageError, HandshakeError
from voice.dtls.events import DtlsApplicationData, DtlsClosed, DtlsEvent
from voice.dtls.fragments import Added, HandshakeFragment, Reassembler, iter_fragments
from voice.dtls.handshake import Handshake, HandshakeSettings, Received
from voice.dtls.keyschedule import SUITES, export_keying_material
from voice.dtls.messages import parse_message
from voice.dtls.record import Record, RecordDrop, RecordLayer, iter_records
from voice.dtls.registry import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ContentType,
    HandshakeType,
    ProtocolVersion,
)
from voice.dtls.server import ServerHandshake
from voice.dtls.state import CHANGE_CIPHER_SPEC, FLIGHT_ENDS, TRANSITIONS, DtlsState
from voice.srtp.profiles import DEFAULT_PROFILES, PROFILE_SIZES, SrtpProfile

logger = logging.getLogger(__name__)

#: Our cipher suites in preference order (RFC 5289 §3.2). ChaCha20-Poly1305 (RFC 7905) is
#: implemented and may be passed in ``cipher_suites``, but is not offered by default.
DEFAULT_CIPHER_SUITES: tuple[CipherSuite, ...] = (
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
)

#: SRTP profiles in our preference order (kept once, in :mod:`voice.srtp.profiles`).
DEFAULT_SRTP_PROFILES: tuple[SrtpProfile, ...] = DEFAULT_PROFILES

#: RFC 5764 §4.2: the exporter label that keys SRTP.
SRTP_EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"

#: Smallest ``max_datagram_size`` we accept: a record header, AEAD overhead, a handshake
#: header and a useful amount of body.
MIN_DATAGRAM_SIZE = 128

#: After answering a retransmitted flight, further fragments of the same retransmission (which
#: arrive within milliseconds) are not answered again for this long.
DUPLICATE_HOLDOFF = 0.25

#: What :attr:`DtlsConnection.counters` counts, each from zero. Records dropped by the record
#: layer count under their :class:`~voice.dtls.record.RecordDrop`; handshake fragments the
#: reassembler refuses under ``handshake_`` and their :class:`~voice.dtls.fragments.Added`.
COUNTERS: tuple[str, ...] = (
    *RecordDrop,
    *(f"handshake_{status.value}" for status in Added if status is not Added.ACCEPTED),
    "after_close",  # a datagram after the connection closed
    "before_connect",  # a datagram to a client that has not called connect()
    "malformed_record",  # framing that does not add up: the rest of the datagram is dropped
    "bad_version",  # a record version we do not speak (or DTLS 1.0 once protected)
    "record_overflow",  # a plaintext over 2^14 bytes
    "unknown_content_type",
    "early_application_data",  # before our Finished check, or unprotected
    "malformed_alert",
    "unprotected_alert",  # an epoch-0 alert once the peer protects its records
    "warning_alert",  # received, and not close_notify
    "malformed_change_cipher_spec",
    "unexpected_change_cipher_spec",  # early or repeated: dropped (RFC 6347 §4.2.5)
    "malformed_handshake",  # unparseable handshake framing where no alert is worth sending
    "handshake_before_client_hello",  # a server's first message is not a ClientHello
    "unprotected_handshake",  # an epoch-0 message once the peer protects its records
    "duplicate_handshake",  # a fragment of a message already handled
    "retransmit_on_duplicate",  # our flight sent again because the peer repeated its own
    "retransmit_on_timeout",  # our flight sent again because its timer fired
    "renegotiation_refused",  # answered with a no_renegotiation warning
    "hello_verify_request",  # sent by a server with cookies on
)

_DTLS_1_2 = ProtocolVersion.DTLS_1_2
_HANDSHAKE_TYPES = frozenset(HandshakeType)
_RECORD_VERSIONS = frozenset({ProtocolVersion.DTLS_1_0, ProtocolVersion.DTLS_1_2})
_MAX_PLAINTEXT = 2**14


class DtlsConnection:
    """A DTLS 1.2 client or server with DTLS-SRTP, for one peer (see the module docstring).

    ``remote_fingerprints`` are the peer's ``a=fingerprint`` lines as (hash name, "AB:CD:..")
    pairs; the peer's certificate must match them (RFC 8122 §5). ``None`` skips the check and
    also lets a client connect without a certificate: meant for tests against tools that
    have none. ``cookie_secret`` turns on the server's stateless HelloVerifyRequest (see
    :mod:`voice.dtls.cookie` for why WebRTC leaves it off). ``key_log`` receives one NSS key
    log line per handshake (without the newline), for Wireshark.

    ``srtp_profiles`` and ``cipher_suites`` are in our preference order; an empty
    ``srtp_profiles`` turns use_srtp off (plain DTLS), otherwise SRTP is required.
    ``max_datagram_size`` bounds every datagram we send (1200 bytes is what WebRTC stacks
    assume every path carries). ``require_extended_master_secret`` refuses peers without
    RFC 7627 (every browser and OpenSSL has it); turn it off only to talk to legacy peers.
    """

    def __init__(
        self,
        *,
        is_server: bool,
        certificate: Certificate,
        remote_fingerprints: Sequence[tuple[str, str]] | None,
        srtp_profiles: Sequence[SrtpProfile] = DEFAULT_SRTP_PROFILES,
        max_datagram_size: int = 1200,
        cookie_secret: bytes | None = None,
        key_log: Callable[[str], None] | None = None,
        cipher_suites: Sequence[CipherSuite] = DEFAULT_CIPHER_SUITES,
        require_extended_master_secret: bool = True,
    ) -> None:
        if max_datagram_size < MIN_DATAGRAM_SIZE:
            raise DtlsArgumentError(f"max_datagram_size must be at least {MIN_DATAGRAM_SIZE}")
        if not cipher_suites or any(s not in SUITES for s in cipher_suites):
            raise DtlsArgumentError(f"cipher_suites must be a non-empty subset of {list(SUITES)}")
        if cookie_secret is not None and not is_server:
            raise DtlsArgumentError("only a server sends cookies")
        self.is_server = is_server
        self._settings = HandshakeSettings(
            certificate=certificate,
            remote_fingerprints=(
                None if remote_fingerprints is None else tuple(remote_fingerprints)
            ),
            srtp_profiles=tuple(SrtpProfile(p) for p in srtp_profiles),
            cipher_suites=tuple(cipher_suites),
            require_extended_master_secret=require_extended_master_secret,
            max_datagram_size=max_datagram_size,
            cookie_secret=cookie_secret,
            key_log=key_log,
        )

        #: Why records or messages were dropped, and other things worth a metric
        #: (the names are :data:`COUNTERS`).
        self.counters: Counters[str] = Counters(COUNTERS)
        self._records = RecordLayer()
        self._outgoing: list[bytes] = []
        self._events: deque[DtlsEvent] = deque()
        #: The handshake of our role: what it has learnt, our flights and their timer.
        self._handshake: Handshake = (ServerHandshake if is_server else ClientHandshake)(
            self._settings, self._records, self._outgoing, self.counters
        )
        self._state = self._handshake.INITIAL_STATE
        self._done = False

        # The peer's handshake messages: reassembly, and the message_seq range of its last
        # complete flight and where its next begins (to spot its retransmissions).
        self._reassembler = Reassembler()
        self._peer_flight: tuple[int, int] = (1, 0)  # empty
        self._peer_flight_next = 0
        self._duplicate_holdoff_until = float("-inf")

    # ---------------------------------------------------------------------------------
    # Public API
    # ---------------------------------------------------------------------------------

    @property
    def is_handshake_complete(self) -> bool:
        return self._done

    @property
    def state(self) -> DtlsState:
        return self._state

    def connect(self, now: float) -> None:
        """Starts the handshake as a client: queues the ClientHello and arms the timer."""
        handshake = self._handshake
        if not isinstance(handshake, ClientHandshake) or self._state is not DtlsState.CLIENT_START:
            raise DtlsUsageError("connect() is for a client, once")
        self._state = handshake.start(now)

    def receive_datagram(self, data: bytes, now: float) -> None:
        """Processes one datagram from the peer. Never raises on what the peer sent."""
        if self._state is DtlsState.CLOSED:
            self.counters["after_close"] += 1
            return
        if self._state is DtlsState.CLIENT_START:
            self.counters["before_connect"] += 1
            return
        try:
            for record in iter_records(data):
                self._receive_record(record, now)
                if self._is_closed():
                    break
        except DtlsParseError:
            # RFC 6347 §4.1.2.7: a record that cannot be framed is dropped silently, and with
            # it the rest of the datagram, whose boundaries are now unknown.
            self.counters["malformed_record"] += 1

    def _is_closed(self) -> bool:
        return self._state is DtlsState.CLOSED

    def datagrams_to_send(self) -> list[bytes]:
        out = self._outgoing[:]
        self._outgoing.clear()  # the list is shared with the role object, which appends
        return out

    def next_event(self) -> DtlsEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timeout` should next be called (absolute time), or None."""
        return self._handshake.timer.deadline

    def handle_timeout(self, now: float) -> None:
        """Retransmits the last flight if its timer has expired (RFC 6347 §4.2.4)."""
        timer = self._handshake.timer
        if self._state is DtlsState.CLOSED or not timer.expired(now):
            return
        if timer.exhausted:
            self._close(DtlsClosed("handshake timed out", None, by_peer=False))
            return
        self.counters["retransmit_on_timeout"] += 1
        self._handshake.retransmit()
        timer.back_off(now)

    def send_application_data(self, data: bytes) -> None:
        """Sends ``data`` in one protected record (DTLS never splits application data)."""
        if self._state is not DtlsState.ESTABLISHED:
            raise DtlsUsageError(f"cannot send application data in state {self._state}")
        overhead = self._records.overhead(self._records.write_epoch)
        if len(data) > _MAX_PLAINTEXT or len(data) + overhead > self._settings.max_datagram_size:
            raise DtlsArgumentError("application data does not fit in one datagram")
        self._outgoing.append(self._records.seal(ContentType.application_data, data))

    def close(self) -> None:
        """Sends close_notify and closes (RFC 5246 §7.2.1). Idempotent."""
        if self._state is DtlsState.CLOSED:
            return
        if self._state is not DtlsState.CLIENT_START:  # nothing was ever sent before connect()
            self._send_alert(AlertLevel.warning, AlertDescription.close_notify)
        self._close(DtlsClosed("closed locally", AlertDescription.close_notify, by_peer=False))

    def export_keying_material(
        self, label: bytes, length: int, context: bytes | None = None
    ) -> bytes:
        """Keying material from the master secret (RFC 5705 §4)."""
        if not self._done:
            raise DtlsUsageError("keying material exists only after the handshake")
        handshake = self._handshake
        assert handshake.suite is not None
        return export_keying_material(
            SUITES[handshake.suite].hash_name,
            handshake.master_secret,
            client_random=handshake.client_random,
            server_random=handshake.server_random,
            label=label,
            length=length,
            context=context,
        )

    def srtp_keying_material(self) -> bytes:
        """The EXTRACTOR-dtls_srtp material, as long as the negotiated profile needs
        (RFC 5764 §4.2); :mod:`voice.srtp` splits it into keys and salts."""
        profile = self._handshake.srtp_profile
        if profile is None:
            raise DtlsUsageError("no SRTP profile was negotiated")
        length = PROFILE_SIZES[profile].keying_material_length
        return self.export_keying_material(SRTP_EXPORTER_LABEL, length)

    @property
    def srtp_profile(self) -> SrtpProfile | None:
        return self._handshake.srtp_profile

    @property
    def cipher_suite(self) -> CipherSuite | None:
        return self._handshake.suite

    # ---------------------------------------------------------------------------------
    # Records
    # ---------------------------------------------------------------------------------

    def _receive_record(self, record: Record, now: float) -> None:
        # RFC 6347 §4.1: a ClientHello may be sent in a DTLS 1.0 record for compatibility;
        # once keys are in use only DTLS 1.2 records are valid.
        if record.version not in _RECORD_VERSIONS or (
            record.epoch > 0 and record.version != _DTLS_1_2
        ):
            self.counters["bad_version"] += 1
            return
        plaintext = self._records.open(record)
        if isinstance(plaintext, RecordDrop):
            self.counters[plaintext] += 1
            return
        if len(plaintext) > _MAX_PLAINTEXT:
            self.counters["record_overflow"] += 1
            return
        content_type = record.content_type
        if content_type == ContentType.handshake:
            self._receive_handshake(plaintext, record, now)
        elif content_type == ContentType.change_cipher_spec:
            self._receive_change_cipher_spec(plaintext, record.epoch)
        elif content_type == ContentType.alert:
            self._receive_alert(plaintext, record.epoch)
        elif content_type == ContentType.application_data:
            self._receive_application_data(plaintext, record.epoch)
        else:
            # RFC 5246 §6: an unknown content type would deserve unexpected_message, but in
            # DTLS it may just as well be forged noise, so it is dropped (RFC 6347 §4.1.2.7).
            self.counters["unknown_content_type"] += 1

    def _receive_application_data(self, data: bytes, epoch: int) -> None:
        if epoch == 0 or self._state is not DtlsState.ESTABLISHED:
            # Unprotected, or protected but ahead of our Finished check: not yet trusted.
            self.counters["early_application_data"] += 1
            return
        self._events.append(DtlsApplicationData(data))

    def _receive_alert(self, data: bytes, epoch: int) -> None:
        if len(data) != 2:
            self.counters["malformed_alert"] += 1
            return
        if epoch < self._records.read_epoch:
            # Once the peer protects its records, an unprotected alert cannot be from it.
            self.counters["unprotected_alert"] += 1
            return
        level, code = data
        try:
            description: AlertDescription | None = AlertDescription(code)
        except ValueError:
            description = None
        name = description.name if description else f"alert {code}"
        if description is AlertDescription.close_notify:
            # RFC 5246 §7.2.1: answer close_notify with our own and stop.
            self._send_alert(AlertLevel.warning, AlertDescription.close_notify)
            self._close(DtlsClosed("peer closed", description, by_peer=True))
        elif level == AlertLevel.fatal:
            # RFC 5246 §7.2.2: a fatal alert ends the connection at once.
            self._close(DtlsClosed(f"peer sent {name}", description, by_peer=True))
        else:
            self.counters["warning_alert"] += 1
            logger.debug("DTLS warning alert from peer: %s", name)

    def _receive_change_cipher_spec(self, data: bytes, epoch: int) -> None:
        if data != b"\x01" or epoch != 0:
            self.counters["malformed_change_cipher_spec"] += 1
            return
        allowed = TRANSITIONS[self._state].get(CHANGE_CIPHER_SPEC)
        if allowed is None:
            # RFC 6347 §4.2.5: ChangeCipherSpec carries no message_seq and travels in the
            # Finished's flight, so it can overtake the handshake messages before it, or be
            # a retransmission; either way it is dropped and the peer's retransmitted flight
            # brings it again in order.
            self.counters["unexpected_change_cipher_spec"] += 1
            return
        assert self._handshake.pending_read is not None
        self._records.install_read(1, self._handshake.pending_read)
        self._state = allowed[0]

    def _send_alert(self, level: AlertLevel, description: AlertDescription) -> None:
        self._outgoing.append(self._records.seal(ContentType.alert, bytes([level, description])))

    def _fail(self, failure: HandshakeError) -> None:
        logger.info("DTLS handshake failed: %s", failure)
        self._send_alert(AlertLevel.fatal, failure.alert)
        self._close(DtlsClosed(failure.reason, failure.alert, by_peer=False))

    def _close(self, event: DtlsClosed) -> None:
        self._state = DtlsState.CLOSED
        self._handshake.stop()
        self._events.append(event)

    # ---------------------------------------------------------------------------------
    # Handshake messages: reassembly, ordering, dispatch
    # ---------------------------------------------------------------------------------

    def _receive_handshake(self, data: bytes, record: Record, now: float) -> None:
        epoch = record.epoch
        try:
            fragments = list(iter_fragments(data))
        except DtlsParseError as exc:
            if self._state is DtlsState.ESTABLISHED or epoch == 0:
                # Framing that does not parse cannot be pinned on any message, and it is
                # unauthenticated or arrives after the handshake: not worth a fatal alert
                # that a forged packet could provoke. (A message whose *body* is malformed
                # does get decode_error, in _handle_message.)
                self.counters["malformed_handshake"] += 1
                return
            self._fail(HandshakeError(AlertDescription.decode_error, str(exc)))
            return
        for frag in fragments:
            self._receive_fragment(frag, epoch, now)
        while self._state is not DtlsState.CLOSED and (message := self._reassembler.pop()):
            msg_type, seq, body = message
            self._handle_message(msg_type, seq, body, record.sequence_number, now)

    def _receive_fragment(self, frag: HandshakeFragment, epoch: int, now: float) -> None:
        if self._state is DtlsState.SERVER_WAIT_CLIENT_HELLO:
            if frag.msg_type != HandshakeType.client_hello:
                # Before a ClientHello there is no handshake to abort: stray or forged
                # messages are dropped, not answered with an alert.
                self.counters["handshake_before_client_hello"] += 1
                return
            if frag.message_seq > self._reassembler.next_seq:
                # A stateless server does not know which message_seq comes first: after a
                # HelloVerifyRequest the client's next ClientHello carries the next one.
                self._reassembler.restart_at(frag.message_seq)
        if frag.message_seq < self._reassembler.next_seq:
            self._on_old_fragment(frag, now)
            return
        if epoch < self._records.read_epoch:
            # Once the peer has switched to protected records, new handshake messages must be
            # protected too; an unprotected one is forged or stale.
            self.counters["unprotected_handshake"] += 1
            return
        status = self._reassembler.add(frag)
        if status is not Added.ACCEPTED:
            self.counters[f"handshake_{status.value}"] += 1

    def _on_old_fragment(self, frag: HandshakeFragment, now: float) -> None:
        """A fragment of a message we already processed: the peer is retransmitting.

        RFC 6347 §4.2.4: when the peer sends its previous flight again, ours was lost, so we
        send ours again. Any fragment of that flight may be the one that survives the way
        here, so each counts; the fragments of one retransmission arrive together, so one
        answer per hold-off period answers each retransmitted flight once.
        """
        self.counters["duplicate_handshake"] += 1
        first, last = self._peer_flight
        if (
            first <= frag.message_seq <= last
            and self._handshake.has_flight
            and now >= self._duplicate_holdoff_until
        ):
            self.counters["retransmit_on_duplicate"] += 1
            self._duplicate_holdoff_until = now + DUPLICATE_HOLDOFF
            self._handshake.retransmit()

    def _handle_message(
        self, msg_type: int, seq: int, body: bytes, record_sequence: int, now: float
    ) -> None:
        if self._state is DtlsState.ESTABLISHED:
            self._handle_after_handshake(msg_type)
            return
        allowed = TRANSITIONS[self._state]
        key = HandshakeType(msg_type) if msg_type in _HANDSHAKE_TYPES else None
        if key is None or key not in allowed:
            name = key.name if key is not None else str(msg_type)
            self._fail(
                HandshakeError(AlertDescription.unexpected_message, f"{name} in {self._state}")
            )
            return
        try:
            message = parse_message(msg_type, body)
            logger.debug("DTLS <- %s (message_seq %d)", key.name, seq)
            # A new message in order means the peer has our last flight: stop its timer.
            self._handshake.timer.stop()
            received = Received(key, seq, body, record_sequence)
            next_state = self._handshake.handle(received, message, now)
        except DtlsParseError as exc:
            self._fail(HandshakeError(AlertDescription.decode_error, str(exc)))
            return
        except HandshakeError as failure:
            self._fail(failure)
            return
        assert next_state in allowed[key], f"{self._state} -> {next_state} is not in the table"
        if key in FLIGHT_ENDS:
            self._peer_flight = (self._peer_flight_next, seq)
            self._peer_flight_next = seq + 1
        logger.debug("DTLS %s -> %s", self._state.value, next_state.value)
        self._state = next_state
        if next_state is DtlsState.SERVER_WAIT_CLIENT_HELLO:
            # The server answered with a stateless HelloVerifyRequest (RFC 6347 §4.2.1) and
            # remembers nothing of this ClientHello, its message_seq included.
            self._reassembler.restart_at(0)
        elif next_state is DtlsState.ESTABLISHED:
            self._done = True
            self._events.append(self._handshake.completed())

    def _handle_after_handshake(self, msg_type: int) -> None:
        if msg_type == self._handshake.RENEGOTIATION:
            # RFC 5246 §7.4.1.1: renegotiation may be refused with a no_renegotiation warning;
            # we never renegotiate, so there is no renegotiation_info state to keep either.
            self.counters["renegotiation_refused"] += 1
            self._send_alert(AlertLevel.warning, AlertDescription.no_renegotiation)
        else:
            self._fail(
                HandshakeError(
                    AlertDescription.unexpected_message,
                    f"handshake message {msg_type} after Finished",
                )
            )
