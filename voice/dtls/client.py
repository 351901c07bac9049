"""The client's side of the DTLS handshake: one method per message the server sends.

Each ``_client_on_*`` method runs when the state table (:mod:`voice.dtls.state`) allows the
message; it checks what the server chose against what we offered, raises
:class:`~voice.dtls.errors.HandshakeError` with the alert the RFCs name when it must refuse,
and returns the next state.
"""

from __future__ import annotations

from dataclasses import replace

from voice.dtls import extensions as ext
from voice.dtls.certificate import (
    VERIFIABLE_SCHEMES,
    scheme_fits_key,
    verify_signature,
)
from voice.dtls.errors import HandshakeError
from voice.dtls.extensions import Extension, UseSrtp, find_extension
from voice.dtls.flights import FlightMessage
from voice.dtls.handshake import HandshakeCore
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
from voice.dtls.registry import (
    AlertDescription,
    CipherSuite,
    ClientCertificateType,
    ECPointFormat,
    ExtensionType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
)
from voice.dtls.state import State
from voice.srtp.profiles import SrtpProfile

_DTLS_1_2 = ProtocolVersion.DTLS_1_2


class ClientHandshake(HandshakeCore):
    """The DTLS client role."""

    # Client role

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
        if self._srtp_profiles:
            # RFC 5764 §4.1.1: our profiles in preference order, and no MKI.
            extensions.append(
                Extension(ExtensionType.use_srtp, UseSrtp(self._srtp_profiles).encode())
            )
        return ClientHello(
            version=_DTLS_1_2,
            random=self._client_random,
            session_id=b"",
            cookie=cookie,
            cipher_suites=self._cipher_suites,
            compression_methods=b"\x00",
            extensions=tuple(extensions),
        )

    def _client_on_hello_verify_request(self, message: HelloVerifyRequest, now: float) -> State:
        assert self._client_hello is not None
        # RFC 6347 §4.2.1: send the same ClientHello again with the cookie. RFC 6347 §4.2.6:
        # neither the first ClientHello nor the HelloVerifyRequest enters the transcript.
        self._transcript.clear()
        self._client_hello = replace(self._client_hello, cookie=message.cookie)
        self._send_flight([self._handshake_message(self._client_hello)], now)
        return State.CLIENT_WAIT_SERVER_HELLO

    def _client_on_server_hello(self, message: ServerHello, now: float) -> State:
        """RFC 5246 §7.4.1.3: everything the server chose must be something we offered."""
        if message.version != _DTLS_1_2:
            raise HandshakeError(AlertDescription.protocol_version, "server is not DTLS 1.2")
        if message.cipher_suite not in self._cipher_suites:
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
        self._suite = CipherSuite(message.cipher_suite)
        self._server_random = message.random

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
        if not self._use_ems and self._require_ems:
            # RFC 7627 §5.2: a client that will not talk to legacy servers should abort when
            # the server does not use the extension; we do unless told otherwise.
            raise HandshakeError(AlertDescription.handshake_failure, "no extended master secret")
        formats = find_extension(message.extensions, ExtensionType.ec_point_formats)
        if formats is not None and ECPointFormat.uncompressed not in ext.decode_ec_point_formats(
            formats
        ):
            raise HandshakeError(AlertDescription.illegal_parameter, "no uncompressed points")
        self._srtp_profile = self._client_check_use_srtp(message.extensions)
        return State.CLIENT_WAIT_CERTIFICATE

    def _client_check_use_srtp(self, extensions: tuple[Extension, ...]) -> SrtpProfile | None:
        if not self._srtp_profiles:
            return None
        data = find_extension(extensions, ExtensionType.use_srtp)
        if data is None:
            # RFC 5764 §4.1.1 would let us fall back to plain DTLS; WebRTC media needs SRTP.
            raise HandshakeError(AlertDescription.handshake_failure, "server declined use_srtp")
        use_srtp = UseSrtp.decode(data)
        # RFC 5764 §4.1.1: exactly one of the profiles we offered; RFC 5764 §4.1.3: no MKI
        # unless we sent one (we never do).
        if len(use_srtp.profiles) != 1 or use_srtp.profiles[0] not in self._srtp_profiles:
            raise HandshakeError(AlertDescription.illegal_parameter, "bad SRTP profile choice")
        if use_srtp.mki:
            raise HandshakeError(AlertDescription.illegal_parameter, "server chose an MKI")
        return SrtpProfile(use_srtp.profiles[0])

    def _client_on_certificate(self, message: CertificateMessage, now: float) -> State:
        if not message.certificates:
            raise HandshakeError(AlertDescription.handshake_failure, "server sent no certificate")
        self._check_peer_certificate(message.certificates)
        if not scheme_fits_key(SignatureScheme.ecdsa_secp256r1_sha256, self._require_peer_key()):
            # RFC 8422 §5.3: ECDHE_ECDSA suites need an ECDSA-capable server certificate.
            raise HandshakeError(AlertDescription.unsupported_certificate, "not an ECDSA key")
        return State.CLIENT_WAIT_KEY_EXCHANGE

    def _client_on_server_key_exchange(self, message: ServerKeyExchange, now: float) -> State:
        if message.named_group not in SUPPORTED_GROUPS:
            # RFC 8422 §5.4: the server must pick one of the groups we listed.
            raise HandshakeError(AlertDescription.illegal_parameter, "group was not offered")
        if message.signature_scheme not in VERIFIABLE_SCHEMES:
            raise HandshakeError(AlertDescription.illegal_parameter, "scheme was not offered")
        # RFC 8422 §5.4: the signature covers both randoms and the server's ECDH parameters.
        signed = self._client_random + self._server_random + message.signed_params()
        if not verify_signature(
            self._require_peer_key(), message.signature_scheme, message.signature, signed
        ):
            raise HandshakeError(AlertDescription.decrypt_error, "ServerKeyExchange signature")
        self._peer_share = (NamedGroup(message.named_group), message.public_key)
        return State.CLIENT_WAIT_CERTIFICATE_REQUEST

    def _client_on_certificate_request(self, message: CertificateRequest, now: float) -> State:
        self._certificate_requested = message
        return State.CLIENT_WAIT_HELLO_DONE

    def _client_on_server_hello_done(self, message: ServerHelloDone, now: float) -> State:
        assert self._peer_share is not None
        flight: list[FlightMessage] = []
        request = self._certificate_requested
        # RFC 5246 §7.4.6: answer a CertificateRequest with our certificate if the server
        # accepts its type and our signature scheme, else with an empty one and let the
        # server decide.
        will_sign = request is not None and (
            ClientCertificateType.ecdsa_sign in request.certificate_types
            and self._certificate.signature_scheme in request.signature_schemes
        )
        if request is not None:
            chain = (self._certificate.der,) if will_sign else ()
            flight.append(self._handshake_message(CertificateMessage(chain)))
        group, server_public = self._peer_share
        self._key_share = KeyShare(group)
        pre_master_secret = self._key_share.exchange(server_public)
        flight.append(self._handshake_message(ClientKeyExchange(self._key_share.public_bytes)))
        self._derive_keys(pre_master_secret)
        if will_sign:
            # RFC 5246 §7.4.8: sign every handshake message so far, proving we hold the key.
            signature = self._certificate.sign(bytes(self._transcript))
            flight.append(
                self._handshake_message(
                    CertificateVerify(self._certificate.signature_scheme, signature)
                )
            )
        assert self._pending_write is not None
        flight.append(self._change_cipher_spec(self._pending_write))
        finished = self._finished(client=True, transcript=bytes(self._transcript))
        flight.append(self._handshake_message(Finished(finished)))
        self._send_flight(flight, now)
        return State.CLIENT_WAIT_CHANGE_CIPHER_SPEC

    def _client_on_finished(self, message: Finished, now: float) -> State:
        self._check_finished(message)
        self._flight = []  # nothing of ours is retransmitted after the server's Finished
        self._complete()
        return State.ESTABLISHED
