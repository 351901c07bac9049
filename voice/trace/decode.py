"""Turns one datagram of a call into an annotated :class:`~voice.trace.tree.Field` tree.

Every protocol of a WebRTC call shares one 5-tuple, so decoding starts where a receiver
starts: the first byte says which protocol it is (RFC 7983 §7). Then each layer is decoded
with the project's own parsers (:mod:`voice.stun`, :mod:`voice.dtls`, :mod:`voice.rtp`,
:mod:`voice.opus`), never a second implementation, so what the trace shows is what the stack
understood.

A :class:`FlowDecoder` keeps what one call's handshake revealed, because later datagrams
cannot be read without it: the DTLS randoms, cipher suite and SRTP profile, and who the DTLS
client is. Given the master secret (from a :class:`KeyRing`, fed by the NSS key log lines the
DTLS layer emits) it decrypts the encrypted handshake messages (the Finished) and, with the
keys the DTLS exporter derives for SRTP, the media (RTP payloads down to the Opus TOC, and
whole RTCP reports). Without the secrets, it shows what is in the clear.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from collections.abc import Iterable

from voice.dtls.errors import DtlsError
from voice.dtls.extensions import Extension, UseSrtp
from voice.dtls.fragments import MAX_MESSAGE_LENGTH, HandshakeFragment, iter_fragments
from voice.dtls.keyschedule import SUITES, export_keying_material, key_block
from voice.dtls.messages import ClientHello, ServerHello, parse_message
from voice.dtls.record import Record, RecordProtection, iter_records
from voice.dtls.registry import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ContentType,
    ExtensionType,
    HandshakeType,
)
from voice.opus.toc import parse_packet as parse_opus
from voice.rtp import RtpError, RtpPacket, is_rtcp, parse_rtcp
from voice.rtp.extensions import ONE_BYTE_PROFILE
from voice.srtp import SrtpContext, SrtpError
from voice.srtp.profiles import PROFILE_SIZES, SrtpProfile
from voice.stun import Message, PacketKind, StunError, classify
from voice.stun import parse_message as parse_stun
from voice.stun.attributes import (
    Fingerprint,
    MessageIntegrity,
    MessageIntegritySha256,
    UnknownAttribute,
)
from voice.stun.registry import AttributeType, Method
from voice.trace.tree import Field, Value
from voice.types import Address

#: Where each STUN attribute is defined.
STUN_ATTRIBUTE_SECTIONS: dict[int, str] = {
    AttributeType.MAPPED_ADDRESS: "RFC 8489 §14.1",
    AttributeType.XOR_MAPPED_ADDRESS: "RFC 8489 §14.2",
    AttributeType.USERNAME: "RFC 8489 §14.3",
    AttributeType.MESSAGE_INTEGRITY: "RFC 8489 §14.5",
    AttributeType.MESSAGE_INTEGRITY_SHA256: "RFC 8489 §14.6",
    AttributeType.FINGERPRINT: "RFC 8489 §14.7",
    AttributeType.ERROR_CODE: "RFC 8489 §14.8",
    AttributeType.REALM: "RFC 8489 §14.9",
    AttributeType.NONCE: "RFC 8489 §14.10",
    AttributeType.UNKNOWN_ATTRIBUTES: "RFC 8489 §14.13",
    AttributeType.SOFTWARE: "RFC 8489 §14.14",
    AttributeType.PRIORITY: "RFC 8445 §7.1.1",
    AttributeType.USE_CANDIDATE: "RFC 8445 §7.1.2",
    AttributeType.ICE_CONTROLLED: "RFC 8445 §7.1.3",
    AttributeType.ICE_CONTROLLING: "RFC 8445 §7.1.3",
}

#: Where each handshake message is defined.
HANDSHAKE_SECTIONS: dict[int, str] = {
    HandshakeType.client_hello: "RFC 5246 §7.4.1.2",
    HandshakeType.server_hello: "RFC 5246 §7.4.1.3",
    HandshakeType.hello_verify_request: "RFC 6347 §4.2.1",
    HandshakeType.certificate: "RFC 5246 §7.4.2",
    HandshakeType.server_key_exchange: "RFC 8422 §5.4",
    HandshakeType.certificate_request: "RFC 5246 §7.4.4",
    HandshakeType.server_hello_done: "RFC 5246 §7.4",
    HandshakeType.certificate_verify: "RFC 5246 §7.4.8",
    HandshakeType.client_key_exchange: "RFC 8422 §5.7",
    HandshakeType.finished: "RFC 5246 §7.4.9",
}

EXTENSION_SECTIONS: dict[int, str] = {
    ExtensionType.use_srtp: "RFC 5764 §4.1.1",
    ExtensionType.extended_master_secret: "RFC 7627 §5.1",
    ExtensionType.renegotiation_info: "RFC 5746 §3.2",
}

#: Payload types of the RTCP packets we name (RFC 3550 §6.4-§6.6).
_RTCP_SECTIONS = {200: "RFC 3550 §6.4.1", 201: "RFC 3550 §6.4.2", 202: "RFC 3550 §6.5"}
_RTCP_SECTIONS[203] = "RFC 3550 §6.6"

_SRTP_EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"

#: Handshake messages a decoder keeps partly reassembled at once.
MAX_PENDING_MESSAGES = 16


class KeyRing:
    """The secrets a decoder may use: STUN passwords and DTLS master secrets.

    Master secrets arrive as NSS key log lines (``CLIENT_RANDOM <random> <secret>``), the
    same lines Wireshark reads, so a trace and a capture are decrypted from one source.
    """

    def __init__(self, stun_keys: Iterable[bytes] = ()) -> None:
        self.stun_keys: list[bytes] = list(stun_keys)
        self.master_secrets: dict[bytes, bytes] = {}

    def add_key_log_line(self, line: str) -> None:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "CLIENT_RANDOM":
            with contextlib.suppress(ValueError):
                self.master_secrets[bytes.fromhex(parts[1])] = bytes.fromhex(parts[2])


@dataclasses.dataclass(slots=True)
class Decoded:
    """One datagram, decoded: its demultiplexed kind, a one-line summary, and the tree."""

    kind: str
    summary: str
    root: Field


def _show(value: object) -> Value:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, tuple | list):
        return ", ".join(str(_show(v)) for v in value)
    return str(value)


def _name(enum_type: type[enum.IntEnum], value: int) -> str:
    try:
        return enum_type(value).name
    except ValueError:
        return f"0x{value:04x}"


def _dataclass_fields(node: Field, obj: object, skip: Iterable[str] = ()) -> None:
    skipped = set(skip)
    if not dataclasses.is_dataclass(obj):
        return
    for f in dataclasses.fields(obj):
        if f.name in skipped or not f.repr:
            continue
        node.add(f.name, _show(getattr(obj, f.name)))


class _DtlsKeys:
    """Record protection for each direction, once the handshake told us enough."""

    def __init__(self, client: RecordProtection, server: RecordProtection) -> None:
        self.client = client
        self.server = server


class FlowDecoder:
    """Decodes the datagrams of one call (one 5-tuple), in the order they were seen.

    >>> from voice.stun import Message, MessageClass, Method, Username
    >>> check = Message(MessageClass.REQUEST, Method.BINDING, bytes(12), (Username("a:b"),))
    >>> decoded = FlowDecoder(KeyRing([b"pw"])).decode(
    ...     check.encode(integrity_key=b"pw", fingerprint=True), ("192.0.2.7", 5000))
    >>> decoded.kind, decoded.summary
    ('stun', 'STUN Binding request tid=000000000000000000000000 [MESSAGE-INTEGRITY valid]')
    >>> [(f.name, f.value, f.cite) for f in decoded.root.find("USERNAME")]
    [('USERNAME', 'value=a:b', 'RFC 8489 §14.3')]
    """

    def __init__(self, keys: KeyRing | None = None) -> None:
        self.keys = keys if keys is not None else KeyRing()
        self.dtls_client: Address | None = None
        self._client_random = b""
        self._server_random = b""
        self._suite: CipherSuite | None = None
        self._srtp_profile: SrtpProfile | None = None
        self._record_keys: _DtlsKeys | None = None
        # One SRTP context per sender: a context made "as the server" unprotects what the
        # DTLS client sent, and the reverse.
        self._srtp_from_client: SrtpContext | None = None
        self._srtp_from_server: SrtpContext | None = None
        # Handshake messages arriving in fragments, by sender, message_seq and type.
        self._fragments: dict[tuple[Address, int, int], tuple[bytearray, bytearray]] = {}

    # -- entry point ---------------------------------------------------------------------

    def decode(self, data: bytes, source: Address) -> Decoded:
        kind = classify(data)
        root = Field("datagram", len(data), "RFC 7983 §7")
        root.add("first byte", data[0] if data else None, "RFC 7983 §7")
        if kind is PacketKind.STUN:
            return self._stun(data, root)
        if kind is PacketKind.DTLS:
            return self._dtls(data, source, root)
        if kind is PacketKind.RTP:
            if is_rtcp(data):
                return self._rtcp(data, source, root)
            return self._rtp(data, source, root)
        return Decoded(kind.value, f"{kind.value} ({len(data)} bytes)", root)

    # -- STUN ----------------------------------------------------------------------------

    def _stun(self, data: bytes, root: Field) -> Decoded:
        try:
            msg = parse_stun(data)
        except StunError as exc:
            root.add("error", str(exc), "RFC 8489 §5")
            return Decoded("stun", f"STUN malformed: {exc}", root)
        method = _name(Method, msg.method).title()
        klass = msg.message_class.name.lower().replace("_", " ")
        node = root.add("STUN message", f"{method} {klass}", "RFC 8489 §5")
        node.add("method", method, "RFC 8489 §5")
        node.add("class", msg.message_class.name, "RFC 8489 §5")
        node.add("transaction_id", msg.transaction_id.hex(), "RFC 8489 §5")
        verdicts: list[str] = []
        for attribute in msg.attributes:
            attr_type = attribute.type
            label = _name(AttributeType, attr_type).replace("_", "-")
            cite = STUN_ATTRIBUTE_SECTIONS.get(attr_type, "RFC 8489 §14")
            child = node.add(label, None, cite)
            if isinstance(attribute, MessageIntegrity | MessageIntegritySha256):
                child.value = attribute.mac.hex()
                verdict = self._integrity(msg, isinstance(attribute, MessageIntegrity))
                child.add("verdict", verdict, "RFC 8489 §9.1.3")
                verdicts.append(f"{label} {verdict}")
            elif isinstance(attribute, Fingerprint):
                child.value = f"0x{attribute.crc:08x}"
                # parse_message refuses a message whose FINGERPRINT does not match.
                child.add("verdict", "valid", "RFC 8489 §14.7")
            elif isinstance(attribute, UnknownAttribute):
                child.value = attribute.value.hex()
            else:
                values = [
                    f"{f.name}={_show(getattr(attribute, f.name))}"
                    for f in dataclasses.fields(attribute)  # type: ignore[arg-type]
                ]
                child.value = " ".join(values) if values else "(flag)"
        summary = f"STUN {method} {klass} tid={msg.transaction_id.hex()}"
        if verdicts:
            summary += " [" + ", ".join(verdicts) + "]"
        return Decoded("stun", summary, root)

    def _integrity(self, msg: Message, sha1: bool) -> str:
        if not self.keys.stun_keys:
            return "not checked (key unknown)"
        for key in self.keys.stun_keys:
            ok = msg.check_integrity(key) if sha1 else msg.check_integrity_sha256(key)
            if ok:
                return "valid"
        return "INVALID"

    # -- DTLS ----------------------------------------------------------------------------

    def _dtls(self, data: bytes, source: Address, root: Field) -> Decoded:
        names: list[str] = []
        try:
            for record in iter_records(data):
                content = _name(ContentType, record.content_type)
                node = root.add("DTLS record", content, "RFC 6347 §4.1")
                node.add("content_type", content, "RFC 5246 §6.2.1")
                node.add("version", f"0x{record.version:04x}", "RFC 6347 §4.1")
                node.add("epoch", record.epoch, "RFC 6347 §4.1")
                node.add("sequence_number", record.sequence_number, "RFC 6347 §4.1")
                node.add("length", len(record.fragment), "RFC 6347 §4.1")
                fragment = record.fragment
                if record.epoch > 0:
                    opened = self._open_record(source, record)
                    if opened is None:
                        node.add("encrypted", "key unknown", "RFC 5246 §6.2.3")
                        names.append(f"encrypted {content}")
                        continue
                    fragment = opened
                    node.add("decrypted", len(fragment), "RFC 5246 §6.2.3")
                names.extend(self._dtls_content(record.content_type, fragment, source, node))
        except DtlsError as exc:
            root.add("error", str(exc), "RFC 6347 §4.1.2.7")
            names.append("malformed")
        return Decoded("dtls", "DTLS " + ", ".join(names), root)

    def _dtls_content(
        self, content_type: int, fragment: bytes, source: Address, node: Field
    ) -> list[str]:
        if content_type == ContentType.handshake:
            return self._handshake(fragment, source, node)
        if content_type == ContentType.alert and len(fragment) == 2:
            alert = node.add("Alert", None, "RFC 5246 §7.2")
            level = _name(AlertLevel, fragment[0])
            description = _name(AlertDescription, fragment[1])
            alert.add("level", level, "RFC 5246 §7.2")
            alert.add("description", description, "RFC 5246 §7.2")
            return [f"Alert({level}, {description})"]
        if content_type == ContentType.change_cipher_spec:
            return ["ChangeCipherSpec"]
        return [f"{_name(ContentType, content_type)}({len(fragment)})"]

    def _handshake(self, fragment: bytes, source: Address, node: Field) -> list[str]:
        names = []
        for frag in iter_fragments(fragment):
            msg_name = _name(HandshakeType, frag.msg_type)
            cite = HANDSHAKE_SECTIONS.get(frag.msg_type, "RFC 5246 §7.4")
            hs = node.add("Handshake", msg_name, cite)
            hs.add("msg_type", msg_name, "RFC 6347 §4.2.2")
            hs.add("length", frag.length, "RFC 6347 §4.2.2")
            hs.add("message_seq", frag.message_seq, "RFC 6347 §4.2.2")
            hs.add("fragment_offset", frag.fragment_offset, "RFC 6347 §4.2.2")
            hs.add("fragment_length", len(frag.body), "RFC 6347 §4.2.2")
            body_bytes = frag.body
            if frag.fragment_offset == 0 and len(frag.body) == frag.length:
                names.append(f"{msg_name}(seq {frag.message_seq})")
            else:
                names.append(
                    f"{msg_name}(seq {frag.message_seq}, bytes {frag.fragment_offset}-"
                    f"{frag.end} of {frag.length})"
                )
                whole = self._reassemble(source, frag)
                if whole is None:
                    hs.add("body", "a fragment; more to come", "RFC 6347 §4.2.3")
                    continue
                hs.add("reassembled", len(whole), "RFC 6347 §4.2.3")
                body_bytes = whole
            try:
                message = parse_message(frag.msg_type, body_bytes)
            except DtlsError as exc:
                hs.add("error", str(exc), cite)
                continue
            body = hs.add("body", None, cite)
            _dataclass_fields(body, message, skip=("extensions",))
            extensions: tuple[Extension, ...] = getattr(message, "extensions", ())
            for ext in extensions:
                ext_cite = EXTENSION_SECTIONS.get(ext.type, "RFC 5246 §7.4.1.4")
                body.add(_name(ExtensionType, ext.type), ext.data.hex(), ext_cite)
            self._learn(message, source)
        return names

    def _reassemble(self, source: Address, frag: HandshakeFragment) -> bytes | None:
        """The whole message once every byte of it has arrived, in any fragments (a browser's
        ClientHello with a post-quantum key share spans two datagrams)."""
        key = (source, frag.message_seq, frag.msg_type)
        if frag.length > MAX_MESSAGE_LENGTH or frag.end > frag.length:
            return None
        if key not in self._fragments and len(self._fragments) >= MAX_PENDING_MESSAGES:
            del self._fragments[next(iter(self._fragments))]  # bounded: forget the oldest
        body, filled = self._fragments.setdefault(
            key, (bytearray(frag.length), bytearray(frag.length))
        )
        if len(body) != frag.length:
            return None
        body[frag.fragment_offset : frag.end] = frag.body
        filled[frag.fragment_offset : frag.end] = b"\x01" * len(frag.body)
        if 0 in filled:
            return None
        del self._fragments[key]
        return bytes(body)

    def _learn(self, message: object, source: Address) -> None:
        if isinstance(message, ClientHello):
            self.dtls_client = source
            self._client_random = message.random
        elif isinstance(message, ServerHello):
            self._server_random = message.random
            try:
                self._suite = CipherSuite(message.cipher_suite)
            except ValueError:
                self._suite = None
            for ext in message.extensions:
                if ext.type == ExtensionType.use_srtp:
                    try:
                        profiles = UseSrtp.decode(ext.data).profiles
                        self._srtp_profile = SrtpProfile(profiles[0])
                    except (DtlsError, ValueError, IndexError):
                        self._srtp_profile = None

    def _master_secret(self) -> bytes | None:
        if not self._client_random or not self._server_random or self._suite not in SUITES:
            return None
        return self.keys.master_secrets.get(self._client_random)

    def _open_record(self, source: Address, record: Record) -> bytes | None:
        if self._record_keys is None:
            master = self._master_secret()
            if master is None or self._suite is None:
                return None
            params = SUITES[self._suite]
            block = key_block(params, master, self._client_random, self._server_random)
            self._record_keys = _DtlsKeys(
                params.protection(block.client_write_key, block.client_write_iv),
                params.protection(block.server_write_key, block.server_write_iv),
            )
        keys = self._record_keys
        sender = keys.client if source == self.dtls_client else keys.server
        opened: bytes | None = sender.open(
            record.content_type,
            record.version,
            record.epoch,
            record.sequence_number,
            record.fragment,
        )
        return opened

    # -- SRTP, RTP and RTCP --------------------------------------------------------------

    def _srtp(self, source: Address) -> SrtpContext | None:
        if self._srtp_from_client is None:
            master = self._master_secret()
            profile = self._srtp_profile
            if master is None or profile is None or self._suite is None:
                return None
            material = export_keying_material(
                SUITES[self._suite].hash_name,
                master,
                client_random=self._client_random,
                server_random=self._server_random,
                label=_SRTP_EXPORTER_LABEL,
                length=PROFILE_SIZES[profile].keying_material_length,
                context=None,
            )
            try:
                self._srtp_from_client = SrtpContext(profile, material, is_server=True)
                self._srtp_from_server = SrtpContext(profile, material, is_server=False)
            except ValueError:
                return None
        return self._srtp_from_client if source == self.dtls_client else self._srtp_from_server

    def _rtp(self, data: bytes, source: Address, root: Field) -> Decoded:
        try:
            packet = RtpPacket.parse(data)
        except RtpError as exc:
            root.add("error", str(exc), "RFC 3550 §5.1")
            return Decoded("rtp", f"RTP malformed: {exc}", root)
        node = root.add("RTP header", None, "RFC 3550 §5.1")
        node.add("version", data[0] >> 6, "RFC 3550 §5.1")
        node.add("padding", packet.padding, "RFC 3550 §5.1")
        node.add("marker", packet.marker, "RFC 3550 §5.1")
        node.add("payload_type", packet.payload_type, "RFC 3550 §5.1")
        node.add("sequence_number", packet.sequence_number, "RFC 3550 §5.1")
        node.add("timestamp", packet.timestamp, "RFC 3550 §5.1")
        node.add("ssrc", packet.ssrc, "RFC 3550 §5.1")
        for csrc in packet.csrcs:
            node.add("csrc", csrc, "RFC 3550 §5.1")
        if packet.extension_profile is not None:
            form = "one-byte" if packet.extension_profile == ONE_BYTE_PROFILE else "two-byte"
            cite = "RFC 8285 §4.2" if form == "one-byte" else "RFC 8285 §4.3"
            ext = node.add("header extension", f"{form} (0x{packet.extension_profile:04x})", cite)
            for ident, value in sorted(packet.extensions.items()):
                ext.add(f"id {ident}", value.hex(), cite)
        summary = (
            f"SRTP pt={packet.payload_type} seq={packet.sequence_number} "
            f"ts={packet.timestamp} ssrc={packet.ssrc:#010x}"
        )
        context = self._srtp(source)
        plain = None
        if context is not None:
            try:
                plain = RtpPacket.parse(context.unprotect_rtp(data))
            except (SrtpError, RtpError) as exc:
                root.add("SRTP", f"not decrypted: {exc}", "RFC 3711 §3.3")
        if plain is None:
            root.add("payload", f"{len(packet.payload)} bytes, encrypted", "RFC 3711 §3.1")
            return Decoded("rtp", summary, root)
        payload = root.add("payload", f"{len(plain.payload)} bytes, decrypted", "RFC 3711 §3.3")
        if 96 <= plain.payload_type <= 127 and plain.payload:
            try:
                opus = parse_opus(plain.payload)
            except ValueError as exc:
                payload.add("Opus", f"not Opus: {exc}", "RFC 6716 §3.1")
            else:
                toc = payload.add("Opus TOC", f"0x{plain.payload[0]:02x}", "RFC 6716 §3.1")
                toc.add("config", opus.config, "RFC 6716 §3.1")
                toc.add("mode", opus.mode.name, "RFC 6716 §3.1")
                toc.add("bandwidth", opus.bandwidth.name, "RFC 6716 §3.1")
                toc.add("frame_ms", f"{opus.frame_duration * 1000:g}", "RFC 6716 §3.1")
                toc.add("stereo", opus.stereo, "RFC 6716 §3.1")
                toc.add("code", opus.code, "RFC 6716 §3.1")
                toc.add("frame_sizes", _show(opus.frame_sizes), "RFC 6716 §3.2.1")
                summary += f" opus {opus.mode.name} {opus.frame_duration * 1000:g}ms"
        return Decoded("rtp", summary, root)

    def _rtcp(self, data: bytes, source: Address, root: Field) -> Decoded:
        kind_names: list[str] = []
        context = self._srtp(source)
        plain = None
        if context is not None:
            try:
                plain = context.unprotect_rtcp(data)
            except SrtpError as exc:
                root.add("SRTCP", f"not decrypted: {exc}", "RFC 3711 §3.4")
        if plain is None:
            # RFC 3711 §3.4: the first eight bytes (header and sender SSRC) stay in the clear.
            node = root.add("RTCP packet", _rtcp_name(data[1]), "RFC 5761 §4")
            node.add("packet_type", data[1], "RFC 3550 §6.1")
            if len(data) >= 8:
                node.add("ssrc", int.from_bytes(data[4:8], "big"), "RFC 3550 §6.1")
            root.add("rest", "encrypted", "RFC 3711 §3.4")
            return Decoded("rtcp", f"SRTCP {_rtcp_name(data[1])} (encrypted)", root)
        root.add("SRTCP", "decrypted", "RFC 3711 §3.4")
        try:
            packets = parse_rtcp(plain)
        except RtpError as exc:
            root.add("error", str(exc), "RFC 3550 §6.1")
            return Decoded("rtcp", f"RTCP malformed: {exc}", root)
        pos = 0
        for packet in packets:
            packet_type = plain[pos + 1] if pos + 1 < len(plain) else 0
            length = (int.from_bytes(plain[pos + 2 : pos + 4], "big") + 1) * 4
            pos += length
            name = type(packet).__name__
            cite = _RTCP_SECTIONS.get(packet_type, "RFC 3550 §6.1")
            node = root.add("RTCP packet", name, cite)
            node.add("packet_type", packet_type, "RFC 3550 §6.1")
            _dataclass_fields(node, packet, skip=("reports", "chunks"))
            for block in getattr(packet, "reports", ()):
                report = node.add("report block", None, "RFC 3550 §6.4.1")
                _dataclass_fields(report, block)
            for chunk in getattr(packet, "chunks", ()):
                sdes = node.add("chunk", chunk.ssrc, "RFC 3550 §6.5")
                for item_type, value in chunk.items:
                    sdes.add(f"item {item_type}", value.decode("utf-8", "replace"), "RFC 3550 §6.5")
            kind_names.append(name)
        return Decoded("rtcp", "SRTCP " + ", ".join(kind_names), root)


def _rtcp_name(packet_type: int) -> str:
    return {200: "SR", 201: "RR", 202: "SDES", 203: "BYE", 205: "RTPFB", 206: "PSFB"}.get(
        packet_type, str(packet_type)
    )
