"""STUN attributes as frozen dataclasses, each able to decode and encode its own value.

An attribute on the wire is a type-length-value record (RFC 8489 §14): a 16-bit type, a
16-bit length of the value *before* padding, the value, then zero to three bytes of padding
up to the next multiple of four. The framing (type, length, padding) belongs to
:mod:`voice.stun.message`; this module only turns values into objects and back.

Every class has a ``TYPE`` (an :class:`~voice.stun.registry.AttributeType`), a classmethod
``decode(value, transaction_id)`` that raises :class:`~voice.stun.errors.StunParseError` on a
value that does not fit its definition, and ``encode_value(transaction_id)``. The transaction
id is needed only by XOR-MAPPED-ADDRESS, whose IPv6 form is XORed with it.

MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT appear here as parsed values;
they are computed by :meth:`voice.stun.message.Message.encode`, never built by hand.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Self

from voice.stun.errors import StunParseError, StunUsageError
from voice.stun.registry import MAGIC_COOKIE, AttributeType

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_ADDRESS_HEAD = struct.Struct("!xBH")  # reserved byte, family, port

_FAMILY_IPV4 = 0x01
_FAMILY_IPV6 = 0x02
_COOKIE_BYTES = _U32.pack(MAGIC_COOKIE)


class Attribute:
    """Base of every attribute class: ``TYPE`` names it on the wire."""

    __slots__ = ()
    TYPE: ClassVar[int]

    @property
    def type(self) -> int:
        return self.TYPE

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        raise NotImplementedError

    def encode_value(self, transaction_id: bytes) -> bytes:
        raise NotImplementedError


# --- addresses ------------------------------------------------------------------------------


def _decode_address(value: bytes, mask: bytes | None) -> tuple[str, int]:
    """Reads the family/port/address layout shared by (XOR-)MAPPED-ADDRESS.

    With ``mask`` (the cookie followed by the transaction id) the port and address are
    unmasked as XOR-MAPPED-ADDRESS requires (RFC 8489 §14.2).
    """
    if len(value) < 4:
        raise StunParseError("address attribute shorter than 4 bytes")
    family, port = _ADDRESS_HEAD.unpack_from(value)
    raw = value[4:]
    if family == _FAMILY_IPV4 and len(raw) == 4:
        af = socket.AF_INET
    elif family == _FAMILY_IPV6 and len(raw) == 16:
        af = socket.AF_INET6
    else:
        raise StunParseError(f"address family {family} with {len(raw)} address bytes")
    if mask is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = (int.from_bytes(raw, "big") ^ int.from_bytes(mask[: len(raw)], "big")).to_bytes(
            len(raw), "big"
        )
    return socket.inet_ntop(af, raw), port


def _encode_address(host: str, port: int, mask: bytes | None) -> bytes:
    if not 0 <= port <= 0xFFFF:
        raise StunUsageError(f"port {port} out of range")
    try:
        if ":" in host:
            family, raw = _FAMILY_IPV6, socket.inet_pton(socket.AF_INET6, host)
        else:
            family, raw = _FAMILY_IPV4, socket.inet_pton(socket.AF_INET, host)
    except (OSError, ValueError) as exc:
        raise StunUsageError(f"{host!r} is not an IP address literal") from exc
    if mask is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = (int.from_bytes(raw, "big") ^ int.from_bytes(mask[: len(raw)], "big")).to_bytes(
            len(raw), "big"
        )
    return _ADDRESS_HEAD.pack(family, port) + raw


@dataclass(frozen=True, slots=True)
class MappedAddress(Attribute):
    """MAPPED-ADDRESS (RFC 8489 §14.1): the reflexive address in the clear.

    Kept for old (RFC 3489) peers; ICE uses :class:`XorMappedAddress`.
    """

    TYPE: ClassVar[int] = AttributeType.MAPPED_ADDRESS
    host: str
    port: int

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        return cls(*_decode_address(value, None))

    def encode_value(self, transaction_id: bytes) -> bytes:
        return _encode_address(self.host, self.port, None)


@dataclass(frozen=True, slots=True)
class XorMappedAddress(Attribute):
    """XOR-MAPPED-ADDRESS (RFC 8489 §14.2): the reflexive address, XORed.

    The port is XORed with the top 16 bits of the magic cookie, an IPv4 address with the
    cookie, an IPv6 address with the cookie followed by the transaction id. The point is
    that NATs which rewrite any copy of the public address they find in a payload cannot
    recognise this one.
    """

    TYPE: ClassVar[int] = AttributeType.XOR_MAPPED_ADDRESS
    host: str
    port: int

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        return cls(*_decode_address(value, _COOKIE_BYTES + transaction_id))

    def encode_value(self, transaction_id: bytes) -> bytes:
        return _encode_address(self.host, self.port, _COOKIE_BYTES + transaction_id)


# --- text -----------------------------------------------------------------------------------


def _utf8(value: bytes, what: str, max_bytes: int) -> str:
    if len(value) > max_bytes:
        raise StunParseError(f"{what} longer than {max_bytes} bytes")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StunParseError(f"{what} is not UTF-8") from exc


@dataclass(frozen=True, slots=True)
class Username(Attribute):
    """USERNAME (RFC 8489 §14.3): UTF-8, fewer than 509 bytes.

    ICE puts "receiver-ufrag:sender-ufrag" here (RFC 8445 §7.2.2). A receiver still takes
    up to 763 bytes, the RFC 5389 limit, as RFC 8489 §14.3 requires; we never send more
    than 508.
    """

    TYPE: ClassVar[int] = AttributeType.USERNAME
    value: str

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        return cls(_utf8(value, "USERNAME", 763))

    def encode_value(self, transaction_id: bytes) -> bytes:
        data = self.value.encode("utf-8")
        if len(data) > 508:
            raise StunUsageError(f"USERNAME of {len(data)} bytes; at most 508 are sent")
        return data


@dataclass(frozen=True, slots=True)
class Realm(Attribute):
    """REALM (RFC 8489 §14.9): names the long-term credential domain."""

    TYPE: ClassVar[int] = AttributeType.REALM
    value: str

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        return cls(_utf8(value, "REALM", 763))

    def encode_value(self, transaction_id: bytes) -> bytes:
        return self.value.encode("utf-8")


@dataclass(frozen=True, slots=True)
class Nonce(Attribute):
    """NONCE (RFC 8489 §14.10): a server-chosen value for long-term credentials."""

    TYPE: ClassVar[int] = AttributeType.NONCE
    value: str

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        return cls(_utf8(value, "NONCE", 763))

    def encode_value(self, transaction_id: bytes) -> bytes:
        return self.value.encode("utf-8")


@dataclass(frozen=True, slots=True)
class Software(Attribute):
    """SOFTWARE (RFC 8489 §14.14): a free-text product name, informational only.

    Undecodable bytes are replaced rather than rejected: nothing depends on this text.
    """

    TYPE: ClassVar[int] = AttributeType.SOFTWARE
    value: str

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        return cls(value.decode("utf-8", "replace"))

    def encode_value(self, transaction_id: bytes) -> bytes:
        return self.value.encode("utf-8")


# --- errors ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorCodeAttribute(Attribute):
    """ERROR-CODE (RFC 8489 §14.8): a code 300-699 and a reason phrase.

    On the wire the hundreds digit (the class, 3 to 6) and the rest (0 to 99) sit in
    separate fields after 21 reserved bits.
    """

    TYPE: ClassVar[int] = AttributeType.ERROR_CODE
    code: int
    reason: str = ""

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if len(value) < 4:
            raise StunParseError("ERROR-CODE shorter than 4 bytes")
        klass, number = value[2] & 0x07, value[3]
        if not 3 <= klass <= 6 or number > 99:
            raise StunParseError(f"ERROR-CODE class {klass} number {number} out of range")
        return cls(klass * 100 + number, value[4:].decode("utf-8", "replace"))

    def encode_value(self, transaction_id: bytes) -> bytes:
        if not 300 <= self.code <= 699:
            raise StunUsageError(f"error code {self.code} outside 300-699")
        return bytes((0, 0, self.code // 100, self.code % 100)) + self.reason.encode("utf-8")


@dataclass(frozen=True, slots=True)
class UnknownAttributes(Attribute):
    """UNKNOWN-ATTRIBUTES (RFC 8489 §14.13): the types a 420 response did not understand."""

    TYPE: ClassVar[int] = AttributeType.UNKNOWN_ATTRIBUTES
    types: tuple[int, ...]

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if len(value) % 2:
            raise StunParseError("UNKNOWN-ATTRIBUTES length is odd")
        return cls(tuple(t for (t,) in _U16.iter_unpack(value)))

    def encode_value(self, transaction_id: bytes) -> bytes:
        return b"".join(_U16.pack(t) for t in self.types)


# --- integrity and fingerprint (values only; computed by Message.encode) --------------------


@dataclass(frozen=True, slots=True)
class MessageIntegrity(Attribute):
    """MESSAGE-INTEGRITY (RFC 8489 §14.5): a 20-byte HMAC-SHA1."""

    TYPE: ClassVar[int] = AttributeType.MESSAGE_INTEGRITY
    mac: bytes

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if len(value) != 20:
            raise StunParseError("MESSAGE-INTEGRITY is not 20 bytes")
        return cls(value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mac=bytes.fromhex({self.mac.hex()!r}))"

    def encode_value(self, transaction_id: bytes) -> bytes:
        return self.mac


@dataclass(frozen=True, slots=True)
class MessageIntegritySha256(Attribute):
    """MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6): an HMAC-SHA256, possibly truncated.

    The sender may keep only the first 16, 20, 24, 28 or 32 bytes.
    """

    TYPE: ClassVar[int] = AttributeType.MESSAGE_INTEGRITY_SHA256
    mac: bytes

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if not 16 <= len(value) <= 32 or len(value) % 4:
            raise StunParseError("MESSAGE-INTEGRITY-SHA256 length not in 16..32 step 4")
        return cls(value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mac=bytes.fromhex({self.mac.hex()!r}))"

    def encode_value(self, transaction_id: bytes) -> bytes:
        return self.mac


@dataclass(frozen=True, slots=True)
class Fingerprint(Attribute):
    """FINGERPRINT (RFC 8489 §14.7): CRC-32 of the message so far, XOR 0x5354554e."""

    TYPE: ClassVar[int] = AttributeType.FINGERPRINT
    crc: int

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if len(value) != 4:
            raise StunParseError("FINGERPRINT is not 4 bytes")
        return cls(_U32.unpack(value)[0])

    def encode_value(self, transaction_id: bytes) -> bytes:
        return _U32.pack(self.crc)

    def __repr__(self) -> str:
        return f"Fingerprint(crc=0x{self.crc:08x})"


# --- ICE (RFC 8445 §7.1, §16.1) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Priority(Attribute):
    """PRIORITY (RFC 8445 §7.1.1): the priority a peer-reflexive candidate learned from this
    check would get; 32 bits."""

    TYPE: ClassVar[int] = AttributeType.PRIORITY
    value: int

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if len(value) != 4:
            raise StunParseError("PRIORITY is not 4 bytes")
        return cls(_U32.unpack(value)[0])

    def encode_value(self, transaction_id: bytes) -> bytes:
        return _U32.pack(self.value)


@dataclass(frozen=True, slots=True)
class UseCandidate(Attribute):
    """USE-CANDIDATE (RFC 8445 §7.1.2): the controlling agent nominates this pair; no value."""

    TYPE: ClassVar[int] = AttributeType.USE_CANDIDATE

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if value:
            raise StunParseError("USE-CANDIDATE carries a value")
        return cls()

    def encode_value(self, transaction_id: bytes) -> bytes:
        return b""


@dataclass(frozen=True, slots=True)
class IceControlled(Attribute):
    """ICE-CONTROLLED (RFC 8445 §7.1.3): the sender believes it is controlled; its 64-bit
    tie-breaker."""

    TYPE: ClassVar[int] = AttributeType.ICE_CONTROLLED
    tie_breaker: int

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if len(value) != 8:
            raise StunParseError("ICE-CONTROLLED is not 8 bytes")
        return cls(_U64.unpack(value)[0])

    def encode_value(self, transaction_id: bytes) -> bytes:
        return _U64.pack(self.tie_breaker)


@dataclass(frozen=True, slots=True)
class IceControlling(Attribute):
    """ICE-CONTROLLING (RFC 8445 §7.1.3): the sender believes it is controlling; its 64-bit
    tie-breaker."""

    TYPE: ClassVar[int] = AttributeType.ICE_CONTROLLING
    tie_breaker: int

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if len(value) != 8:
            raise StunParseError("ICE-CONTROLLING is not 8 bytes")
        return cls(_U64.unpack(value)[0])

    def encode_value(self, transaction_id: bytes) -> bytes:
        return _U64.pack(self.tie_breaker)


# --- anything else --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnknownAttribute(Attribute):
    """An attribute type this module does not interpret, kept as raw bytes.

    Its type decides what a receiver must do (RFC 8489 §14): below 0x8000 it is
    comprehension-required and a request carrying it is answered with 420.
    """

    TYPE: ClassVar[int] = -1
    attr_type: int
    value: bytes

    @property
    def type(self) -> int:
        return self.attr_type

    @property
    def comprehension_required(self) -> bool:
        return self.attr_type < 0x8000

    def encode_value(self, transaction_id: bytes) -> bytes:
        return self.value


#: The decoder for each attribute type we understand.
DECODERS: dict[int, Callable[[bytes, bytes], Attribute]] = {
    cls.TYPE: cls.decode
    for cls in (
        MappedAddress,
        XorMappedAddress,
        Username,
        Realm,
        Nonce,
        Software,
        ErrorCodeAttribute,
        UnknownAttributes,
        MessageIntegrity,
        MessageIntegritySha256,
        Fingerprint,
        Priority,
        UseCandidate,
        IceControlled,
        IceControlling,
    )
}
