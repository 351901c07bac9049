"""Recording a call as it happens: what the sans-IO objects call, and where it goes.

The protocol objects take an optional tracer, the way aioquic's connections take a qlog
logger: :class:`~voice.peer.PeerConnection` calls :meth:`SessionTracer.datagram` for every
datagram in and out and hands the DTLS layer :meth:`SessionTracer.key_log`; the relay's
router calls :meth:`Tracer.route` for each routing decision. With no tracer the cost is one
``is None`` test per datagram. The tracer owns no socket and no clock either: the driver
that builds it says where records go (file objects, callbacks) and the offset from the
protocol clock to wall-clock time.

Each record is a plain dict, written as one JSON line::

    {"t": 1764441296.123, "session": "...", "dir": "in", "src": "127.0.0.1:50000",
     "dst": "127.0.0.1:3478", "kind": "stun", "summary": "STUN Binding request ...",
     "tree": {...}}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import IO, Any, Protocol

from voice.errors import ConfigError
from voice.trace.decode import FlowDecoder, KeyRing
from voice.trace.pcap import PcapWriter
from voice.trace.view import format_record
from voice.types import Address

Record = dict[str, Any]


class DatagramTracer(Protocol):
    """What a peer connection calls; :class:`SessionTracer` is the implementation."""

    def datagram(self, direction: str, data: bytes, remote: Address, now: float) -> None: ...
    def key_log(self, line: str) -> None: ...


def first_calls(choice: str) -> int | None:
    """How many calls a session choice stands for: ``first`` is 1, ``first:N`` is N; None
    for a session id. Raises ConfigError for ``first:`` with anything but a positive count."""
    if choice == "first":
        return 1
    if not choice.startswith("first:"):
        return None
    count = choice.removeprefix("first:")
    if not count.isdigit() or int(count) < 1:
        raise ConfigError(f"{choice!r}: 'first:N' needs a positive whole number of calls")
    return int(count)


def format_address(addr: Address) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Tracer:
    """A process's trace: decodes datagrams and fans records out to the configured sinks.

    ``jsonl`` receives JSON lines, ``pretty`` the terminal view (``color`` for ANSI colours,
    ``tree`` to show every decoded field), ``pcap`` the datagrams as packets, ``key_log`` the
    NSS key log lines. ``sessions`` limits tracing to those session ids (None: all); since
    ids are random and only known once a call exists, ``first`` (or ``first:N``) among them
    stands for the first call (the first N calls) that starts after the tracer is built.
    ``wall_offset`` is added to the protocol clock to stamp records with wall-clock time.
    ``keep`` also collects every record in :attr:`records` (for tests and tools).
    """

    def __init__(
        self,
        *,
        jsonl: IO[str] | None = None,
        pretty: IO[str] | None = None,
        color: bool = False,
        tree: bool = False,
        pcap: PcapWriter | None = None,
        key_log: IO[str] | None = None,
        sessions: Iterable[str] | None = None,
        wall_offset: float = 0.0,
        keep: bool = False,
    ) -> None:
        self.jsonl = jsonl
        self.pretty = pretty
        self.color = color
        self.tree = tree
        self.pcap = pcap
        self.key_log_file = key_log
        self.sessions: set[str] | None = None
        #: Calls still to be claimed by a ``first`` / ``first:N`` choice.
        self.first_left = 0
        if sessions is not None:
            self.sessions = set()
            for choice in sessions:
                count = first_calls(choice)
                if count is None:
                    self.sessions.add(choice)
                else:
                    self.first_left += count
        self.wall_offset = wall_offset
        self.records: list[Record] | None = [] if keep else None
        self.listeners: list[Callable[[Record], None]] = []
        self._key_lines: set[str] = set()

    @property
    def wants_records(self) -> bool:
        """Whether anything reads the decoded records (a key log or a pcap alone does not)."""
        return bool(
            self.jsonl is not None
            or self.pretty is not None
            or self.records is not None
            or self.listeners
        )

    def wants(self, session_id: str) -> bool:
        """Whether to trace this session; a new session may claim a ``first`` place."""
        if self.sessions is None or session_id in self.sessions:
            return True
        if self.first_left > 0:
            self.first_left -= 1
            self.sessions.add(session_id)
            return True
        return False

    def session(
        self, session_id: str, local: Address, stun_keys: Iterable[bytes] = ()
    ) -> SessionTracer | None:
        """A tracer for one call whose datagrams use ``local`` on our side; None when this
        session is not traced. ``stun_keys`` verify MESSAGE-INTEGRITY (the ICE password)."""
        if not self.wants(session_id):
            return None
        return SessionTracer(self, session_id, local, KeyRing(stun_keys))

    def route(
        self,
        now: float,
        leg: str,
        source: Address,
        decision: str,
        target: Address | None = None,
        *,
        client: Address | None = None,
    ) -> None:
        """Records one relay routing decision (VOICE-RELAY §2-§4, §12).

        ``leg`` names the path a forwarded datagram took (``client>transceiver``,
        ``transceiver>client``, ``client>backbone``, ``backbone>transceiver``,
        ``transceiver>backbone``, ``backbone>client``) or, for a drop or a parked datagram,
        the side it came in on (``client``, ``internal``, ``lookup``); ``decision`` is
        ``forwarded``, ``admitted``, ``dropped: <reason>`` (the relay's drop counter names)
        or ``parked: ...``; ``client`` is the call's client when the relay knows it.
        """
        record: Record = {
            "t": round(now + self.wall_offset, 6),
            "event": "route",
            "leg": leg,
            "decision": decision,
        }
        if source[0]:
            record["from"] = format_address(source)
        if target is not None:
            record["to"] = format_address(target)
        if client is not None:
            record["client"] = format_address(client)
        self.emit(record)

    def write_key_log(self, line: str) -> None:
        if line in self._key_lines:
            return
        self._key_lines.add(line)
        if self.key_log_file is not None:
            self.key_log_file.write(line + "\n")
            self.key_log_file.flush()

    def emit(self, record: Record) -> None:
        if self.records is not None:
            self.records.append(record)
        if self.jsonl is not None:
            self.jsonl.write(json.dumps(record, separators=(",", ":")) + "\n")
            self.jsonl.flush()
        if self.pretty is not None:
            self.pretty.write(format_record(record, color=self.color, tree=self.tree) + "\n")
            self.pretty.flush()
        for listener in list(self.listeners):
            listener(record)


class SessionTracer:
    """Traces one call: decodes each datagram with what the call's handshake revealed."""

    def __init__(self, tracer: Tracer, session_id: str, local: Address, keys: KeyRing) -> None:
        self.tracer = tracer
        self.session_id = session_id
        self.local = local
        self.decoder = FlowDecoder(keys)

    def datagram(self, direction: str, data: bytes, remote: Address, now: float) -> None:
        src, dst = (remote, self.local) if direction == "in" else (self.local, remote)
        t = now + self.tracer.wall_offset
        if self.tracer.pcap is not None:
            self.tracer.pcap.write(t, src, dst, data)
        if not self.tracer.wants_records:
            return  # --key-log or --pcap alone: nothing to decode for
        decoded = self.decoder.decode(data, src)
        self.tracer.emit(
            {
                "t": round(t, 6),
                "session": self.session_id,
                "dir": direction,
                "src": format_address(src),
                "dst": format_address(dst),
                "len": len(data),
                "kind": decoded.kind,
                "summary": decoded.summary,
                "tree": decoded.root.to_dict(),
            }
        )

    def key_log(self, line: str) -> None:
        """The DTLS layer's key log callback: decrypts this call and feeds the key log file."""
        self.decoder.keys.add_key_log_line(line)
        self.tracer.write_key_log(line)
