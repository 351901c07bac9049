"""Reading the USERNAME of a STUN Binding request without parsing the whole message.

The relay calls :func:`peek_username` on the first packet from every new client address, so
it must be cheap: it walks the attribute headers with :mod:`struct`, builds no objects, and
verifies only the FINGERPRINT (a CRC, not a MAC: the relay holds no ICE password). What makes
the relay safe is not this check but the routing token's own MAC, checked next.
"""

from __future__ import annotations

import struct
import zlib

from voice.stun.registry import FINGERPRINT_XOR, MAGIC_COOKIE, AttributeType, Method

_HEADER = struct.Struct("!HHI")
_ATTR = struct.Struct("!HH")
# Plain ints from the registry (each value is written once, there): comparing with an
# IntEnum member in the hot loop would cost an attribute lookup each time.
_BINDING_REQUEST = int(Method.BINDING)  # class request: no class bits set (RFC 8489 §5)
_MAGIC_COOKIE = MAGIC_COOKIE
_USERNAME = int(AttributeType.USERNAME)
_MESSAGE_INTEGRITY = int(AttributeType.MESSAGE_INTEGRITY)
_MESSAGE_INTEGRITY_SHA256 = int(AttributeType.MESSAGE_INTEGRITY_SHA256)
_FINGERPRINT = int(AttributeType.FINGERPRINT)
_FINGERPRINT_XOR = FINGERPRINT_XOR


def peek_username(data: bytes) -> bytes | None:
    """Returns the raw USERNAME of a well-formed STUN Binding request, or None.

    None means "not something to route": not a Binding request, framing that does not
    add up, no USERNAME, or a FINGERPRINT that is missing, not last, or wrong. ICE checks
    always carry a FINGERPRINT (RFC 8445 §7.2.4), so a request without one is refused.
    When USERNAME appears more than once the first one is returned, the one
    :func:`voice.stun.parse_message` and the ICE agent look at.
    """
    size = len(data)
    if size < 20:
        return None
    msg_type, length, cookie = _HEADER.unpack_from(data, 0)
    # RFC 8489 §5: the length counts the bytes after the 20-byte header and is a multiple
    # of 4; the magic cookie is fixed.
    if msg_type != _BINDING_REQUEST or cookie != _MAGIC_COOKIE:
        return None
    if length + 20 != size or length & 3:
        return None
    username: bytes | None = None
    authenticated_part = True  # False once past MESSAGE-INTEGRITY
    pos = 20
    while pos + 4 <= size:
        attr_type, attr_len = _ATTR.unpack_from(data, pos)
        value = pos + 4
        end = value + ((attr_len + 3) & ~3)
        if end > size:
            return None
        if attr_type == _USERNAME:
            # RFC 8489 §14: only the first USERNAME counts, and RFC 8489 §9 has anything
            # after MESSAGE-INTEGRITY ignored, exactly as the full parser does.
            if username is None and authenticated_part:
                username = data[value : value + attr_len]
        elif attr_type in (_MESSAGE_INTEGRITY, _MESSAGE_INTEGRITY_SHA256):
            authenticated_part = False
        elif attr_type == _FINGERPRINT:
            # RFC 8489 §14.7: FINGERPRINT is the last attribute, and its value is the CRC-32
            # of the message before it, XORed with 0x5354554e.
            if attr_len != 4 or end != size:
                return None
            expected = zlib.crc32(data[:pos]) ^ _FINGERPRINT_XOR
            (actual,) = struct.unpack_from("!I", data, value)
            return username if actual == expected else None
        pos = end
    return None
