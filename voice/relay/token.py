"""Routing tokens: the session's server ICE ufrag, minted so that a relay can route by it.

A relay in front of many transceivers has one public UDP port and no per-session state it
cannot lose. When a packet arrives from a client address it has never seen, the only thing
it can route by is what the packet says about itself: the USERNAME of the client's first ICE
connectivity check, whose first half is the *server's* ufrag (RFC 8445 §7.2.2). So signaling
mints that ufrag as a *routing token* (VOICE-TOKEN §1): it names the owning transceiver, and
carries a MAC under a fleet key, so that nobody but signaling can make a relay send packets
to an internal address of their choosing.

Version 1 is 24 bytes, written as 32 characters of the base64 alphabet without padding,
which is exactly the ICE ufrag character set (RFC 8839 §5.4) (VOICE-TOKEN §3, §5)::

    byte 0       version (6 bits) | key id (2 bits)   -> first character names the version
    bytes 1-2    cluster id          (uint16)
    bytes 3-4    transceiver id      (uint16)
    bytes 5-7    issued, minutes since 2024-01-01T00:00Z (uint24)
    bytes 8-15   random              (64 bits from the CSPRNG)
    bytes 16-23  MAC = HMAC-SHA256(key, "voice-token" || bytes 0-15), first 8 bytes

Decisions, each argued in ``spec/voice-token.md``:

* **Key rotation by key id** (VOICE-TOKEN §7): two bits of the first byte name the key, so a
  verifier computes one HMAC per token, never two, however many keys it holds. A forged
  token therefore costs the relay exactly one HMAC, and rotation is "add key n+1 to every
  relay, then make it current in signaling, then retire key n-1"; ids count modulo 4.
* **Coarse expiry** (VOICE-TOKEN §8): the token carries its minting minute and a verifier
  refuses tokens older than ``max_age`` (default 24 hours) or more than ``max_skew`` in the
  future. The relay checks the token only when it admits a *new* client address (first
  check, NAT rebinding, the client side of a relay restart), so the age limit only has to be
  longer than a call; what it buys is that a token captured off the wire stops opening relay
  entries a day later instead of working until the fleet key is rotated. Three bytes.
* **64-bit MAC**: an online forgery succeeds with probability 2^-64 per packet; the relay's
  admission rate limit is not needed to make that negligible.

Nothing here reads a clock: :meth:`TokenMinter.mint` and :meth:`TokenVerifier.verify` take
the wall-clock time (seconds since the Unix epoch) as an argument.
"""

from __future__ import annotations

import binascii
import enum
import hashlib
import hmac
import os
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from voice.errors import ConfigError
from voice.relay.errors import RelayUsageError

#: The version this module mints. VOICE-TOKEN §6: the first character of the token is the
#: base64 digit of the version, so version 1 tokens all start with "B".
VERSION = 1
#: VOICE-TOKEN §5: a version 1 token is exactly this many characters.
TOKEN_LENGTH = 32
#: VOICE-TOKEN §8: minute 0 of the issued field, 2024-01-01T00:00:00Z as a Unix time.
ISSUED_EPOCH = 1_704_067_200
#: The issued field is 24 bits of minutes: it runs out in November 2055.
ISSUED_MAX = (1 << 24) - 1
#: VOICE-TOKEN §4: the label that starts every MAC input (domain separation).
MAC_LABEL = b"voice-token"
MAC_LENGTH = 8
RANDOM_LENGTH = 8
MIN_SECRET_LENGTH = 16
KEY_IDS = 4

_BODY = struct.Struct("!BHH3s8s")  # version|kid, cluster, transceiver, issued, random
_VERSION_CHAR = b"B"[0]  # the base64 digit for 1
_RAW_LENGTH = _BODY.size + MAC_LENGTH  # 24


@dataclass(frozen=True, slots=True)
class TokenKey:
    """One fleet key: a 2-bit id carried in the token and a secret of at least 16 bytes.

    ``repr`` never shows the secret, so a key can appear in a log line or a traceback.
    """

    key_id: int
    secret: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.key_id < KEY_IDS:
            raise RelayUsageError(f"key id must be 0..{KEY_IDS - 1} (ids count modulo {KEY_IDS})")
        if len(self.secret) < MIN_SECRET_LENGTH:
            raise RelayUsageError(f"a fleet key needs at least {MIN_SECRET_LENGTH} secret bytes")

    def __repr__(self) -> str:
        return f"TokenKey(key_id={self.key_id}, secret=<{len(self.secret)} bytes>)"


@dataclass(frozen=True, slots=True)
class RoutingTarget:
    """What a verified token says: the cluster and the transceiver that own the session."""

    cluster: int
    transceiver: int


class TokenRejection(enum.Enum):
    """Why :meth:`TokenVerifier.check` refused a token (VOICE-TOKEN §9, in check order)."""

    MALFORMED = "malformed"  # wrong length or a character outside the base64 alphabet
    UNKNOWN_VERSION = "unknown-version"
    UNKNOWN_KEY = "unknown-key"
    BAD_MAC = "bad-mac"
    EXPIRED = "expired"
    FROM_THE_FUTURE = "from-the-future"


def _mac(secret: bytes, body: bytes) -> bytes:
    # VOICE-TOKEN §4: HMAC-SHA256 over the label and the first 16 bytes, truncated to 8.
    return hmac.digest(secret, MAC_LABEL + body, hashlib.sha256)[:MAC_LENGTH]


def _encode(raw: bytes) -> str:
    # 24 bytes are exactly 32 base64 digits, so there is never padding ("=" is not an ICE
    # character) and every token has one spelling.
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


class TokenMinter:
    """Mints the server ufrags of one transceiver (signaling holds one per transceiver)."""

    def __init__(
        self,
        key: TokenKey,
        cluster: int,
        transceiver: int,
        *,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if not 0 <= cluster <= 0xFFFF or not 0 <= transceiver <= 0xFFFF:
            raise RelayUsageError("cluster and transceiver ids are 16-bit unsigned numbers")
        self.key = key
        self.cluster = cluster
        self.transceiver = transceiver
        self._random = random

    def mint(self, now: float) -> str:
        """A fresh token; ``now`` is the wall-clock time in seconds since the Unix epoch."""
        minutes = int(now - ISSUED_EPOCH) // 60
        if not 0 <= minutes <= ISSUED_MAX:
            raise RelayUsageError("the clock is outside the range version 1 tokens can express")
        random = self._random(RANDOM_LENGTH)
        if len(random) != RANDOM_LENGTH:
            raise RelayUsageError(f"the random source must return {RANDOM_LENGTH} bytes")
        body = _BODY.pack(
            VERSION << 2 | self.key.key_id,
            self.cluster,
            self.transceiver,
            minutes.to_bytes(3, "big"),
            random,
        )
        return _encode(body + _mac(self.key.secret, body))


class TokenVerifier:
    """Checks tokens against every key a relay currently accepts (current and previous).

    Never raises on input: anything that is not a valid, unexpired token is a rejection.
    """

    def __init__(
        self,
        keys: Sequence[TokenKey],
        *,
        max_age: float | None = 24 * 3600.0,
        max_skew: float = 300.0,
    ) -> None:
        self._secrets: dict[int, bytes] = {}
        for key in keys:
            if key.key_id in self._secrets and self._secrets[key.key_id] != key.secret:
                raise RelayUsageError(f"two different keys share the key id {key.key_id}")
            self._secrets[key.key_id] = key.secret
        if not self._secrets:
            raise RelayUsageError("a verifier needs at least one key")
        self.max_age = max_age
        self.max_skew = max_skew

    def check(self, ufrag: str | bytes, now: float) -> RoutingTarget | TokenRejection:
        """Verifies ``ufrag`` at wall-clock time ``now``: the target, or why it was refused."""
        if isinstance(ufrag, str):
            try:
                ufrag = ufrag.encode("ascii")
            except UnicodeEncodeError:
                return TokenRejection.MALFORMED
        # VOICE-TOKEN §9: cheap checks first, so garbage costs no HMAC.
        if len(ufrag) != TOKEN_LENGTH:
            return TokenRejection.MALFORMED
        if ufrag[0] != _VERSION_CHAR:
            return TokenRejection.UNKNOWN_VERSION
        try:
            raw = binascii.a2b_base64(ufrag, strict_mode=True)
        except (binascii.Error, ValueError):
            return TokenRejection.MALFORMED
        if len(raw) != _RAW_LENGTH:  # "=" padding inside 32 characters shortens the data
            return TokenRejection.MALFORMED
        secret = self._secrets.get(raw[0] & (KEY_IDS - 1))
        if secret is None:
            return TokenRejection.UNKNOWN_KEY
        body = raw[: _BODY.size]
        # VOICE-TOKEN §9: constant-time comparison, so timing tells an attacker nothing
        # about how many MAC bytes they got right.
        if not hmac.compare_digest(_mac(secret, body), raw[_BODY.size :]):
            return TokenRejection.BAD_MAC
        _, cluster, transceiver, issued, _ = _BODY.unpack(body)
        age = now - (ISSUED_EPOCH + 60 * int.from_bytes(issued, "big"))
        # VOICE-TOKEN §8: the issued minute is rounded down (a fresh token is up to 59 s
        # "old"); the skew allowance covers signaling clocks running ahead of the relay's.
        if self.max_age is not None and age > self.max_age:
            return TokenRejection.EXPIRED
        if age < -self.max_skew:
            return TokenRejection.FROM_THE_FUTURE
        return RoutingTarget(cluster, transceiver)

    def verify(self, ufrag: str | bytes, now: float) -> RoutingTarget | None:
        """The transceiver ``ufrag`` names, or None for anything but a valid token."""
        result = self.check(ufrag, now)
        return result if isinstance(result, RoutingTarget) else None


_KEY_ITEM = re.compile(r"^(\d+):([0-9a-fA-F]+)$")


def parse_keys(text: str) -> list[TokenKey]:
    """Reads fleet keys written as ``ID:HEXSECRET`` items separated by commas or whitespace.

    This is the format of ``VOICE_FLEET_KEYS`` and of a key file. The first item is the
    current key (the one signaling mints with); the others are still accepted by verifiers.
    The keys are operator input, so anything wrong is a :class:`~voice.errors.ConfigError`
    naming the item's position, never its secret.
    """
    keys: list[TokenKey] = []
    text = re.sub(r"#[^\n]*", "", text)  # comments run to the end of the line
    for n, item in enumerate(re.split(r"[\s,]+", text.strip()), 1):
        if not item:
            continue
        m = _KEY_ITEM.match(item)
        if m is None or len(m.group(2)) % 2:
            raise ConfigError(f"fleet key {n} is not written as ID:HEXSECRET")
        try:
            keys.append(TokenKey(int(m.group(1)), bytes.fromhex(m.group(2))))
        except RelayUsageError as exc:  # an id out of range, a short secret: never the secret
            raise ConfigError(f"fleet key {n}: {exc}") from None
    if not keys:
        raise ConfigError("no fleet key given")
    return keys


__all__ = [
    "RoutingTarget",
    "TokenKey",
    "TokenMinter",
    "TokenRejection",
    "TokenVerifier",
    "parse_keys",
]
