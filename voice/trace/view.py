"""The readable, coloured terminal view of trace records.

One line per datagram: time, session, direction arrow, addresses, and the decoder's summary
(the STUN method and transaction id with its integrity verdict, the DTLS handshake messages
with their sequence numbers, the RTP sequence number and SSRC). With ``tree`` every decoded
field follows, indented, with the section that defines it.
"""

from __future__ import annotations

import time
from typing import Any

_RESET = "\033[0m"
_DIM = "\033[2m"
_COLORS = {
    "stun": "\033[36m",  # cyan
    "dtls": "\033[35m",  # magenta
    "rtp": "\033[32m",  # green
    "rtcp": "\033[33m",  # yellow
    "route": "\033[34m",  # blue
}


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}"


def _tree_lines(node: dict[str, Any], depth: int, color: bool) -> list[str]:
    value = node.get("value")
    text = "  " * depth + str(node["name"]) + ("" if value is None else f": {value}")
    cite = node.get("cite")
    if cite:
        text += f"  {_DIM}{cite}{_RESET}" if color else f"  ({cite})"
    lines = [text]
    for child in node.get("children", ()):
        lines.extend(_tree_lines(child, depth + 1, color))
    return lines


def format_record(record: dict[str, Any], *, color: bool = False, tree: bool = False) -> str:
    """One record as text: a summary line, and with ``tree`` the decoded fields under it."""
    t = _clock(float(record.get("t", 0.0)))
    if record.get("event") == "route":
        kind = "route"
        where = f" -> {record['to']}" if "to" in record else ""
        client = record.get("client")
        shown = (record.get("from"), record.get("to"))
        about = f" (client {client})" if client and client not in shown else ""
        line = (
            f"{t} relay    {record.get('leg', '')} {record.get('from', '')}{where}  "
            f"{record['decision']}{about}"
        )
    else:
        kind = str(record.get("kind", "?"))
        arrow = "<-" if record.get("dir") == "in" else "->"
        session = str(record.get("session", ""))[:8]
        line = (
            f"{t} {session:<8} {arrow} {record.get('src')} > {record.get('dst')} "
            f"{kind:<5} {record.get('summary', '')}"
        )
    if color:
        line = _COLORS.get(kind, "") + line + _RESET
    if tree and "tree" in record:
        line += "\n" + "\n".join(_tree_lines(record["tree"], 2, color))
    return line
