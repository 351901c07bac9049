"""The server's side of the DTLS handshake, read top to bottom in the order it happens.

Each ``_on_*`` method handles one message of the client's flights, in the order they
arrive, when the state table (:mod:`voice.dtls.state`) allows it, and returns the next state;
``HANDLERS`` at the end of the class lists them. The interesting part is
:meth:`ServerHandshake._negotiate`, where a ClientHello full of offers (a browser's lists
dozens of things, many of them DTLS 1.3 or unknown to us) is turned into the handful of
choices a WebRTC DTLS 1.2 server makes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import ClassVar

from voice.dtls import extensions as ext
from voice.dtls.certificate import (
    VERIFIABLE_SCHEMES,
    verify_signature,
)
from voice.dtls.cookie import cookie_is_valid, make_cookie
from voice.dtls.errors import HandshakeError
from voice.dtls.extensions import Extension, UseSrtp, find_extension
from voice.dtls.fragments import (
    HandshakeFragment,
)
from voice.dtls.handshake import Handler, Handshake
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
from voice.dtls.record import Record
from voice.dtls.registry import (
    AlertDescription,
    CipherSuite,
    ClientCertificateType,
    ContentType,
    ECPointFormat,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
)
from voice.dtls.state import DtlsState
from voice.srtp.profiles import SrtpProfile

_DTLS_1_2 = ProtocolVersion.DTLS_1_2

#: What a server asks of a client certificate (RFC 5246 §7.4.4): ECDSA (what browsers use)
#: or RSA, signed with any scheme we can verify.
_CERTIFICATE_TYPES = bytes([ClientCertificateType.ecdsa_sign, ClientCertificateType.rsa_sign])


class ServerHandshake(Handshake):
    """The DTLS server role: one handshake, from ClientHello to our Finished."""

    is_server = True
    INITIAL_STATE = DtlsState.SERVER_WAIT_CLIENT_HELLO
    #: RFC 5246 §7.4.1.1: a client asks to renegotiate by sending a new ClientHello.
    RENEGOTIATION = HandshakeType.client_hello

    def _on_client_hello(self, hello: ClientHello, now: float) -> DtlsState:
        secret = self.settings.cookie_secret
        if secret is not None and not cookie_is_valid(secret, hello):
            self._send_hello_verify_request(hello, secret)
            return DtlsState.SERVER_WAIT_CLIENT_HELLO
        # RFC 6347 §4.2.2: after a cookie exchange our message_seq continues from the one
        # the client used, so our ServerHello has the ClientHello's number.
        assert self._received is not None
        self._next_send_seq = self._received.message_seq
        self.client_random = hello.random
        self.server_random = os.urandom(32)
        self._negotiate(hello)
        assert self.suite is not None
        group = self._choose_group(hello.extensions)
        self._key_share = KeyShare(group)
        server_hello = ServerHello(
            version=_DTLS_1_2,
            random=self.server_random,
            session_id=b"",  # no session resumption: every WebRTC call is a fresh handshake
            cipher_suite=self.suite,
            compression_method=0,
            extensions=self._server_hello_extensions(hello),
        )
        unsigned = ServerKeyExchange(group, self._key_share.public_bytes, 0, b"")
        signed = self.client_random + self.server_random + unsigned.signed_params()
        key_exchange = replace(
            unsigned,
            signature_scheme=self.settings.certificate.signature_scheme,
            signature=self.settings.certificate.sign(signed),
        )
        flight = [
            self._handshake_message(server_hello),
            self._handshake_message(CertificateMessage((self.settings.certificate.der,))),
            self._handshake_message(key_exchange),
            # WebRTC authenticates both ends (RFC 8122 §5), so the client must present its
            # certificate.
            self._handshake_message(CertificateRequest(_CERTIFICATE_TYPES, VERIFIABLE_SCHEMES)),
            self._handshake_message(ServerHelloDone()),
        ]
        self._send_flight(flight, now)
        return DtlsState.SERVER_WAIT_CERTIFICATE

    def _send_hello_verify_request(self, hello: ClientHello, secret: bytes) -> None:
        """Answers statelessly (RFC 6347 §4.2.1): nothing about this hello is kept."""
        received = self._received
        assert received is not None
        self._counters["hello_verify_request"] += 1
        self._transcript.clear()
        seq = received.message_seq
        body = HelloVerifyRequest(ProtocolVersion.DTLS_1_0, make_cookie(secret, hello)).encode()
        fragment = HandshakeFragment(HandshakeType.hello_verify_request, len(body), seq, 0, body)
        # RFC 6347 §4.2.1: reuse the ClientHello's record sequence number, since a
        # stateless server has no counter of its own to take one from.
        record = Record(
            ContentType.handshake,
            ProtocolVersion.DTLS_1_0,
            0,
            received.record_sequence,
            fragment.encode(),
        )
        self._outgoing.append(record.encode())

    def _negotiate(self, hello: ClientHello) -> None:
        """Chooses what the ServerHello will say, or raises the alert RFC 5246 expects."""
        # RFC 6347 §4.1: versions count down, so a client_version above 1.2 means older.
        if hello.version > _DTLS_1_2:
            raise HandshakeError(AlertDescription.protocol_version, "client lacks DTLS 1.2")
        suite = next((s for s in self.settings.cipher_suites if s in hello.cipher_suites), None)
        if suite is None:
            raise HandshakeError(AlertDescription.handshake_failure, "no cipher suite in common")
        self.suite = suite
        if 0 not in hello.compression_methods:
            raise HandshakeError(AlertDescription.illegal_parameter, "null compression missing")
        extensions = hello.extensions

        renegotiation_info = find_extension(extensions, ExtensionType.renegotiation_info)
        # RFC 5746 §3.6: on an initial handshake the client's renegotiation_info is empty.
        if renegotiation_info is not None and ext.decode_renegotiation_info(renegotiation_info):
            raise HandshakeError(AlertDescription.handshake_failure, "renegotiation_info not empty")

        ems = find_extension(extensions, ExtensionType.extended_master_secret)
        if ems is not None:
            ext.decode_extended_master_secret(ems)
        # RFC 7627 §5.2: use the extended master secret whenever the client offers it.
        self._use_ems = ems is not None
        if not self._use_ems and self.settings.require_extended_master_secret:
            raise HandshakeError(AlertDescription.handshake_failure, "no extended master secret")

        formats = find_extension(extensions, ExtensionType.ec_point_formats)
        # RFC 8422 §5.1.2: a client listing point formats must include uncompressed.
        if formats is not None and ECPointFormat.uncompressed not in ext.decode_ec_point_formats(
            formats
        ):
            raise HandshakeError(AlertDescription.illegal_parameter, "no uncompressed points")

        schemes = find_extension(extensions, ExtensionType.signature_algorithms)
        # RFC 5246 §7.4.1.4.1: without the extension the client accepts only SHA-1, which we
        # do not sign with; with it, our scheme must be listed.
        if schemes is None or self.settings.certificate.signature_scheme not in (
            ext.decode_signature_algorithms(schemes)
        ):
            raise HandshakeError(AlertDescription.handshake_failure, "cannot sign for client")

        self.srtp_profile = self._choose_srtp(extensions)

    def _choose_group(self, extensions: tuple[Extension, ...]) -> NamedGroup:
        data = find_extension(extensions, ExtensionType.supported_groups)
        if data is None:
            # RFC 8422 §4: without the extension the curve is the server's choice; P-256 is
            # the one every client has.
            return NamedGroup.secp256r1
        theirs = ext.decode_supported_groups(data)
        for group in SUPPORTED_GROUPS:
            if group in theirs:
                return group
        raise HandshakeError(AlertDescription.handshake_failure, "no ECDHE group in common")

    def _choose_srtp(self, extensions: tuple[Extension, ...]) -> SrtpProfile | None:
        if not self.settings.srtp_profiles:
            return None
        data = find_extension(extensions, ExtensionType.use_srtp)
        if data is None:
            raise HandshakeError(AlertDescription.handshake_failure, "client did not offer SRTP")
        offered = UseSrtp.decode(data).profiles
        # RFC 5764 §4.1.1: the server picks one of the client's profiles; we take the first
        # of *our* preference order that the client listed.
        for profile in self.settings.srtp_profiles:
            if profile in offered:
                return profile
        raise HandshakeError(AlertDescription.handshake_failure, "no SRTP profile in common")

    def _server_hello_extensions(self, hello: ClientHello) -> tuple[Extension, ...]:
        offered = {e.type for e in hello.extensions}
        out: list[Extension] = []
        # RFC 5746 §3.6: confirm secure renegotiation if the client signalled it either way.
        if (
            ExtensionType.renegotiation_info in offered
            or CipherSuite.TLS_EMPTY_RENEGOTIATION_INFO_SCSV in hello.cipher_suites
        ):
            out.append(Extension(ExtensionType.renegotiation_info, ext.encode_renegotiation_info()))
        if self._use_ems:
            out.append(Extension(ExtensionType.extended_master_secret, b""))
        if ExtensionType.ec_point_formats in offered:
            out.append(
                Extension(
                    ExtensionType.ec_point_formats,
                    ext.encode_ec_point_formats([ECPointFormat.uncompressed]),
                )
            )
        if self.srtp_profile is not None:
            # RFC 5764 §4.1.1: one profile; RFC 5764 §4.1.3: an empty MKI (we use none).
            out.append(Extension(ExtensionType.use_srtp, UseSrtp((self.srtp_profile,)).encode()))
        return tuple(out)

    def _on_certificate(self, message: CertificateMessage, now: float) -> DtlsState:
        if message.certificates:
            self._check_peer_certificate(message.certificates)
        elif self.settings.remote_fingerprints is not None:
            # RFC 5246 §7.4.6: a server that needs a client certificate may abort without one.
            raise HandshakeError(AlertDescription.handshake_failure, "client sent no certificate")
        return DtlsState.SERVER_WAIT_KEY_EXCHANGE

    def _on_client_key_exchange(self, message: ClientKeyExchange, now: float) -> DtlsState:
        assert self._key_share is not None
        self._derive_keys(self._key_share.exchange(message.public_key))
        if self._peer_key is None:
            return DtlsState.SERVER_WAIT_CHANGE_CIPHER_SPEC
        return DtlsState.SERVER_WAIT_CERTIFICATE_VERIFY

    def _on_certificate_verify(self, message: CertificateVerify, now: float) -> DtlsState:
        if message.signature_scheme not in VERIFIABLE_SCHEMES:
            # RFC 5246 §7.4.8: the scheme must be one the CertificateRequest listed.
            raise HandshakeError(AlertDescription.illegal_parameter, "scheme was not offered")
        signed = bytes(self._transcript[: self._transcript_before])
        if not verify_signature(
            self._require_peer_key(), message.signature_scheme, message.signature, signed
        ):
            raise HandshakeError(AlertDescription.decrypt_error, "CertificateVerify signature")
        return DtlsState.SERVER_WAIT_CHANGE_CIPHER_SPEC

    def _on_finished(self, message: Finished, now: float) -> DtlsState:
        self._check_finished(message)
        ccs = self._change_cipher_spec()
        finished = self._finished(client=False, transcript=bytes(self._transcript))
        self._send_flight([ccs, self._handshake_message(Finished(finished))], now, last=True)
        return DtlsState.ESTABLISHED

    # The state table decides whether a message may come; this says who handles it.
    HANDLERS: ClassVar[Mapping[HandshakeType, Handler]] = {
        HandshakeType.client_hello: _on_client_hello,
        HandshakeType.certificate: _on_certificate,
        HandshakeType.client_key_exchange: _on_client_key_exchange,
        HandshakeType.certificate_verify: _on_certificate_verify,
        HandshakeType.finished: _on_finished,
    }
