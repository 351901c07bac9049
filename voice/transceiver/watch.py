"""Live trace feeds for one session at a time: what the demo page's ladder diagram reads.

Watching a call turns its tracing on from that moment (a :class:`~voice.trace.SessionTracer`
attached to the call's :class:`~voice.peer.PeerConnection`), so calls nobody watches cost
nothing; when the server already traces every call (``voice serve --trace``) the feed
listens to that tracer instead. Each watcher gets a bounded channel: a page that reads too
slowly loses records (counted), it never slows the call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import trio

from voice.peer import PeerConnection
from voice.trace import SessionTracer, Tracer
from voice.types import Address

Record = dict[str, Any]

#: Watchers one session may have at once.
MAX_WATCHERS = 4
#: Records a watcher may fall behind before the oldest new ones are dropped.
FEED_CAPACITY = 2000


class TraceWatchers:
    """The feeds of every watched session of one transceiver."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._feeds: dict[str, list[trio.MemorySendChannel[Record]]] = {}
        # Per watched session: the tracer listened to, our listener, and the peer when we
        # attached that tracer ourselves (to detach it when the last watcher leaves).
        self._listening: dict[
            str, tuple[Tracer, Callable[[Record], None], PeerConnection | None]
        ] = {}
        #: Records a slow watcher did not get.
        self.dropped = 0

    def register(self, session_id: str, stun_key: bytes) -> None:
        """Remembers the session's ICE key, so a watcher sees MESSAGE-INTEGRITY verdicts."""
        self._keys[session_id] = stun_key

    def watch(
        self, session_id: str, peer: PeerConnection, local: Address
    ) -> trio.MemoryReceiveChannel[Record] | None:
        """A feed of the session's records from now on; None when it cannot be watched."""
        feeds = self._feeds.setdefault(session_id, [])
        if peer.closed or session_id not in self._keys or len(feeds) >= MAX_WATCHERS:
            return None
        if session_id not in self._listening:
            attached: PeerConnection | None = None
            if isinstance(peer.tracer, SessionTracer):
                tracer = peer.tracer.tracer
            else:
                tracer = Tracer(wall_offset=time.time() - trio.current_time())
                peer.tracer = tracer.session(session_id, local, [self._keys[session_id]])
                attached = peer

            def listener(record: Record) -> None:
                if record.get("session") == session_id:
                    self._deliver(session_id, record)

            tracer.listeners.append(listener)
            self._listening[session_id] = (tracer, listener, attached)
        send, receive = trio.open_memory_channel[Record](FEED_CAPACITY)
        feeds.append(send)
        return receive

    def _deliver(self, session_id: str, record: Record) -> None:
        feeds = self._feeds.get(session_id, [])
        for feed in list(feeds):
            try:
                feed.send_nowait(record)
            except trio.WouldBlock:
                self.dropped += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                feeds.remove(feed)
        if not feeds:
            self._stop_listening(session_id)  # the last watcher left: tracing costs again 0

    def _stop_listening(self, session_id: str) -> None:
        if (listening := self._listening.pop(session_id, None)) is not None:
            tracer, listener, attached = listening
            tracer.listeners.remove(listener)
            if attached is not None:
                attached.tracer = None

    def forget(self, session_id: str) -> None:
        """The session ended: every feed ends, and its key is dropped."""
        self._keys.pop(session_id, None)
        for feed in self._feeds.pop(session_id, ()):
            feed.close()
        self._stop_listening(session_id)
