"""What both roles of the handshake share: their settings, the transcript, our flights and
their timer, key derivation, and Finished.

A :class:`~voice.dtls.connection.DtlsConnection` owns one role object, a
:class:`~voice.dtls.client.ClientHandshake` or a :class:`~voice.dtls.server.ServerHandshake`,
both subclasses of :class:`Handshake`. The connection handles records and decides, through
the state table, whether a message may be handled at all; the role object holds everything
the handshake learns and answers each message it is given. Every attribute of a role is
assigned in its ``__init__``, so what a handshake remembers is listed in one place.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from voice.counters import Counters
from voice.dtls.certificate import (
    Certificate,
    PublicKey,
    fingerprint,
    fingerprint_matches,
    load_peer_public_key,
)
from voice.dtls.errors import HandshakeError
from voice.dtls.events import DtlsHandshakeComplete
from voice.dtls.flights import FlightMessage, RetransmitTimer, pack_flight
from voice.dtls.fragments import encode_whole_message
from voice.dtls.keyexchange import KeyShare
from voice.dtls.keyschedule import (
    SUITES,
    SuiteParameters,
    compute_master_secret,
    key_block,
    nss_key_log_line,
    transcript_hash,
    verify_data,
)
from voice.dtls.messages import Finished, Message
from voice.dtls.record import RecordLayer, RecordProtection
from voice.dtls.registry import AlertDescription, CipherSuite, HandshakeType
from voice.dtls.state import DtlsState
from voice.srtp.profiles import SrtpProfile

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HandshakeSettings:
    """How a connection was configured (see :class:`~voice.dtls.connection.DtlsConnection`)."""

    certificate: Certificate
    remote_fingerprints: tuple[tuple[str, str], ...] | None
    srtp_profiles: tuple[SrtpProfile, ...]
    cipher_suites: tuple[CipherSuite, ...]
    require_extended_master_secret: bool
    max_datagram_size: int
    cookie_secret: bytes | None
    key_log: Callable[[str], None] | None


@dataclass(frozen=True, slots=True)
class Received:
    """A whole handshake message as it arrived, beside its parsed form."""

    msg_type: HandshakeType
    message_seq: int
    body: bytes
    #: Sequence number of the record that completed the message (a stateless
    #: HelloVerifyRequest reuses it).
    record_sequence: int


#: A role's step for one incoming message: the role, the parsed message, the time; it
#: returns the next state, which the connection checks against the state table.
Handler = Callable[[Any, Any, float], DtlsState]


class Handshake:
    """The shared state and steps of both roles (see the module docstring).

    A subclass names its first state, the message that would start a renegotiation, and its
    ``HANDLERS``: one method per message it may receive, in the order a handshake meets them.
    """

    is_server: ClassVar[bool]
    INITIAL_STATE: ClassVar[DtlsState]
    RENEGOTIATION: ClassVar[HandshakeType]
    HANDLERS: ClassVar[Mapping[HandshakeType, Handler]]

    def __init__(
        self,
        settings: HandshakeSettings,
        records: RecordLayer,
        outgoing: list[bytes],
        counters: Counters[str],
    ) -> None:
        self.settings = settings
        # Shared with the connection: the record layer, the datagrams it hands the driver,
        # and its counters.
        self._records = records
        self._outgoing = outgoing
        self._counters = counters

        # Our last flight and its retransmission timer (RFC 6347 §4.2.4).
        self.timer = RetransmitTimer()
        self._flight: list[FlightMessage] = []
        self._next_send_seq = 0

        # Every handshake message, sent or received, as one unfragmented piece (RFC 6347
        # §4.2.6); ``_transcript_before`` is its length before the message being handled.
        self._transcript = bytearray()
        self._transcript_before = 0
        self._received: Received | None = None  # the message being handled

        # What the handshake negotiates.
        self.client_random = b""
        self.server_random = b""
        self.suite: CipherSuite | None = None
        self.srtp_profile: SrtpProfile | None = None
        self._use_ems = False
        self._key_share: KeyShare | None = None
        self._peer_certificate: bytes | None = None
        self._peer_key: PublicKey | None = None
        self.master_secret = b""
        #: Our peer's record protection, installed when its ChangeCipherSpec arrives.
        self.pending_read: RecordProtection | None = None
        self._pending_write: RecordProtection | None = None

    # Incoming messages

    def handle(self, received: Received, message: Message, now: float) -> DtlsState:
        """Adds a message to the transcript and runs the role's handler for it."""
        self._received = received
        self._transcript_before = len(self._transcript)
        self._transcript += encode_whole_message(
            received.msg_type, received.message_seq, received.body
        )
        return self.HANDLERS[received.msg_type](self, message, now)

    def completed(self) -> DtlsHandshakeComplete:
        """The event that reports a finished handshake."""
        assert self.suite is not None
        peer = fingerprint(self._peer_certificate) if self._peer_certificate else None
        profile = self.srtp_profile.name if self.srtp_profile is not None else "no SRTP"
        logger.debug("DTLS handshake complete: %s, %s", self.suite.name, profile)
        return DtlsHandshakeComplete(self.srtp_profile, self.suite, peer)

    # Our flights

    @property
    def has_flight(self) -> bool:
        """Whether we have a flight the peer may still need again."""
        return bool(self._flight)

    def retransmit(self) -> None:
        """Sends our last flight again, in new records (RFC 6347 §4.2.4)."""
        datagrams = pack_flight(self._flight, self._records, self.settings.max_datagram_size)
        if logger.isEnabledFor(logging.DEBUG):
            names = [
                "ChangeCipherSpec" if m.msg_type is None else HandshakeType(m.msg_type).name
                for m in self._flight
            ]
            logger.debug("DTLS -> %s in %d datagram(s)", ", ".join(names), len(datagrams))
        self._outgoing.extend(datagrams)

    def stop(self) -> None:
        """The connection is closed: nothing is retransmitted any more."""
        self.timer.stop()
        self._flight = []

    def _handshake_message(self, message: Message) -> FlightMessage:
        """Numbers a message we send, adds it to the transcript, and wraps it for a flight."""
        seq = self._next_send_seq
        self._next_send_seq += 1
        body = message.encode()
        self._transcript += encode_whole_message(message.msg_type, seq, body)
        return FlightMessage(self._records.write_epoch, message.msg_type, seq, body)

    def _change_cipher_spec(self) -> FlightMessage:
        """A ChangeCipherSpec in the current epoch; what follows it goes out in the next."""
        assert self._pending_write is not None
        ccs = FlightMessage(self._records.write_epoch, None)
        self._records.install_write(self._records.write_epoch + 1, self._pending_write)
        return ccs

    def _send_flight(
        self, messages: list[FlightMessage], now: float, *, last: bool = False
    ) -> None:
        self._flight = messages
        self.retransmit()
        if last:
            # RFC 6347 §4.2.4: the final flight is not timed; it is sent again only when the
            # peer's retransmission shows it was lost.
            self.timer.stop()
        else:
            self.timer.start(now)

    # Steps both roles take

    @property
    def _suite_params(self) -> SuiteParameters:
        assert self.suite is not None
        return SUITES[self.suite]

    def _check_peer_certificate(self, chain: tuple[bytes, ...]) -> None:
        """Loads the peer's key and checks its fingerprint against SDP (RFC 8122 §5)."""
        leaf = chain[0]
        self._peer_key = load_peer_public_key(leaf)
        expected = self.settings.remote_fingerprints
        if expected is not None and not fingerprint_matches(leaf, expected):
            raise HandshakeError(
                AlertDescription.bad_certificate, "certificate does not match the SDP fingerprint"
            )
        self._peer_certificate = leaf

    def _require_peer_key(self) -> PublicKey:
        assert self._peer_key is not None
        return self._peer_key

    def _derive_keys(self, pre_master_secret: bytes) -> None:
        """Master secret and record keys, right after ClientKeyExchange is in the transcript."""
        params = self._suite_params
        session_hash = (
            # RFC 7627 §3: the session hash covers the handshake up to and including
            # ClientKeyExchange, which is where the transcript stands now.
            transcript_hash(params.hash_name, bytes(self._transcript)) if self._use_ems else None
        )
        self.master_secret = compute_master_secret(
            params.hash_name,
            pre_master_secret,
            client_random=self.client_random,
            server_random=self.server_random,
            session_hash=session_hash,
        )
        keys = key_block(params, self.master_secret, self.client_random, self.server_random)
        client = params.protection(keys.client_write_key, keys.client_write_iv)
        server = params.protection(keys.server_write_key, keys.server_write_iv)
        self._pending_write, self.pending_read = (
            (server, client) if self.is_server else (client, server)
        )
        if self.settings.key_log is not None:
            self.settings.key_log(nss_key_log_line(self.client_random, self.master_secret))

    def _finished(self, *, client: bool, transcript: bytes) -> bytes:
        params = self._suite_params
        return verify_data(
            params.hash_name,
            self.master_secret,
            client=client,
            handshake_hash=transcript_hash(params.hash_name, transcript),
        )

    def _check_finished(self, message: Finished) -> None:
        # RFC 5246 §7.4.9: verify_data covers every handshake message before this Finished.
        expected = self._finished(
            client=self.is_server, transcript=bytes(self._transcript[: self._transcript_before])
        )
        if not hmac.compare_digest(message.verify_data, expected):
            raise HandshakeError(AlertDescription.decrypt_error, "Finished does not verify")
