"""Keys for MESSAGE-INTEGRITY: short-term (ICE) and long-term (TURN-style) credentials.

ICE uses short-term credentials only: the key is the password itself (RFC 8489 §9.1.1), and
ICE passwords are plain ASCII (RFC 8839 §5.4), so :func:`short_term_key` is almost the
identity. Long-term credentials are here because the RFC 5769 test vectors include a
long-term request, and checking it byte-exactly shows our HMAC is computed over the right
bytes.

Password preparation changed between STUN revisions: RFC 5389 ran passwords through
SASLprep (RFC 4013, a stringprep profile), RFC 8489 through the PRECIS OpaqueString profile.
For ASCII passwords both are the identity. The RFC 5769 long-term vector was computed with
SASLprep (its password contains a soft hyphen, which SASLprep deletes and OpaqueString
refuses), so :func:`saslprep` is what :func:`long_term_key` uses by default.
"""

from __future__ import annotations

import hashlib
import stringprep
import unicodedata
from collections.abc import Callable

from voice.stun.errors import StunUsageError


def _map_spaces(text: str) -> str:
    # Non-ASCII spaces become U+0020 in both SASLprep and OpaqueString.
    return "".join(" " if stringprep.in_table_c12(ch) else ch for ch in text)


def opaque_string(text: str) -> str:
    """The mappings of the PRECIS OpaqueString profile (non-ASCII spaces to U+0020, NFC).

    The profile also refuses some code points (controls, default-ignorables); we do not
    check those, since every password we handle is either our own ASCII ICE password or a
    peer's that only has to match byte for byte.
    """
    if not text:
        raise StunUsageError("an empty password is not allowed")
    return unicodedata.normalize("NFC", _map_spaces(text))


_PROHIBITED: tuple[Callable[[str], bool], ...] = (
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
)


def saslprep(text: str) -> str:
    """SASLprep (RFC 4013), the password preparation of RFC 5389 long-term credentials.

    Map (drop "commonly mapped to nothing" characters such as the soft hyphen, turn
    non-ASCII spaces into spaces), normalise with NFKC, refuse prohibited characters, and
    apply the bidirectional rule. Unassigned code points are allowed (the "query" form),
    which is what a verifier of someone else's password needs.
    """
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch for ch in text if not stringprep.in_table_b1(ch)
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    for ch in prepared:
        if any(table(ch) for table in _PROHIBITED):
            raise StunUsageError(f"SASLprep prohibits U+{ord(ch):04X}")
    if any(stringprep.in_table_d1(ch) for ch in prepared):
        if any(stringprep.in_table_d2(ch) for ch in prepared):
            raise StunUsageError("SASLprep: mixed right-to-left and left-to-right text")
        if not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            raise StunUsageError("SASLprep: right-to-left text must start and end so")
    return prepared


def short_term_key(password: str) -> bytes:
    """The HMAC key of the short-term mechanism: the prepared password (RFC 8489 §9.1.1)."""
    return opaque_string(password).encode("utf-8")


def long_term_key(
    username: str,
    realm: str,
    password: str,
    *,
    prepare: Callable[[str], str] = saslprep,
) -> bytes:
    """The 16-byte MD5 key of the long-term mechanism (RFC 8489 §9.2.2).

    It is the MD5 of ``username ":" realm ":" password`` in UTF-8, with the password (and
    realm) prepared. Pass ``prepare=opaque_string`` for the RFC 8489 preparation.
    """
    text = f"{username}:{prepare(realm)}:{prepare(password)}"
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).digest()
