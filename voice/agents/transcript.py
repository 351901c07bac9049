"""The transcript of a conversing call, and the HTTP route the demo page reads it from.

A call's lines live in its :class:`Transcript`, found by session id in a process-wide table
that holds a call only while its agent runs. The page long-polls
``GET /v1/sessions/<id>/transcript?after=<n>``: the answer comes as soon as there is a line
after the ``n`` it has, or after ``WAIT`` seconds with none, so a turn shows up as it
happens without a request every few hundred milliseconds. Reading it needs what
changing the session needs: the session's key from the Location of the 201 (or the bearer
token), because a transcript holds what the caller said and session ids appear in logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

#: Seconds a long-poll waits for a new line.
WAIT = 10.0
#: Lines kept per call; the oldest go first.
MAX_LINES = 200


@dataclass(frozen=True, slots=True)
class Line:
    index: int
    role: str  # "caller" or "agent"
    text: str
    at: float


class Transcript:
    def __init__(self) -> None:
        self.lines: list[Line] = []
        self._count = 0
        self._changed = trio.Event()

    def add(self, role: str, text: str) -> None:
        self._count += 1
        self.lines.append(Line(self._count, role, text, trio.current_time()))
        del self.lines[:-MAX_LINES]
        self._changed.set()
        self._changed = trio.Event()

    async def after(self, index: int, wait: float = WAIT) -> list[Line]:
        """The lines after ``index``, waiting up to ``wait`` seconds for one to come."""
        with trio.move_on_after(wait):
            while self._count <= index:
                await self._changed.wait()
        return [line for line in self.lines if line.index > index]


#: Calls whose agent is running, by session id.
TRANSCRIPTS: dict[str, Transcript] = {}


def blueprint(authorise: Callable[[str], Any] | None = None) -> Any:
    """The Quart blueprint of the transcript route (imported lazily: Quart is heavy).

    ``authorise(session_id)`` returns None when the request may read that session (the
    signaling app checks the session's key from its Location URL, or the bearer token), or
    the refusal to send instead."""
    from quart import Blueprint, Response, request

    bp = Blueprint("transcript", __name__)

    @bp.get("/v1/sessions/<session_id>/transcript")
    async def transcript(session_id: str) -> Response | dict[str, object]:
        if authorise is not None and (refusal := authorise(session_id)) is not None:
            return refusal  # type: ignore[no-any-return]
        found = TRANSCRIPTS.get(session_id)
        if found is None:
            return Response(
                f"no conversing session {session_id[:64]}\n", 404, content_type="text/plain"
            )
        try:
            after = int(request.args.get("after", "0"))
        except ValueError:
            return Response("after must be a whole number\n", 400, content_type="text/plain")
        lines = await found.after(after)
        return {
            "lines": [{"index": ln.index, "role": ln.role, "text": ln.text} for ln in lines],
            "next": lines[-1].index if lines else after,
        }

    return bp
