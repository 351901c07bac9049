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

#: RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/".
ICE_CHARS = string.ascii_letters + string.digits + "+/"

UFRAG_LENGTH = 8  # 48 bits, twice the required minimum of 24
PASSWORD_LENGTH = 24  # 144 bits, above the required minimum of 128


def generate_ufrag(length: int = UFRAG_LENGTH) -> str:
    """A random ICE username fragment of ``length`` (4 to 256) ice-chars (RFC 8839 §5.4)."""
    if not 4 <= length <= 256:
        raise ValueError("an ice-ufrag is 4 to 256 characters")
    return "".join(secrets.choice(ICE_CHARS) for _ in range(length))


def generate_password(length: int = PASSWORD_LENGTH) -> str:
    """A random ICE password of ``length`` (22 to 256) ice-chars (RFC 8839 §5.4)."""
    if not 22 <= length <= 256:
        raise ValueError("an ice-pwd is 22 to 256 characters")
    return "".join(secrets.choice(ICE_CHARS) for _ in range(length))


def is_ice_string(value: str, minimum: int) -> bool:
    """Whether ``value`` is ``minimum`` to 256 ice-chars, the shape of ice-ufrag/ice-pwd."""
    return minimum <= len(value) <= 256 and all(ch in ICE_CHARS for ch in value)
