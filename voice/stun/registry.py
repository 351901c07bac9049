"""The STUN registries as enums: classes, methods, attribute types and error codes.

Names follow the IANA "STUN Parameters" registries (RFC 8489 §18), with the ICE
attributes of RFC 8445 §16.1 added. Numbers that are not in an enum (a method or attribute
type we do not know) travel as plain ``int`` so that an unknown value is data, not an error.
"""

from __future__ import annotations

import enum


class MessageClass(enum.IntEnum):
    """The two class bits of the message type (RFC 8489 §5)."""

    REQUEST = 0b00
    INDICATION = 0b01
    SUCCESS_RESPONSE = 0b10
    ERROR_RESPONSE = 0b11


class Method(enum.IntEnum):
    """STUN methods (RFC 8489 §18.2). ICE needs only Binding."""

    BINDING = 0x001


class AttributeType(enum.IntEnum):
    """STUN attribute types (RFC 8489 §18.3 and RFC 8445 §16.1).

    Types below 0x8000 are comprehension-required: a receiver that does not understand one
    must not process the message as if it were absent (RFC 8489 §14).
    """

    MAPPED_ADDRESS = 0x0001
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    REALM = 0x0014
    NONCE = 0x0015
    MESSAGE_INTEGRITY_SHA256 = 0x001C
    PASSWORD_ALGORITHM = 0x001D
    USERHASH = 0x001E
    XOR_MAPPED_ADDRESS = 0x0020
    PRIORITY = 0x0024
    USE_CANDIDATE = 0x0025
    PASSWORD_ALGORITHMS = 0x8002
    ALTERNATE_DOMAIN = 0x8003
    SOFTWARE = 0x8022
    ALTERNATE_SERVER = 0x8023
    FINGERPRINT = 0x8028
    ICE_CONTROLLED = 0x8029
    ICE_CONTROLLING = 0x802A


class ErrorCode(enum.IntEnum):
    """STUN error codes (RFC 8489 §14.8, §18.4; 487 from RFC 8445 §16.1)."""

    TRY_ALTERNATE = 300
    BAD_REQUEST = 400
    UNAUTHENTICATED = 401
    UNKNOWN_ATTRIBUTE = 420
    STALE_NONCE = 438
    ROLE_CONFLICT = 487
    SERVER_ERROR = 500

    @property
    def reason(self) -> str:
        """The reason phrase we send with this code (any UTF-8 text is allowed)."""
        return _REASONS[self]


_REASONS = {
    ErrorCode.TRY_ALTERNATE: "Try Alternate",
    ErrorCode.BAD_REQUEST: "Bad Request",
    ErrorCode.UNAUTHENTICATED: "Unauthenticated",
    ErrorCode.UNKNOWN_ATTRIBUTE: "Unknown Attribute",
    ErrorCode.STALE_NONCE: "Stale Nonce",
    ErrorCode.ROLE_CONFLICT: "Role Conflict",
    ErrorCode.SERVER_ERROR: "Server Error",
}

#: The fixed 32-bit value in every header (RFC 8489 §5); also the XOR key for addresses.
MAGIC_COOKIE = 0x2112A442

#: XORed into the CRC-32 of a FINGERPRINT (RFC 8489 §14.7): the ASCII of "STUN".
FINGERPRINT_XOR = 0x5354554E

HEADER_SIZE = 20
