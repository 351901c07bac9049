"""Small lexical checks shared by the SDP parsers (the ABNF of RFC 8866 §9).

Python's own conversions are too generous for protocol text: ``int()`` accepts ``" 12"``,
``"1_000"`` and Arabic-Indic digits, and gives up with a bare :class:`ValueError` on numbers
longer than 4300 digits. Every number an SDP parser reads goes through :func:`number`, which
accepts ASCII digits only, bounds their count, and raises :class:`SdpParseError`.
The ICE grammar's pieces (ice-char, the candidate) live in :mod:`voice.ice`.
"""

from __future__ import annotations

from voice.sdp.errors import SdpParseError

#: token-char of RFC 8866 §9: visible ASCII except ``"`` ``(`` ``)`` ``,`` ``/`` ``:`` ``;``
#: ``<`` ``=`` ``>`` ``?`` ``@`` ``[`` ``\`` ``]``.
TOKEN_CHARS = frozenset(
    "!#$%&'*+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz{|}~"
)


def is_token(text: str) -> bool:
    return bool(text) and TOKEN_CHARS.issuperset(text)


def number(text: str, what: str, *, maximum: int | None = None, digits: int = 20) -> int:
    """Reads a decimal number of at most ``digits`` ASCII digits, no larger than ``maximum``."""
    if not (text.isascii() and text.isdigit()) or len(text) > digits:
        raise SdpParseError(f"{what} {text!r} is not a number")
    value = int(text)
    if maximum is not None and value > maximum:
        raise SdpParseError(f"{what} {value} is larger than {maximum}")
    return value
