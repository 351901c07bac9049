"""The client's side of the DTLS handshake, read top to bottom in the order it happens.

:meth:`ClientHandshake.start` sends the ClientHello; then each ``_on_*`` method handles one
message of the server's flights, in the order they arrive, when the state table
(:mod:`voice.dtls.state`) allows it. It checks what the server chose against what we
offered, raises :class:`~voice.dtls.errors.HandshakeError` with the alert the RFCs name when
it must refuse, and returns the next state. ``HANDLERS`` at the end of the class lists them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import ClassVar

from voice.counters import Counters
from voice.dtls import extensions as ext
from voice.dtls.certificate import (
    VERIFIABLE_SCHEMES,
    scheme_fits_key,
    verify_signature,
)
from voice.dtls.errors import HandshakeError
from voice.dtls.extensions import Extension, UseSrtp, find_extension
from voice.dtls.flights import FlightMessage
from voice.dtls.handshake import Handler, Handshake, HandshakeSettings
from voice.dtls.keyexchange import SUPPORTED_GROUPS, KeyShare
from voice.dtls.messages import Certificate as CertificateMessage
from voice.dtls.messages import (
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    ClientKeyExchange,
    Finished,
    HelloVerifyRequest,
    ServerHello,
    ServerHelloDone,
    ServerKeyExchange,
)
from voice.dtls.record import RecordLayer
from voice.dtls.registry import (
    AlertDescription,
    CipherSuite,
    ClientCertificateType,
    ECPointFormat,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
)
from voice.dtls.state import DtlsState
from voice.srtp.profiles import SrtpProfile

_DTLS_1_2 = ProtocolVersion.DTLS_1_2


class ClientHandshake(Handshake):
    """The DTLS client role: one handshake, from ClientHello to the server's Finished."""

    is_server = False
    INITIAL_STATE = DtlsState.CLIENT_START
    #: RFC 5246 §7.4.1.1: a server asks a client to renegotiate with HelloRequest.
    RENEGOTIATION = HandshakeType.hello_request

    def __init__(
        self,
        settings: HandshakeSettings,
        records: RecordLayer,
        outgoing: list[bytes],
        counters: Counters[str],
    ) -> None:
        super().__init__(settings, records, outgoing, counters)
        self._client_hello: ClientHello | None = None
        self._peer_share: tuple[NamedGroup, bytes] | None = None
        self._certificate_requested: CertificateRequest | None = None

    def start(self, now: float) -> DtlsState:
        """Sends flight 1, the ClientHello, and arms its timer."""
        self.client_random = os.urandom(32)
        self._client_hello = self._build_client_hello(cookie=b"")
        self._send_flight([self._handshake_message(self._client_hello)], now)
        return DtlsState.CLIENT_WAIT_SERVER_HELLO

    def _build_client_hello(self, cookie: bytes) -> ClientHello:
        extensions = [
            Extension(
                ExtensionType.supported_groups, ext.encode_supported_groups(SUPPORTED_GROUPS)
            ),
            Extension(
                ExtensionType.ec_point_formats,
                ext.encode_ec_point_formats([ECPointFormat.uncompressed]),
            ),
            Extension(
                ExtensionType.signature_algorithms,
                ext.encode_signature_algorithms(VERIFIABLE_SCHEMES),
            ),
            Extension(ExtensionType.extended_master_secret, b""),
            # RFC 5746 §3.4: an initial ClientHello signals secure renegotiation with an
            # empty renegotiation_info (or the SCSV; we use the extension).
            Extension(ExtensionType.renegotiation_info, ext.encode_renegotiation_info()),
        ]
        if self.settings.srtp_profiles:
            # RFC 5764 §4.1.1: our profiles in preference order, and no MKI.
            extensions.append(
                Extension(ExtensionType.use_srtp, UseSrtp(self.settings.srtp_profiles).encode())
            )
        return ClientHello(
            version=_DTLS_1_2,
            random=self.client_random,
            session_id=b"",
            cookie=cookie,
            cipher_suites=self.settings.cipher_suites,
            compression_methods=b"\x00",
            extensions=tuple(extensions),
        )

    def _on_hello_verify_request(self, message: HelloVerifyRequest, now: float) -> DtlsState:
        assert self._client_hello is not None
        # RFC 6347 §4.2.1: send the same ClientHello again with the cookie. RFC 6347 §4.2.6:
        # neither the first ClientHello nor the HelloVerifyRequest enters the transcript.
        self._transcript.clear()
        self._client_hello = replace(self._client_hello, cookie=message.cookie)
        self._send_flight([self._handshake_message(self._client_hello)], now)
        return DtlsState.CLIENT_WAIT_SERVER_HELLO

    def _on_server_hello(self, message: ServerHello, now: float) -> DtlsState:
        """RFC 5246 §7.4.1.3: everything the server chose must be something we offered."""
        if message.version != _DTLS_1_2:
            raise HandshakeError(AlertDescription.protocol_version, "server is not DTLS 1.2")
        if message.cipher_suite not in self.settings.cipher_suites:
            raise HandshakeError(AlertDescription.illegal_parameter, "suite was not offered")
        if message.compression_method != 0:
            raise HandshakeError(AlertDescription.illegal_parameter, "compression")
        assert self._client_hello is not None
        offered = {e.type for e in self._client_hello.extensions}
        for extension in message.extensions:
            if extension.type not in offered:
                # RFC 5246 §7.4.1.4: a server may only answer extensions the client sent.
                raise HandshakeError(
                    AlertDescription.unsupported_extension,
                    f"server sent unrequested extension {extension.type}",
                )
        self.suite = CipherSuite(message.cipher_suite)
        self.server_random = message.random

        renegotiation_info = find_extension(message.extensions, ExtensionType.renegotiation_info)
        # RFC 5746 §3.4: the server's renegotiation_info must be present and empty on an
        # initial handshake. Its absence would mean a server open to the renegotiation attack.
        if renegotiation_info is None or ext.decode_renegotiation_info(renegotiation_info):
            raise HandshakeError(
                AlertDescription.handshake_failure, "no secure renegotiation indication"
            )
        ems = find_extension(message.extensions, ExtensionType.extended_master_secret)
        if ems is not None:
            ext.decode_extended_master_secret(ems)
        self._use_ems = ems is not None
        if not self._use_ems and self.settings.require_extended_master_secret:
            # RFC 7627 §5.2: a client that will not talk to legacy servers should abort when
            # the server does not use the extension; we do unless told otherwise.
            raise HandshakeError(AlertDescription.handshake_failure, "no extended master secret")
        formats = find_extension(message.extensions, ExtensionType.ec_point_formats)
        if formats is not None and ECPointFormat.uncompressed not in ext.decode_ec_point_formats(
            formats
        ):
            raise HandshakeError(AlertDescription.illegal_parameter, "no uncompressed points")
        self.srtp_profile = self._check_use_srtp(message.extensions)
        return DtlsState.CLIENT_WAIT_CERTIFICATE

    def _check_use_srtp(self, extensions: tuple[Extension, ...]) -> SrtpProfile | None:
        if not self.settings.srtp_profiles:
            return None
        data = find_extension(extensions, ExtensionType.use_srtp)
        if data is None:
            # RFC 5764 §4.1.1 would let us fall back to plain DTLS; WebRTC media needs SRTP.
            raise HandshakeError(AlertDescription.handshake_failure, "server declined use_srtp")
        use_srtp = UseSrtp.decode(data)
        # RFC 5764 §4.1.1: exactly one of the profiles we offered; RFC 5764 §4.1.3: no MKI
        # unless we sent one (we never do).
        if len(use_srtp.profiles) != 1 or use_srtp.profiles[0] not in self.settings.srtp_profiles:
            raise HandshakeError(AlertDescription.illegal_parameter, "bad SRTP profile choice")
        if use_srtp.mki:
            raise HandshakeError(AlertDescription.illegal_parameter, "server chose an MKI")
        return SrtpProfile(use_srtp.profiles[0])

    def _on_certificate(self, message: CertificateMessage, now: float) -> DtlsState:
        if not message.certificates:
            raise HandshakeError(AlertDescription.handshake_failure, "server sent no certificate")
        self._check_peer_certificate(message.certificates)
        if not scheme_fits_key(SignatureScheme.ecdsa_secp256r1_sha256, self._require_peer_key()):
            # RFC 8422 §5.3: ECDHE_ECDSA suites need an ECDSA-capable server certificate.
            raise HandshakeError(AlertDescription.unsupported_certificate, "not an ECDSA key")
        return DtlsState.CLIENT_WAIT_KEY_EXCHANGE

    def _on_server_key_exchange(self, message: ServerKeyExchange, now: float) -> DtlsState:
        if message.named_group not in SUPPORTED_GROUPS:
            # RFC 8422 §5.4: the server must pick one of the groups we listed.
            raise HandshakeError(AlertDescription.illegal_parameter, "group was not offered")
        if message.signature_scheme not in VERIFIABLE_SCHEMES:
            raise HandshakeError(AlertDescription.illegal_parameter, "scheme was not offered")
        # RFC 8422 §5.4: the signature covers both randoms and the server's ECDH parameters.
        signed = self.client_random + self.server_random + message.signed_params()
        if not verify_signature(
            self._require_peer_key(), message.signature_scheme, message.signature, signed
        ):
            raise HandshakeError(AlertDescription.decrypt_error, "ServerKeyExchange signature")
        self._peer_share = (NamedGroup(message.named_group), message.public_key)
        return DtlsState.CLIENT_WAIT_CERTIFICATE_REQUEST

    def _on_certificate_request(self, message: CertificateRequest, now: float) -> DtlsState:
        self._certificate_requested = message
        return DtlsState.CLIENT_WAIT_HELLO_DONE

    def _on_server_hello_done(self, message: ServerHelloDone, now: float) -> DtlsState:
        assert self._peer_share is not None
        flight: list[FlightMessage] = []
        request = self._certificate_requested
        # RFC 5246 §7.4.6: answer a CertificateRequest with our certificate if the server
        # accepts its type and our signature scheme, else with an empty one and let the
        # server decide.
        will_sign = request is not None and (
            ClientCertificateType.ecdsa_sign in request.certificate_types
            and self.settings.certificate.signature_scheme in request.signature_schemes
        )
        if request is not None:
            chain = (self.settings.certificate.der,) if will_sign else ()
            flight.append(self._handshake_message(CertificateMessage(chain)))
        group, server_public = self._peer_share
        self._key_share = KeyShare(group)
        pre_master_secret = self._key_share.exchange(server_public)
        flight.append(self._handshake_message(ClientKeyExchange(self._key_share.public_bytes)))
        self._derive_keys(pre_master_secret)
        if will_sign:
            # RFC 5246 §7.4.8: sign every handshake message so far, proving we hold the key.
            signature = self.settings.certificate.sign(bytes(self._transcript))
            flight.append(
                self._handshake_message(
                    CertificateVerify(self.settings.certificate.signature_scheme, signature)
                )
            )
        flight.append(self._change_cipher_spec())
        finished = self._finished(client=True, transcript=bytes(self._transcript))
        flight.append(self._handshake_message(Finished(finished)))
        self._send_flight(flight, now)
        return DtlsState.CLIENT_WAIT_CHANGE_CIPHER_SPEC

    def _on_finished(self, message: Finished, now: float) -> DtlsState:
        self._check_finished(message)
        self._flight = []  # nothing of ours is retransmitted after the server's Finished
        return DtlsState.ESTABLISHED

    # The state table decides whether a message may come; this says who handles it.
    HANDLERS: ClassVar[Mapping[HandshakeType, Handler]] = {
        HandshakeType.hello_verify_request: _on_hello_verify_request,
        HandshakeType.server_hello: _on_server_hello,
        HandshakeType.certificate: _on_certificate,
        HandshakeType.server_key_exchange: _on_server_key_exchange,
        HandshakeType.certificate_request: _on_certificate_request,
        HandshakeType.server_hello_done: _on_server_hello_done,
        HandshakeType.finished: _on_finished,
    }
