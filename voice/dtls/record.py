"""The DTLS 1.2 record layer: framing, epochs, sequence numbers, replay detection, AEAD.

A datagram carries one or more records, each a 13-byte header and a fragment (RFC 6347 §4.1).
Unlike TLS, every record names its epoch and its own 48-bit sequence number explicitly,
because records may be lost or reordered and the receiver cannot count them itself.

What this module does not do is decide what a record *means*: the connection feeds it the
datagram, gets back :class:`Record` objects, and asks the epoch's :class:`RecordProtection`
to open them. Invalid records are data, not crashes: they are dropped and counted.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from voice.dtls.errors import DtlsParseError

RECORD_HEADER_SIZE = 13

#: RFC 6347 §4.1 (via RFC 5246 §6.2.3): a protected fragment is at most 2^14 + 2048 bytes.
MAX_FRAGMENT = 2**14 + 2048
MAX_SEQUENCE = 2**48 - 1


@dataclass(frozen=True, slots=True)
class Record:
    """One DTLSPlaintext or DTLSCiphertext record (RFC 6347 §4.1)."""

    content_type: int
    version: int
    epoch: int
    sequence_number: int
    fragment: bytes

    def encode(self) -> bytes:
        header = encode_record_header(
            self.content_type, self.version, self.epoch, self.sequence_number, len(self.fragment)
        )
        return header + self.fragment


def encode_record_header(
    content_type: int, version: int, epoch: int, seq: int, length: int
) -> bytes:
    return (
        bytes([content_type])
        + version.to_bytes(2, "big")
        + epoch.to_bytes(2, "big")
        + seq.to_bytes(6, "big")
        + length.to_bytes(2, "big")
    )


def iter_records(datagram: bytes) -> Iterator[Record]:
    """Yields the records of one datagram in order.

    RFC 6347 §4.1.1: several records may share a datagram, and none may span two. When the
    framing stops adding up (a header cut short, a length past the end), the rest of the
    datagram cannot be trusted: :class:`DtlsParseError` is raised after the good records
    before it were yielded, and the caller drops the remainder (RFC 6347 §4.1.2.7).
    """
    pos, end = 0, len(datagram)
    while pos < end:
        if end - pos < RECORD_HEADER_SIZE:
            raise DtlsParseError("datagram ends inside a record header")
        content_type = datagram[pos]
        version = int.from_bytes(datagram[pos + 1 : pos + 3], "big")
        epoch = int.from_bytes(datagram[pos + 3 : pos + 5], "big")
        seq = int.from_bytes(datagram[pos + 5 : pos + 11], "big")
        length = int.from_bytes(datagram[pos + 11 : pos + 13], "big")
        start = pos + RECORD_HEADER_SIZE
        if length > MAX_FRAGMENT or start + length > end:
            raise DtlsParseError("record length runs past the datagram")
        yield Record(content_type, version, epoch, seq, datagram[start : start + length])
        pos = start + length


class ReplayWindow:
    """The sliding window of RFC 6347 §4.1.2.6 for one epoch.

    ``highest`` is the largest sequence number seen in an authenticated record; bit ``i`` of
    ``bitmap`` says whether ``highest - i`` was seen. Anything older than the window is
    treated as a replay. The window only moves for records whose MAC verified, so a forged
    record cannot push it forward and make genuine records look old.
    """

    SIZE = 64
    __slots__ = ("bitmap", "highest")

    def __init__(self) -> None:
        self.highest = -1
        self.bitmap = 0

    def is_replay(self, seq: int) -> bool:
        if seq > self.highest:
            return False
        offset = self.highest - seq
        return offset >= self.SIZE or bool(self.bitmap >> offset & 1)

    def mark(self, seq: int) -> None:
        if seq > self.highest:
            shift = seq - self.highest
            self.bitmap = ((self.bitmap << shift) | 1) & ((1 << self.SIZE) - 1)
            self.highest = seq
        else:
            self.bitmap |= 1 << (self.highest - seq)


def _aad(content_type: int, version: int, epoch: int, seq: int, length: int) -> bytes:
    # RFC 6347 §4.1.2.1: the MAC (here, the AEAD's additional data) covers the 16-bit epoch
    # and 48-bit sequence number where TLS has its implicit 64-bit counter, then the type,
    # version and plaintext length. Note the order differs from the record header's.
    return (
        epoch.to_bytes(2, "big")
        + seq.to_bytes(6, "big")
        + bytes([content_type])
        + version.to_bytes(2, "big")
        + length.to_bytes(2, "big")
    )


class RecordProtection(Protocol):
    """The AEAD of one epoch and one direction."""

    overhead: int

    def seal(
        self, content_type: int, version: int, epoch: int, seq: int, plaintext: bytes
    ) -> bytes: ...

    def open(
        self, content_type: int, version: int, epoch: int, seq: int, fragment: bytes
    ) -> bytes | None: ...


class AesGcmProtection:
    """AES-GCM records (RFC 5288 §3, used by the RFC 5289 suites).

    The 12-byte nonce is a 4-byte salt from the key block and an 8-byte explicit part sent in
    front of the ciphertext. Any value never reused under one key will do; the epoch and
    sequence number of the record are unique by construction, so they are what is sent.
    """

    overhead = 8 + 16
    __slots__ = ("_aead", "_salt")

    def __init__(self, key: bytes, salt: bytes) -> None:
        self._aead = AESGCM(key)
        self._salt = salt

    def seal(
        self, content_type: int, version: int, epoch: int, seq: int, plaintext: bytes
    ) -> bytes:
        explicit = epoch.to_bytes(2, "big") + seq.to_bytes(6, "big")
        aad = _aad(content_type, version, epoch, seq, len(plaintext))
        return explicit + self._aead.encrypt(self._salt + explicit, plaintext, aad)

    def open(
        self, content_type: int, version: int, epoch: int, seq: int, fragment: bytes
    ) -> bytes | None:
        if len(fragment) < self.overhead:
            return None
        aad = _aad(content_type, version, epoch, seq, len(fragment) - self.overhead)
        try:
            return self._aead.decrypt(self._salt + fragment[:8], fragment[8:], aad)
        except InvalidTag:
            return None


class ChaChaPolyProtection:
    """ChaCha20-Poly1305 records (RFC 7905 §2): no explicit nonce on the wire; the nonce is
    the 12-byte IV from the key block XORed with the epoch and sequence number."""

    overhead = 16
    __slots__ = ("_aead", "_iv")

    def __init__(self, key: bytes, iv: bytes) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._iv = int.from_bytes(iv, "big")

    def _nonce(self, epoch: int, seq: int) -> bytes:
        return (self._iv ^ (epoch << 48 | seq)).to_bytes(12, "big")

    def seal(
        self, content_type: int, version: int, epoch: int, seq: int, plaintext: bytes
    ) -> bytes:
        aad = _aad(content_type, version, epoch, seq, len(plaintext))
        return self._aead.encrypt(self._nonce(epoch, seq), plaintext, aad)

    def open(
        self, content_type: int, version: int, epoch: int, seq: int, fragment: bytes
    ) -> bytes | None:
        if len(fragment) < self.overhead:
            return None
        aad = _aad(content_type, version, epoch, seq, len(fragment) - self.overhead)
        try:
            return self._aead.decrypt(self._nonce(epoch, seq), fragment, aad)
        except InvalidTag:
            return None


class RecordDrop(enum.StrEnum):
    """Why :meth:`RecordLayer.open` dropped a record; a :class:`enum.StrEnum` whose values
    are the connection's counter names."""

    #: Protected under the epoch after ours: it overtook the ChangeCipherSpec (RFC 6347 §4.1).
    FUTURE_EPOCH = "future_epoch"
    #: An epoch we have no keys for and never will.
    UNKNOWN_EPOCH = "unknown_epoch"
    #: Already seen, or older than the replay window (RFC 6347 §4.1.2.6).
    REPLAYED = "replayed"
    #: Failed authentication: forged, corrupted or under other keys (RFC 6347 §4.1.2.7).
    BAD_MAC = "bad_mac"


class _ReadEpoch:
    __slots__ = ("protection", "window")

    def __init__(self, protection: RecordProtection | None) -> None:
        self.protection = protection
        self.window = ReplayWindow()


class _WriteEpoch:
    __slots__ = ("next_seq", "protection")

    def __init__(self, protection: RecordProtection | None) -> None:
        self.protection = protection
        self.next_seq = 0


class RecordLayer:
    """The per-connection record state: which epochs can be read and written, with which keys.

    Epoch 0 is plaintext. Sending ChangeCipherSpec moves writing to epoch 1; receiving it
    makes epoch 1 readable (RFC 6347 §4.1). Both old epochs stay usable, because a flight
    that is retransmitted after the switch still holds epoch-0 messages and each record keeps
    the epoch it was first written in.
    """

    def __init__(self) -> None:
        self.version = 0xFEFD  # DTLS 1.2 (RFC 6347 §4.1)
        self._read: dict[int, _ReadEpoch] = {0: _ReadEpoch(None)}
        self._write: dict[int, _WriteEpoch] = {0: _WriteEpoch(None)}
        self.read_epoch = 0
        self.write_epoch = 0

    def install_read(self, epoch: int, protection: RecordProtection) -> None:
        self._read[epoch] = _ReadEpoch(protection)
        self.read_epoch = epoch

    def install_write(self, epoch: int, protection: RecordProtection) -> None:
        self._write[epoch] = _WriteEpoch(protection)
        self.write_epoch = epoch

    def overhead(self, epoch: int) -> int:
        protection = self._write[epoch].protection
        return RECORD_HEADER_SIZE + (protection.overhead if protection else 0)

    def seal(self, content_type: int, payload: bytes, epoch: int | None = None) -> bytes:
        """Builds one record of ``payload`` in ``epoch`` (default: the current write epoch)."""
        state = self._write[self.write_epoch if epoch is None else epoch]
        epoch = self.write_epoch if epoch is None else epoch
        seq = state.next_seq
        if seq > MAX_SEQUENCE:
            # RFC 6347 §4.1: a sequence number must never wrap within an epoch. At 50 packets
            # a second this takes 178 thousand years; it is checked, not handled.
            raise OverflowError("record sequence number exhausted")
        state.next_seq = seq + 1
        if state.protection is not None:
            payload = state.protection.seal(content_type, self.version, epoch, seq, payload)
        return encode_record_header(content_type, self.version, epoch, seq, len(payload)) + payload

    def open(self, record: Record) -> bytes | RecordDrop:
        """The plaintext of a record, or the reason it is dropped.

        RFC 6347 §4.1.2.7: records that fail are discarded silently, never answered with an
        alert, since an attacker can forge any number of them and an alert would let him
        probe or tear down the connection.
        """
        state = self._read.get(record.epoch)
        if state is None:
            # RFC 6347 §4.1: records of the next epoch can arrive before the ChangeCipherSpec
            # that opens it; we may buffer or drop them, and drop them (the peer retransmits).
            if record.epoch == self.read_epoch + 1:
                return RecordDrop.FUTURE_EPOCH
            return RecordDrop.UNKNOWN_EPOCH
        if state.protection is None:
            # Epoch 0 is unauthenticated: a replay window there could be pushed forward by
            # anyone, so duplicates are caught by message_seq one layer up instead.
            return record.fragment
        if state.window.is_replay(record.sequence_number):
            return RecordDrop.REPLAYED
        plaintext = state.protection.open(
            record.content_type,
            record.version,
            record.epoch,
            record.sequence_number,
            record.fragment,
        )
        if plaintext is None:
            return RecordDrop.BAD_MAC
        state.window.mark(record.sequence_number)
        return plaintext
