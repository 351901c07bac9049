"""ICE username fragments and passwords (RFC 8839 §5.4).

Both are drawn from the 64 "ice-char" characters (letters, digits, "+" and "/"), so each
character carries 6 bits. The ufrag must be at least 4 characters and carry at least 24 bits
of randomness; the password at least 22 characters and 128 bits. The password is the
MESSAGE-INTEGRITY key of every check, so it is what keeps an off-path attacker from forging
them; the ufrag is only an identifier (and, in ``voice``, the relay's routing token).
"""

from __future__ import annotations

import secrets
import string

from voice.ice.errors import IceUsageError

#: RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/".
ICE_CHARS = string.ascii_letters + string.digits + "+/"
_ICE_CHAR_SET = frozenset(ICE_CHARS)

UFRAG_LENGTH = 8  # 48 bits, twice the required minimum of 24
PASSWORD_LENGTH = 24  # 144 bits, above the required minimum of 128


def generate_ufrag(length: int = UFRAG_LENGTH) -> str:
    """A random ICE username fragment of ``length`` (4 to 256) ice-chars (RFC 8839 §5.4)."""
    if not 4 <= length <= 256:
        raise IceUsageError("an ice-ufrag is 4 to 256 characters")
    return "".join(secrets.choice(ICE_CHARS) for _ in range(length))


def generate_password(length: int = PASSWORD_LENGTH) -> str:
    """A random ICE password of ``length`` (22 to 256) ice-chars (RFC 8839 §5.4)."""
    if not 22 <= length <= 256:
        raise IceUsageError("an ice-pwd is 22 to 256 characters")
    return "".join(secrets.choice(ICE_CHARS) for _ in range(length))


def is_ice_chars(value: str) -> bool:
    """Whether ``value`` is one or more ice-chars (an ice-options tag, for one)."""
    return bool(value) and _ICE_CHAR_SET.issuperset(value)


def is_ice_string(value: str, minimum: int, maximum: int = 256) -> bool:
    """Whether ``value`` is ``minimum`` to ``maximum`` ice-chars.

    The shape of ice-ufrag (4 to 256), ice-pwd (22 to 256) and a candidate's foundation
    (1 to 32). Both :mod:`voice.ice` and :mod:`voice.sdp` check them with this one function.
    """
    return minimum <= len(value) <= maximum and is_ice_chars(value)
