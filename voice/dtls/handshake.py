"""What both roles of the handshake share: the transcript, our flights, key derivation,
Finished, and the attributes the handshake fills in.

:class:`HandshakeCore` is a base class, not an object of its own: :class:`ClientHandshake`
(:mod:`voice.dtls.client`) and :class:`ServerHandshake` (:mod:`voice.dtls.server`) build on
it, and :class:`~voice.dtls.connection.DtlsConnection` combines them with the record layer
and the dispatch of incoming messages. The attributes are declared here and set in
``DtlsConnection.__init__``.
"""

from __future__ import annotations

import hmac
import logging
from collections import Counter, deque
from collections.abc import Callable

from voice.dtls.certificate import (
    Certificate,
    PublicKey,
    fingerprint,
    fingerprint_matches,
    load_peer_public_key,
)
from voice.dtls.errors import HandshakeError
from voice.dtls.events import DtlsEvent, HandshakeComplete
from voice.dtls.flights import FlightMessage, RetransmitTimer, pack_flight
from voice.dtls.fragments import (
    Reassembler,
    encode_whole_message,
)
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
from voice.dtls.messages import (
    CertificateRequest,
    ClientHello,
    Finished,
    Message,
)
from voice.dtls.record import Record, RecordLayer, RecordProtection
from voice.dtls.registry import (
    AlertDescription,
    CipherSuite,
    HandshakeType,
    NamedGroup,
)
from voice.dtls.state import State
from voice.srtp.profiles import SrtpProfile

logger = logging.getLogger(__name__)


class HandshakeCore:
    """Shared state and steps of the DTLS handshake (see the module docstring)."""

    # Configuration.
    is_server: bool
    _certificate: Certificate
    _remote_fingerprints: tuple[tuple[str, str], ...] | None
    _srtp_profiles: tuple[SrtpProfile, ...]
    _max_datagram_size: int
    _cookie_secret: bytes | None
    _key_log: Callable[[str], None] | None
    _cipher_suites: tuple[CipherSuite, ...]
    _require_ems: bool
    counters: Counter[str]

    # Machinery: records, reassembly, our last flight and its timer, what goes out.
    _state: State
    _records: RecordLayer
    _reassembler: Reassembler
    _timer: RetransmitTimer
    _flight: list[FlightMessage]
    _next_send_seq: int
    _last_record: Record | None
    _outgoing: list[bytes]
    _events: deque[DtlsEvent]

    # Every handshake message, sent or received, as one unfragmented piece (RFC 6347
    # §4.2.6); ``_transcript_before`` is its length before the message being handled, whose
    # message_seq is ``_message_seq``.
    _transcript: bytearray
    _transcript_before: int
    _message_seq: int

    # What the handshake negotiates.
    _client_hello: ClientHello | None
    _client_random: bytes
    _server_random: bytes
    _suite: CipherSuite | None
    _use_ems: bool
    _srtp_profile: SrtpProfile | None
    _key_share: KeyShare | None
    _peer_share: tuple[NamedGroup, bytes] | None
    _peer_certificate: bytes | None
    _peer_key: PublicKey | None
    _certificate_requested: CertificateRequest | None
    _master_secret: bytes
    _pending_read: RecordProtection | None
    _pending_write: RecordProtection | None
    _done: bool

    # Sending flights

    def _handshake_message(self, message: Message) -> FlightMessage:
        """Numbers a message we send, adds it to the transcript, and wraps it for a flight."""
        seq = self._next_send_seq
        self._next_send_seq += 1
        body = message.encode()
        self._transcript += encode_whole_message(message.msg_type, seq, body)
        return FlightMessage(self._records.write_epoch, message.msg_type, seq, body)

    def _change_cipher_spec(self, protection: RecordProtection) -> FlightMessage:
        """A ChangeCipherSpec in the current epoch; what follows it goes out in the next."""
        ccs = FlightMessage(self._records.write_epoch, None)
        self._records.install_write(self._records.write_epoch + 1, protection)
        return ccs

    def _send_flight(
        self, messages: list[FlightMessage], now: float, *, last: bool = False
    ) -> None:
        self._flight = messages
        self._transmit_flight()
        if last:
            # RFC 6347 §4.2.4: the final flight is not timed; it is sent again only when the
            # peer's retransmission shows it was lost.
            self._timer.stop()
        else:
            self._timer.start(now)

    def _transmit_flight(self) -> None:
        datagrams = pack_flight(self._flight, self._records, self._max_datagram_size)
        if logger.isEnabledFor(logging.DEBUG):
            names = [
                "ChangeCipherSpec" if m.msg_type is None else HandshakeType(m.msg_type).name
                for m in self._flight
            ]
            logger.debug("DTLS -> %s in %d datagram(s)", ", ".join(names), len(datagrams))
        self._outgoing.extend(datagrams)

    # Shared handshake steps

    @property
    def _suite_params(self) -> SuiteParameters:
        assert self._suite is not None
        return SUITES[self._suite]

    def _check_peer_certificate(self, chain: tuple[bytes, ...]) -> None:
        """Loads the peer's key and checks its fingerprint against SDP (RFC 8122 §5)."""
        leaf = chain[0]
        self._peer_key = load_peer_public_key(leaf)
        if self._remote_fingerprints is not None and not fingerprint_matches(
            leaf, self._remote_fingerprints
        ):
            raise HandshakeError(
                AlertDescription.bad_certificate, "certificate does not match the SDP fingerprint"
            )
        self._peer_certificate = leaf

    def _derive_keys(self, pre_master_secret: bytes) -> None:
        """Master secret and record keys, right after ClientKeyExchange is in the transcript."""
        params = self._suite_params
        session_hash = (
            # RFC 7627 §3: the session hash covers the handshake up to and including
            # ClientKeyExchange, which is where the transcript stands now.
            transcript_hash(params.hash_name, bytes(self._transcript)) if self._use_ems else None
        )
        self._master_secret = compute_master_secret(
            params.hash_name,
            pre_master_secret,
            client_random=self._client_random,
            server_random=self._server_random,
            session_hash=session_hash,
        )
        keys = key_block(params, self._master_secret, self._client_random, self._server_random)
        client = params.protection(keys.client_write_key, keys.client_write_iv)
        server = params.protection(keys.server_write_key, keys.server_write_iv)
        self._pending_write, self._pending_read = (
            (server, client) if self.is_server else (client, server)
        )
        if self._key_log is not None:
            self._key_log(nss_key_log_line(self._client_random, self._master_secret))

    def _finished(self, *, client: bool, transcript: bytes) -> bytes:
        params = self._suite_params
        return verify_data(
            params.hash_name,
            self._master_secret,
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

    def _complete(self) -> None:
        self._done = True
        assert self._suite is not None
        peer = fingerprint(self._peer_certificate) if self._peer_certificate else None
        self._events.append(HandshakeComplete(self._srtp_profile, self._suite, peer))
        profile = self._srtp_profile.name if self._srtp_profile is not None else "no SRTP"
        logger.debug("DTLS handshake complete: %s, %s", self._suite.name, profile)

    def _require_peer_key(self) -> PublicKey:
        assert self._peer_key is not None
        return self._peer_key
