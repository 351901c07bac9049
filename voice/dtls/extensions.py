"""Hello extensions: the generic block every hello carries, and the ones we understand.

The block is a list of (type, opaque data) pairs (RFC 5246 §7.4.1.4). Extensions we do not
know are kept as raw bytes and ignored, which is what lets a server accept a browser's hello
full of extensions this code has never heard of. Each decoder below reads one extension's
data and insists on consuming all of it, so trailing bytes are a decode error, not ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from voice.buffer import Buffer, BufferReadError, Writer
from voice.dtls.errors import DtlsParseError
from voice.dtls.registry import ExtensionType


@dataclass(frozen=True, slots=True)
class Extension:
    type: int
    data: bytes


def parse_extension_block(buf: Buffer) -> tuple[Extension, ...]:
    """Reads an optional extensions<0..2^16-1> block that ends the message.

    RFC 5246 §7.4.1.4: a type appears at most once; a hello with a repeated type is refused
    rather than guessed at (which copy would count?).
    """
    if buf.eof():
        return ()
    try:
        block = buf.sub_buffer(buf.pull_uint16())
        seen: set[int] = set()
        out: list[Extension] = []
        while not block.eof():
            ext_type = block.pull_uint16()
            data = block.pull_vector(2)
            if ext_type in seen:
                raise DtlsParseError(f"extension {ext_type} appears twice")
            seen.add(ext_type)
            out.append(Extension(ext_type, data))
    except BufferReadError as exc:
        raise DtlsParseError(f"truncated extensions: {exc}") from exc
    return tuple(out)


def encode_extension_block(w: Writer, extensions: Sequence[Extension]) -> None:
    if not extensions:
        return  # RFC 5246 §7.4.1.2: an empty block may be left out entirely
    with w.vector(2):
        for ext in extensions:
            w.push_uint16(ext.type)
            w.push_vector(2, ext.data)


def find_extension(extensions: Iterable[Extension], ext_type: ExtensionType) -> bytes | None:
    for ext in extensions:
        if ext.type == ext_type:
            return ext.data
    return None


def _whole(data: bytes) -> Buffer:
    return Buffer(data)


def _done(buf: Buffer, what: str) -> None:
    if not buf.eof():
        raise DtlsParseError(f"trailing bytes in {what}")


def _uint16_list(data: bytes, what: str, *, min_items: int = 1) -> tuple[int, ...]:
    try:
        buf = _whole(data)
        inner = buf.sub_buffer(buf.pull_uint16())
        _done(buf, what)
        if inner.remaining % 2 or inner.remaining < 2 * min_items:
            raise DtlsParseError(f"bad length of {what}")
        return tuple(inner.pull_uint16() for _ in range(inner.remaining // 2))
    except BufferReadError as exc:
        raise DtlsParseError(f"truncated {what}") from exc


def _encode_uint16_list(values: Sequence[int]) -> bytes:
    w = Writer()
    with w.vector(2):
        for v in values:
            w.push_uint16(v)
    return w.getvalue()


# RFC 8422 §5.1.1: supported_groups is a NamedGroupList<2..2^16-1>.
def decode_supported_groups(data: bytes) -> tuple[int, ...]:
    return _uint16_list(data, "supported_groups")


def encode_supported_groups(groups: Sequence[int]) -> bytes:
    return _encode_uint16_list(groups)


# RFC 5246 §7.4.1.4.1: signature_algorithms is a list<2..2^16-2> of (hash, signature) pairs.
def decode_signature_algorithms(data: bytes) -> tuple[int, ...]:
    return _uint16_list(data, "signature_algorithms")


def encode_signature_algorithms(schemes: Sequence[int]) -> bytes:
    return _encode_uint16_list(schemes)


def decode_ec_point_formats(data: bytes) -> tuple[int, ...]:
    """RFC 8422 §5.1.2: a list<1..2^8-1> of one-byte formats."""
    try:
        buf = _whole(data)
        formats = buf.pull_vector(1)
        _done(buf, "ec_point_formats")
    except BufferReadError as exc:
        raise DtlsParseError("truncated ec_point_formats") from exc
    if not formats:
        raise DtlsParseError("empty ec_point_formats")
    return tuple(formats)


def encode_ec_point_formats(formats: Sequence[int]) -> bytes:
    return bytes([len(formats), *formats])


@dataclass(frozen=True, slots=True)
class UseSrtp:
    """The use_srtp extension data (RFC 5764 §4.1.1): protection profiles and an MKI."""

    profiles: tuple[int, ...]
    mki: bytes = b""

    @classmethod
    def decode(cls, data: bytes) -> UseSrtp:
        try:
            buf = _whole(data)
            inner = buf.sub_buffer(buf.pull_uint16())
            if inner.remaining % 2 or inner.remaining < 2:
                raise DtlsParseError("bad length of the SRTP profile list")
            profiles = tuple(inner.pull_uint16() for _ in range(inner.remaining // 2))
            mki = buf.pull_vector(1)
            _done(buf, "use_srtp")
        except BufferReadError as exc:
            raise DtlsParseError("truncated use_srtp") from exc
        return cls(profiles, mki)

    def encode(self) -> bytes:
        w = Writer()
        with w.vector(2):
            for p in self.profiles:
                w.push_uint16(p)
        w.push_vector(1, self.mki)
        return w.getvalue()


def decode_renegotiation_info(data: bytes) -> bytes:
    """RFC 5746 §3.2: renegotiated_connection<0..255>, empty on an initial handshake."""
    try:
        buf = _whole(data)
        value = buf.pull_vector(1)
        _done(buf, "renegotiation_info")
    except BufferReadError as exc:
        raise DtlsParseError("truncated renegotiation_info") from exc
    return value


def encode_renegotiation_info(value: bytes = b"") -> bytes:
    return bytes([len(value)]) + value


def decode_extended_master_secret(data: bytes) -> None:
    """RFC 7627 §5.1: the extension carries no data."""
    if data:
        raise DtlsParseError("extended_master_secret carries data")
