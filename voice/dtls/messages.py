"""Handshake message bodies: parse and serialize, nothing else.

Each class is a frozen dataclass with ``parse(body)`` and ``encode()``. The 12-byte DTLS
handshake header (type, length, message_seq, fragment offset and length) belongs to the
handshake layer in :mod:`voice.dtls.fragments`; the bodies here are the TLS 1.2 structures of
RFC 5246 §7.4, the elliptic-curve ones of RFC 8422 §5, and HelloVerifyRequest from RFC 6347.

Parsing is strict: every length must add up and nothing may trail a message, because a lax
parser is where two implementations start to disagree about what was signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from voice.buffer import Buffer, BufferReadError, Writer
from voice.dtls.errors import DtlsParseError
from voice.dtls.extensions import Extension, encode_extension_block, parse_extension_block
from voice.dtls.registry import ECCurveType, HandshakeType

RANDOM_LENGTH = 32


def _reader(body: bytes, what: str) -> Buffer:
    return Buffer(body)


def _finish(buf: Buffer, what: str) -> None:
    if not buf.eof():
        raise DtlsParseError(f"{what} has trailing bytes")


class _Message:
    msg_type: ClassVar[HandshakeType]

    @classmethod
    def parse(cls, body: bytes) -> Self:
        """Parses a message body; raises only :class:`DtlsParseError`."""
        buf = Buffer(body)
        try:
            msg = cls._read(buf)
        except BufferReadError as exc:
            raise DtlsParseError(f"truncated {cls.msg_type.name}: {exc}") from exc
        _finish(buf, cls.msg_type.name)
        return msg

    @classmethod
    def _read(cls, buf: Buffer) -> Self:
        raise NotImplementedError

    def encode(self) -> bytes:
        w = Writer()
        self._write(w)
        return w.getvalue()

    def _write(self, w: Writer) -> None:
        raise NotImplementedError


def _pull_uint16_list(buf: Buffer, what: str, *, min_items: int) -> tuple[int, ...]:
    inner = buf.sub_buffer(buf.pull_uint16())
    if inner.remaining % 2 or inner.remaining < 2 * min_items:
        raise DtlsParseError(f"bad length of {what}")
    return tuple(inner.pull_uint16() for _ in range(inner.remaining // 2))


@dataclass(frozen=True, slots=True)
class HelloRequest(_Message):
    msg_type: ClassVar[HandshakeType] = HandshakeType.hello_request

    @classmethod
    def _read(cls, buf: Buffer) -> Self:
        return cls()

    def _write(self, w: Writer) -> None:
        pass


@dataclass(frozen=True, slots=True)
class ClientHello(_Message):
    """RFC 6347 §4.2.1 adds the cookie field to TLS 1.2's ClientHello (RFC 5246 §7.4.1.2)."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.client_hello
    version: int
    random: bytes
    session_id: bytes
    cookie: bytes
    cipher_suites: tuple[int, ...]
    compression_methods: bytes
    extensions: tuple[Extension, ...]

    @classmethod
    def _read(cls, buf: Buffer) -> Self:
        version = buf.pull_uint16()
        random = buf.pull_bytes(RANDOM_LENGTH)
        session_id = buf.pull_vector(1)
        if len(session_id) > 32:
            raise DtlsParseError("session_id longer than 32 bytes")
        cookie = buf.pull_vector(1)
        suites = _pull_uint16_list(buf, "cipher_suites", min_items=1)
        compression = buf.pull_vector(1)
        if not compression:
            raise DtlsParseError("no compression methods")
        extensions = parse_extension_block(buf)
        return cls(version, random, session_id, cookie, suites, compression, extensions)

    def _write(self, w: Writer) -> None:
        w.push_uint16(self.version)
        w.push_bytes(self.random)
        w.push_vector(1, self.session_id)
        w.push_vector(1, self.cookie)
        with w.vector(2):
            for suite in self.cipher_suites:
                w.push_uint16(suite)
        w.push_vector(1, self.compression_methods)
        encode_extension_block(w, self.extensions)


@dataclass(frozen=True, slots=True)
class ServerHello(_Message):
    msg_type: ClassVar[HandshakeType] = HandshakeType.server_hello
    version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: tuple[Extension, ...]

    @classmethod
    def _read(cls, buf: Buffer) -> Self:
        version = buf.pull_uint16()
        random = buf.pull_bytes(RANDOM_LENGTH)
        session_id = buf.pull_vector(1)
        if len(session_id) > 32:
            raise DtlsParseError("session_id longer than 32 bytes")
        suite = buf.pull_uint16()
        compression = buf.pull_uint8()
        extensions = parse_extension_block(buf)
        return cls(version, random, session_id, suite, compression, extensions)

    def _write(self, w: Writer) -> None:
        w.push_uint16(self.version)
        w.push_bytes(self.random)
        w.push_vector(1, self.session_id)
        w.push_uint16(self.cipher_suite)
        w.push_uint8(self.compression_method)
        encode_extension_block(w, self.extensions)


@dataclass(frozen=True, slots=True)
class HelloVerifyRequest(_Message):
    """RFC 6347 §4.2.1: the server's stateless cookie challenge."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.hello_verify_request
    version: int
    cookie: bytes

    @classmethod
    def _read(cls, buf: Buffer) -> Self:
        return cls(buf.pull_uint16(), buf.pull_vector(1))

    def _write(self, w: Writer) -> None:
        w.push_uint16(self.version)
        w.push_vector(1, self.cookie)


@dataclass(frozen=True, slots=True)
class Certificate(_Message):
    """RFC 5246 §7.4.2: a chain of DER certificates, the sender's own first; may be empty
    when a client has no certificate to offer."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.certificate
    certificates: tuple[bytes, ...]

    @classmethod
    def _read(cls, buf: Buffer) -> Self:
        chain = buf.sub_buffer(buf.pull_uint24())
        certs: list[bytes] = []
        while not chain.eof():
            der = chain.pull_vector(3)
            if not der:
                raise DtlsParseError("empty certificate in the chain")
            certs.append(der)
        return cls(tuple(certs))

    def _write(self, w: Writer) -> None:
        with w.vector(3):
            for der in self.certificates:
                w.push_vector(3, der)


@dataclass(frozen=True, slots=True)
class ServerKeyExchange(_Message):
    """RFC 8422 §5.4: the server's ephemeral ECDH share on a named curve, signed."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.server_key_exchange
    named_group: int
    public_key: bytes
    signature_scheme: int
    signature: bytes

    @classmethod
    def _read(cls, buf: Buffer) -> Self:
        if buf.pull_uint8() != ECCurveType.named_curve:
            # RFC 8422 §5.4: explicit curves are deprecated; only named curves are defined.
            raise DtlsParseError("only named curves are supported")
        group = buf.pull_uint16()
        public = buf.pull_vector(1)
        if not public:
            raise DtlsParseError("empty ECDH share")
        scheme = buf.pull_uint16()
        signature = buf.pull_vector(2)
        return cls(group, public, scheme, signature)

    def signed_params(self) -> bytes:
        """The ServerECDHParams bytes, which the signature covers after the two randoms."""
        return (
            bytes([ECCurveType.named_curve])
            + self.named_group.to_bytes(2, "big")
            + bytes([len(self.public_key)])
            + self.public_key
        )

    def _write(self, w: Writer) -> None:
        w.push_bytes(self.signed_params())
        w.push_uint16(self.signature_scheme)
        w.push_vector(2, self.signature)


@dataclass(frozen=True, slots=True)
class CertificateRequest(_Message):
    """RFC 5246 §7.4.4: which certificate types and signature algorithms the server accepts."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.certificate_request
    certificate_types: bytes
    signature_schemes: tuple[int, ...]
    authorities: bytes = b""

    @classmethod
    def _read(cls, buf: Buffer) -> Self:
        types = buf.pull_vector(1)
        if not types:
            raise DtlsParseError("no certificate types")
        schemes = _pull_uint16_list(buf, "supported_signature_algorithms", min_items=1)
        authorities = buf.pull_vector(2)  # DistinguishedNames; WebRTC never uses them
        return cls(types, schemes, authorities)

    def _write(self, w: Writer) -> None:
        w.push_vector(1, self.certificate_types)
        with w.vector(2):
            for scheme in self.signature_schemes:
                w.push_uint16(scheme)
        w.push_vector(2, self.authorities)


@dataclass(frozen=True, slots=True)
class ServerHelloDone(_Message):
    msg_type: ClassVar[HandshakeType] = HandshakeType.server_hello_done

    @classmethod
    def _read(cls, buf: Buffer) -> Self:
        return cls()

    def _write(self, w: Writer) -> None:
        pass


@dataclass(frozen=True, slots=True)
class ClientKeyExchange(_Message):
    """RFC 8422 §5.7: the client's ephemeral ECDH share."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.client_key_exchange
    public_key: bytes

    @classmethod
    def _read(cls, buf: Buffer) -> Self:
        public = buf.pull_vector(1)
        if not public:
            raise DtlsParseError("empty ECDH share")
        return cls(public)

    def _write(self, w: Writer) -> None:
        w.push_vector(1, self.public_key)


@dataclass(frozen=True, slots=True)
class CertificateVerify(_Message):
    """RFC 5246 §7.4.8: the client's signature over the handshake so far."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.certificate_verify
    signature_scheme: int
    signature: bytes

    @classmethod
    def _read(cls, buf: Buffer) -> Self:
        return cls(buf.pull_uint16(), buf.pull_vector(2))

    def _write(self, w: Writer) -> None:
        w.push_uint16(self.signature_scheme)
        w.push_vector(2, self.signature)


@dataclass(frozen=True, slots=True)
class Finished(_Message):
    """RFC 5246 §7.4.9: verify_data, 12 bytes for every suite we implement."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.finished
    verify_data: bytes

    @classmethod
    def _read(cls, buf: Buffer) -> Self:
        return cls(buf.pull_rest())

    def _write(self, w: Writer) -> None:
        w.push_bytes(self.verify_data)


Message = (
    HelloRequest
    | ClientHello
    | ServerHello
    | HelloVerifyRequest
    | Certificate
    | ServerKeyExchange
    | CertificateRequest
    | ServerHelloDone
    | ClientKeyExchange
    | CertificateVerify
    | Finished
)

MESSAGE_CLASSES: dict[int, type[Message]] = {
    cls.msg_type: cls
    for cls in (
        HelloRequest,
        ClientHello,
        ServerHello,
        HelloVerifyRequest,
        Certificate,
        ServerKeyExchange,
        CertificateRequest,
        ServerHelloDone,
        ClientKeyExchange,
        CertificateVerify,
        Finished,
    )
}


def parse_message(msg_type: int, body: bytes) -> Message:
    """Parses a reassembled handshake message body of the given type."""
    cls = MESSAGE_CLASSES.get(msg_type)
    if cls is None:
        raise DtlsParseError(f"unknown handshake message type {msg_type}")
    return cls.parse(body)
