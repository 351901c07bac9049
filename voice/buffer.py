"""Bounded reading and writing of network byte order, shared by every protocol layer.

Every parser in ``voice`` reads through :class:`Buffer`, so a field that runs past the end
of the input raises exactly one exception type, :class:`BufferReadError`, and never an
``IndexError`` or a ``struct.error``. Each layer catches it at its entry point and re-raises
its own typed parse error (``StunParseError``, ``DtlsParseError``, ...), which the Trio
drivers count and drop.

:class:`Writer` is the mirror image for building messages. Its :meth:`Writer.vector` context
manager writes a length-prefixed block whose length is only known once the block is written,
the ``opaque x<0..2^16-1>`` shape that TLS and DTLS use everywhere (RFC 5246 §4.3).

Hot paths that look at one field of every packet (the relay's USERNAME peek, RTP header
reads) use :mod:`struct` directly instead; everything else goes through here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager

from voice.errors import ParseError

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")


class BufferReadError(ParseError):
    """A read went past the end of the data (or the data is otherwise not what it claims)."""


class Buffer:
    """A read cursor over immutable bytes that refuses to read past the end."""

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self._data = data
        self._pos = start
        self._end = len(data) if end is None else end
        if not 0 <= start <= self._end <= len(data):
            raise BufferReadError("buffer bounds outside the data")

    @property
    def data(self) -> bytes:
        return self._data

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int) -> None:
        if not 0 <= pos <= self._end:
            raise BufferReadError(f"seek to {pos} outside 0..{self._end}")
        self._pos = pos

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def eof(self) -> bool:
        return self._pos >= self._end

    def _take(self, n: int) -> int:
        """Reserves ``n`` bytes and returns where they start."""
        if n < 0 or self._pos + n > self._end:
            raise BufferReadError(f"need {n} bytes at offset {self._pos}, have {self.remaining}")
        start = self._pos
        self._pos += n
        return start

    def pull_bytes(self, n: int) -> bytes:
        start = self._take(n)
        return self._data[start : start + n]

    def pull_rest(self) -> bytes:
        return self.pull_bytes(self.remaining)

    def skip(self, n: int) -> None:
        self._take(n)

    def pull_uint8(self) -> int:
        return self._data[self._take(1)]

    def pull_uint16(self) -> int:
        value: int = _U16.unpack_from(self._data, self._take(2))[0]
        return value

    def pull_uint24(self) -> int:
        start = self._take(3)
        return int.from_bytes(self._data[start : start + 3], "big")

    def pull_uint32(self) -> int:
        value: int = _U32.unpack_from(self._data, self._take(4))[0]
        return value

    def pull_uint48(self) -> int:
        start = self._take(6)
        return int.from_bytes(self._data[start : start + 6], "big")

    def pull_uint64(self) -> int:
        value: int = _U64.unpack_from(self._data, self._take(8))[0]
        return value

    def pull_uint(self, size: int) -> int:
        """Reads an unsigned big-endian integer of ``size`` bytes (1 to 8)."""
        start = self._take(size)
        return int.from_bytes(self._data[start : start + size], "big")

    def pull_vector(self, length_size: int) -> bytes:
        """Reads a block prefixed by its length in ``length_size`` bytes (RFC 5246 §4.3)."""
        return self.pull_bytes(self.pull_uint(length_size))

    def sub_buffer(self, n: int) -> Buffer:
        """Returns a buffer over the next ``n`` bytes and moves past them.

        Reading a nested structure through a sub-buffer guarantees it cannot overrun the
        length its parent declared for it.
        """
        start = self._take(n)
        return Buffer(self._data, start, start + n)


class Writer:
    """An append-only builder of network byte order."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data = bytearray()

    def __len__(self) -> int:
        return len(self._data)

    def getvalue(self) -> bytes:
        return bytes(self._data)

    def push_bytes(self, value: bytes) -> None:
        self._data += value

    def push_uint8(self, value: int) -> None:
        self.push_uint(value, 1)

    def push_uint16(self, value: int) -> None:
        self.push_uint(value, 2)

    def push_uint24(self, value: int) -> None:
        self.push_uint(value, 3)

    def push_uint32(self, value: int) -> None:
        self.push_uint(value, 4)

    def push_uint48(self, value: int) -> None:
        self.push_uint(value, 6)

    def push_uint64(self, value: int) -> None:
        self.push_uint(value, 8)

    def push_uint(self, value: int, size: int) -> None:
        # to_bytes raises OverflowError on a value that does not fit: a bug in the caller,
        # not bad input from a peer, so it is left to propagate.
        self._data += value.to_bytes(size, "big")

    def push_vector(self, length_size: int, value: bytes) -> None:
        """Writes ``value`` prefixed by its length in ``length_size`` bytes."""
        self.push_uint(len(value), length_size)
        self._data += value

    @contextmanager
    def vector(self, length_size: int) -> Iterator[None]:
        """Writes a length prefix that covers whatever is written inside the ``with`` block."""
        at = len(self._data)
        self._data += bytes(length_size)
        yield
        length = len(self._data) - at - length_size
        self._data[at : at + length_size] = length.to_bytes(length_size, "big")
