"""STUN messages: the 20-byte header, the attribute list, integrity and fingerprint.

Reading and writing are mirror images:

* :func:`parse_message` checks the framing (header, lengths, padding, FINGERPRINT), decodes
  every attribute it knows and keeps the raw bytes, so that the MESSAGE-INTEGRITY can be
  verified later with whichever key the caller picks from the USERNAME;
* :meth:`Message.encode` writes the attributes and then, on request, appends
  MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT in the order RFC 8489 fixes.

Integrity is checked with :func:`hmac.compare_digest`, whose running time does not depend on
where the first wrong byte is, so a forger cannot learn the MAC a byte at a time.
"""

from __future__ import annotations

import hmac
import os
import struct
import zlib
from dataclasses import dataclass, field, fields
from typing import TypeVar

from voice.stun.attributes import (
    DECODERS,
    Attribute,
    Fingerprint,
    MappedAddress,
    MessageIntegrity,
    MessageIntegritySha256,
    UnknownAttribute,
    XorMappedAddress,
)
from voice.stun.errors import StunParseError, StunUsageError
from voice.stun.registry import (
    FINGERPRINT_XOR,
    HEADER_SIZE,
    MAGIC_COOKIE,
    AttributeType,
    MessageClass,
    Method,
)

_HEADER = struct.Struct("!HHI")
_TLV = struct.Struct("!HH")
_U16 = struct.Struct("!H")
_FINGERPRINT_TLV = _TLV.pack(AttributeType.FINGERPRINT, 4)
_INTEGRITY_TLV = _TLV.pack(AttributeType.MESSAGE_INTEGRITY, 20)

# Plain ints for the hot loop: comparing with an IntEnum member costs an attribute lookup.
_FINGERPRINT = int(AttributeType.FINGERPRINT)
_INTEGRITY = int(AttributeType.MESSAGE_INTEGRITY)
_INTEGRITY_SHA256 = int(AttributeType.MESSAGE_INTEGRITY_SHA256)
_METHODS: dict[int, int] = {int(m): m for m in Method}
_CLASSES = tuple(MessageClass)

A = TypeVar("A", bound=Attribute)


def new_transaction_id() -> bytes:
    """A fresh 96-bit transaction id from the OS's CSPRNG (RFC 8489 §5).

    Randomness matters: an off-path attacker who can guess the id can forge a response.
    """
    return os.urandom(12)


# RFC 8489 §5: the 14-bit message type interleaves the 12 method bits (M11..M0) with the two
# class bits (C1, C0) as M11-M7 C1 M6-M4 C0 M3-M0, so that old and new methods and classes
# line up with the RFC 3489 numbering.
def message_type(method: int, message_class: MessageClass) -> int:
    """Packs a method and a class into the 14-bit message type (RFC 8489 §5)."""
    if not 0 <= method <= 0xFFF:
        raise StunUsageError(f"method {method:#x} does not fit 12 bits")
    return (
        (method & 0xF80) << 2
        | (method & 0x070) << 1
        | (method & 0x00F)
        | (message_class & 0b10) << 7
        | (message_class & 0b01) << 4
    )


def split_message_type(value: int) -> tuple[int, MessageClass]:
    """Unpacks a 14-bit message type into (method, class) (RFC 8489 §5)."""
    method = (value & 0x3E00) >> 2 | (value & 0x00E0) >> 1 | (value & 0x000F)
    return method, _CLASSES[(value & 0x0100) >> 7 | (value & 0x0010) >> 4]


@dataclass(frozen=True, slots=True)
class Message:
    """One STUN message.

    ``method`` is a :class:`~voice.stun.registry.Method` when we know it, else a plain int.
    ``attributes`` keeps the wire order; several attributes of one type may appear, and
    :meth:`get` returns the first, which is the only one a receiver has to look at
    (RFC 8489 §14).

    A parsed message also carries ``raw`` (the datagram) and the offsets of its integrity
    attributes, which :meth:`check_integrity` needs; they take no part in equality.
    """

    message_class: MessageClass
    method: int
    transaction_id: bytes
    attributes: tuple[Attribute, ...] = ()
    raw: bytes = field(default=b"", repr=False, compare=False)
    integrity_offset: int | None = field(default=None, repr=False, compare=False)
    integrity_sha256_offset: int | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        """Method, class, transaction id and the attributes by name, as a learner reads them::

        >>> from voice.stun import Message, MessageClass, Method, Username
        >>> Message(MessageClass.REQUEST, Method.BINDING, bytes(range(12)),
        ...         (Username("srv:cli"),))
        <STUN Binding request tid=000102030405060708090a0b USERNAME='srv:cli'>
        """
        try:
            method = Method(self.method).name.title()
        except ValueError:
            method = f"method 0x{self.method:03x}"
        klass = self.message_class.name.lower().replace("_", " ")
        parts = [f"<STUN {method} {klass} tid={self.transaction_id.hex()}"]
        parts.extend(describe_attribute(a) for a in self.attributes)
        return " ".join(parts) + ">"

    # --- reading ---------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes) -> Message:
        """Same as :func:`parse_message`."""
        return parse_message(data)

    def get(self, kind: type[A]) -> A | None:
        """The first attribute of class ``kind``, or None."""
        for attribute in self.attributes:
            if isinstance(attribute, kind):
                return attribute
        return None

    @property
    def has_fingerprint(self) -> bool:
        """Whether the message ends with a (valid: :func:`parse_message` checked it)
        FINGERPRINT."""
        return bool(self.attributes) and isinstance(self.attributes[-1], Fingerprint)

    def unknown_comprehension_required(self) -> tuple[int, ...]:
        """Types of attributes we do not understand but the sender requires us to.

        RFC 8489 §14: attribute types 0x0000-0x7FFF are comprehension-required. A request
        carrying one must be refused with 420 and an UNKNOWN-ATTRIBUTES listing them
        (RFC 8489 §6.3.1); unknown types 0x8000-0xFFFF are ignored (RFC 8489 §6.3).
        """
        return tuple(
            a.attr_type
            for a in self.attributes
            if isinstance(a, UnknownAttribute) and a.comprehension_required
        )

    def check_integrity(self, key: bytes) -> bool:
        """Verifies MESSAGE-INTEGRITY with ``key``; False when absent or wrong.

        RFC 8489 §14.5: the HMAC-SHA1 covers the message up to the attribute, with the
        header's length field set as if MESSAGE-INTEGRITY were the last attribute, so a
        FINGERPRINT appended afterwards does not change it.
        """
        at = self.integrity_offset
        if at is None:
            return False
        raw = self.raw
        covered = raw[:2] + _U16.pack(at - HEADER_SIZE + 24) + raw[4:at]
        return hmac.compare_digest(hmac.digest(key, covered, "sha1"), raw[at + 4 : at + 24])

    def check_integrity_sha256(self, key: bytes) -> bool:
        """Verifies MESSAGE-INTEGRITY-SHA256 with ``key``; False when absent or wrong.

        RFC 8489 §14.6: like MESSAGE-INTEGRITY with HMAC-SHA256, whose output the sender
        may truncate; we compare against the same prefix of our own MAC.
        """
        at = self.integrity_sha256_offset
        mac = self.get(MessageIntegritySha256)
        if at is None or mac is None:
            return False
        size = len(mac.mac)
        covered = self.raw[:2] + _U16.pack(at - HEADER_SIZE + 4 + size) + self.raw[4:at]
        return hmac.compare_digest(hmac.digest(key, covered, "sha256")[:size], mac.mac)

    # --- writing ---------------------------------------------------------------------------

    def encode(
        self,
        *,
        integrity_key: bytes | None = None,
        integrity_sha256_key: bytes | None = None,
        sha256_size: int = 32,
        fingerprint: bool = False,
        padding: bytes = b"\x00",
    ) -> bytes:
        """Serialises the message, appending the requested integrity and fingerprint.

        ``padding`` is the byte used to fill each attribute to a multiple of four. RFC 8489
        §14 sends zeros; RFC 5389 allowed any value, and the RFC 5769 vectors use spaces,
        which is why it can be chosen.
        """
        tid = self.transaction_id
        if len(tid) != 12:
            raise StunUsageError("a transaction id is 12 bytes")
        if len(padding) != 1:
            raise StunUsageError("padding is one byte")
        computed = integrity_key is not None or integrity_sha256_key is not None or fingerprint
        body = bytearray()
        for attribute in self.attributes:
            if computed and isinstance(
                attribute, MessageIntegrity | MessageIntegritySha256 | Fingerprint
            ):
                raise StunUsageError(f"{type(attribute).__name__} is computed, not given")
            value = attribute.encode_value(tid)
            if len(value) > 0xFFFF:
                raise StunUsageError(f"attribute {attribute.type:#06x} is too long")
            # RFC 8489 §14: type, length of the unpadded value, value, padding to 4 bytes.
            body += _TLV.pack(attribute.type, len(value))
            body += value
            body += padding * (-len(value) % 4)

        mtype = message_type(self.method, self.message_class)

        def header(length: int) -> bytes:
            return _HEADER.pack(mtype, length, MAGIC_COOKIE) + tid

        if integrity_key is not None:
            # RFC 8489 §14.5: the length field already counts the MESSAGE-INTEGRITY itself.
            mac = hmac.digest(integrity_key, header(len(body) + 24) + body, "sha1")
            body += _INTEGRITY_TLV + mac
        if integrity_sha256_key is not None:
            # RFC 8489 §14.6: at least 16 bytes, a multiple of 4, at most the full 32.
            if not 16 <= sha256_size <= 32 or sha256_size % 4:
                raise StunUsageError("MESSAGE-INTEGRITY-SHA256 size must be 16..32 step 4")
            length = len(body) + 4 + sha256_size
            mac = hmac.digest(integrity_sha256_key, header(length) + body, "sha256")
            body += _TLV.pack(AttributeType.MESSAGE_INTEGRITY_SHA256, sha256_size)
            body += mac[:sha256_size]
        if fingerprint:
            # RFC 8489 §14.7: CRC-32 of everything before it, with the length field already
            # counting the 8-byte FINGERPRINT, XORed with 0x5354554e.
            crc = zlib.crc32(header(len(body) + 8) + body) ^ FINGERPRINT_XOR
            body += _FINGERPRINT_TLV + crc.to_bytes(4, "big")
        return header(len(body)) + bytes(body)


def describe_attribute(attribute: Attribute) -> str:
    """``NAME=value`` for one attribute, the name as the registry spells it."""
    try:
        name = AttributeType(attribute.type).name.replace("_", "-")
    except ValueError:
        name = f"0x{attribute.type:04X}"
    values = []
    for f in fields(attribute):  # type: ignore[arg-type]
        value = getattr(attribute, f.name)
        if f.name == "attr_type":
            continue
        values.append(value.hex() if isinstance(value, bytes) else repr(value))
    if isinstance(attribute, Fingerprint):
        values = [f"0x{attribute.crc:08x}"]
    elif isinstance(attribute, MappedAddress | XorMappedAddress):
        values = [f"{attribute.host}:{attribute.port}"]
    return f"{name}={' '.join(values)}" if values else name


def parse_message(data: bytes) -> Message:
    """Parses one STUN message that fills the datagram exactly.

    Raises :class:`~voice.stun.errors.StunParseError` (and nothing else) when the header is
    wrong, a length does not add up, an attribute or its padding overruns the message, a
    known attribute has a malformed value, or the FINGERPRINT is wrong or not last. An
    attribute type we do not know is kept as an
    :class:`~voice.stun.attributes.UnknownAttribute`.

    Every STUN datagram of every session passes through here, so the framing is walked
    with :mod:`struct` and explicit bounds checks rather than through
    :class:`~voice.buffer.Buffer` (about twice as fast); each check below is one that a
    ``Buffer`` read would otherwise have made.
    """
    size = len(data)
    if size < HEADER_SIZE:
        raise StunParseError(f"{size} bytes is shorter than the 20-byte header")
    mtype, length, cookie = _HEADER.unpack_from(data)
    # RFC 8489 §5: the top two bits are zero, the cookie is fixed, and the length counts
    # what follows the header in a multiple of four bytes.
    if mtype & 0xC000:
        raise StunParseError("the two leading bits of a STUN message are not zero")
    if cookie != MAGIC_COOKIE:
        raise StunParseError("wrong magic cookie")
    if length & 3 or HEADER_SIZE + length != size:
        raise StunParseError(f"length field {length} does not match {size} bytes")
    tid = data[8:20]
    method, klass = split_message_type(mtype)

    attributes: list[Attribute] = []
    integrity_at: int | None = None
    sha256_at: int | None = None
    pos = HEADER_SIZE
    unpack_tlv = _TLV.unpack_from
    while pos < size:
        # pos and size are multiples of 4, so the 4-byte TLV header is always there.
        attr_type, attr_size = unpack_tlv(data, pos)
        start = pos + 4
        end = start + attr_size
        # RFC 8489 §14: the value is padded to a multiple of 4; the padding must be there
        # (its content is ignored).
        next_pos = (end + 3) & ~3
        if next_pos > size:
            raise StunParseError(f"attribute {attr_type:#06x} overruns the message")
        value = data[start:end]
        if attr_type == _FINGERPRINT:
            # RFC 8489 §14.7: FINGERPRINT is the last attribute and must match; a message
            # whose fingerprint is wrong is not STUN (it may be another protocol).
            if next_pos != size:
                raise StunParseError("FINGERPRINT is not the last attribute")
            if attr_size != 4:
                raise StunParseError("FINGERPRINT is not 4 bytes")
            crc = int.from_bytes(value, "big")
            if crc != zlib.crc32(data[:pos]) ^ FINGERPRINT_XOR:
                raise StunParseError("FINGERPRINT does not match")
            attributes.append(Fingerprint(crc))
            break
        if sha256_at is not None:
            pass  # RFC 8489 §9: only FINGERPRINT may follow; anything else is ignored
        elif integrity_at is not None and attr_type != _INTEGRITY_SHA256:
            pass  # RFC 8489 §9: unauthenticated attributes after it are ignored
        else:
            decoder = DECODERS.get(attr_type)
            attributes.append(
                decoder(value, tid) if decoder is not None else UnknownAttribute(attr_type, value)
            )
            if attr_type == _INTEGRITY:
                integrity_at = pos
            elif attr_type == _INTEGRITY_SHA256:
                sha256_at = pos
        pos = next_pos
    return Message(
        klass,
        _METHODS.get(method, method),
        tid,
        tuple(attributes),
        data,
        integrity_at,
        sha256_at,
    )
