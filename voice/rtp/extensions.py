"""RTP header extension elements in the two forms of RFC 8285.

RFC 3550 §5.3.1 gives an RTP packet room for one header extension: a 16-bit value "defined
by profile", a length in 32-bit words, and that many words of data. RFC 8285 fills the
block with small elements, each a local identifier (negotiated in SDP with ``a=extmap``)
and a value:

* the **one-byte** form (profile value 0xBEDE): one byte per element header, identifier
  1-14 in the high nibble and length minus one in the low nibble, so values of 1-16 bytes;
* the **two-byte** form (profile value 0x100 followed by 4 application bits): identifier
  and length one byte each, so identifiers 1-255 and values of 0-255 bytes.

Both forms use zero bytes as padding between elements and to fill the last word. Here the
block is a plain mapping ``{identifier: value}``; which extension an identifier means is
the SDP layer's business.
"""

from __future__ import annotations

from collections.abc import Mapping

from voice.rtp.errors import RtpParseError, RtpUsageError

#: RFC 8285 §4.2: the "defined by profile" value that marks the one-byte form.
ONE_BYTE_PROFILE = 0xBEDE
#: RFC 8285 §4.3: the two-byte form is 0x100 in the top 12 bits and 4 application bits.
TWO_BYTE_PROFILE = 0x1000
_TWO_BYTE_MASK = 0xFFF0

#: RFC 8285 §4.2: identifier 15 is reserved; finding it ends the element list.
_ONE_BYTE_STOP = 15


def is_rfc8285(profile: int) -> bool:
    """True when a header extension's profile value is one of the RFC 8285 forms."""
    return profile == ONE_BYTE_PROFILE or profile & _TWO_BYTE_MASK == TWO_BYTE_PROFILE


def fits_one_byte(elements: Mapping[int, bytes]) -> bool:
    """Whether every element can be written in the more compact one-byte form."""
    return all(1 <= i <= 14 and 1 <= len(v) <= 16 for i, v in elements.items())


def parse_elements(profile: int, data: bytes) -> dict[int, bytes]:
    """Splits the body of an RFC 8285 header extension into ``{identifier: value}``.

    Raises :class:`RtpParseError` when an element runs past the block. Padding bytes are
    skipped wherever they are. A repeated identifier keeps its last value.
    """
    elements: dict[int, bytes] = {}
    pos, end = 0, len(data)
    if profile == ONE_BYTE_PROFILE:
        while pos < end:
            byte = data[pos]
            if byte == 0:  # RFC 8285 §4.1.2: a padding byte carries no identifier or length
                pos += 1
                continue
            ident, length = byte >> 4, (byte & 0x0F) + 1
            if ident in (_ONE_BYTE_STOP, 0):
                # RFC 8285 §4.2: the reserved identifier 15 ends processing, and the
                # elements before it are kept; RFC 8285 §4.1.2 says the same of
                # identifier 0 with a non-zero length, which is neither padding nor an
                # element.
                break
            pos += 1
            if pos + length > end:
                raise RtpParseError("one-byte header extension element runs past the block")
            elements[ident] = data[pos : pos + length]
            pos += length
    elif profile & _TWO_BYTE_MASK == TWO_BYTE_PROFILE:
        while pos < end:
            ident = data[pos]
            if ident == 0:  # RFC 8285 §4.1.2: padding
                pos += 1
                continue
            if pos + 2 > end:
                raise RtpParseError("two-byte header extension element has no length byte")
            length = data[pos + 1]
            pos += 2
            if pos + length > end:
                raise RtpParseError("two-byte header extension element runs past the block")
            elements[ident] = data[pos : pos + length]
            pos += length
    else:
        raise RtpUsageError(f"0x{profile:04x} is not an RFC 8285 header extension profile")
    return elements


def build_elements(elements: Mapping[int, bytes], profile: int | None = None) -> tuple[int, bytes]:
    """Encodes ``elements`` as an RFC 8285 block; returns ``(profile, body)``.

    With ``profile`` None the one-byte form is used when every element fits it and the
    two-byte form otherwise (RFC 8285 §4.2, §4.3); the body is padded with zeros to a
    whole number of 32-bit words. Elements are written in the mapping's order, which for
    a parsed packet is the order they arrived in. Choosing the form packet by packet mixes
    the two forms in one stream, which only a peer that accepts it may receive
    (``a=extmap-allow-mixed``, RFC 8285 §6); the SDP layer knows, and passes
    ``ONE_BYTE_PROFILE`` when the peer does not.
    """
    body = bytearray()
    if profile is None or profile == ONE_BYTE_PROFILE:
        for ident, value in elements.items():
            size = len(value)
            if 0 < ident < 15 and 0 < size <= 16:
                body.append(ident << 4 | (size - 1))
                body += value
            elif profile is None:
                return build_elements(elements, TWO_BYTE_PROFILE)
            else:
                raise RtpUsageError(
                    f"element {ident} of {size} bytes does not fit the one-byte form"
                )
        profile = ONE_BYTE_PROFILE
    elif profile & _TWO_BYTE_MASK == TWO_BYTE_PROFILE:
        for ident, value in elements.items():
            if not (0 < ident < 256 and len(value) < 256):
                raise RtpUsageError(
                    f"element {ident} of {len(value)} bytes does not fit the two-byte form"
                )
            body.append(ident)
            body.append(len(value))
            body += value
    else:
        raise RtpUsageError(f"0x{profile:04x} is not an RFC 8285 header extension profile")
    body += _PADDING[len(body) % 4]
    return profile, bytes(body)


_PADDING = (b"", b"\0\0\0", b"\0\0", b"\0")
