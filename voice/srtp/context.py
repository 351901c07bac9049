"""SRTP and SRTCP protection for one DTLS-SRTP association, over libsrtp (via pylibsrtp).

libsrtp does the cryptography; this module decides how it is keyed and turns everything it
can say into one exception. An :class:`SrtpContext` holds two libsrtp sessions:

* the **outbound** one, keyed with our side's master key and salt, protects what we send;
* the **inbound** one, keyed with the peer's, checks and decrypts what arrives.

Both use a wildcard SSRC policy, so the first packet of any SSRC creates its stream: the
peer's SSRC is not known when the keys are (DTLS completes before the first RTP packet).
libsrtp only adds an inbound stream after the packet that names it authenticates, so a
forger cannot fill the stream table with junk SSRCs.

Each session serves both RTP and RTCP: RFC 3711 §3.2.1 has SRTCP share the master key with
SRTP, deriving its own session keys with different labels and keeping its own replay list.
"""

from __future__ import annotations

import functools
import logging

import pylibsrtp

from voice.counters import Counters
from voice.srtp.errors import SrtpError, SrtpFailure, SrtpUsageError
from voice.srtp.keys import split_keying_material
from voice.srtp.profiles import PREFERENCE, PROFILE_SIZES, SrtpProfile

logger = logging.getLogger(__name__)

#: Our profile numbers are IANA's (RFC 5764 §4.1.2, RFC 7714 §14.2); libsrtp numbers its
#: profiles the same way today, but the mapping is written out rather than assumed.
_LIBSRTP_PROFILE: dict[SrtpProfile, int] = {
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_32: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    SrtpProfile.SRTP_AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    SrtpProfile.SRTP_AEAD_AES_256_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}

#: libsrtp's messages (pylibsrtp turns its status codes into these strings) and what they
#: mean for a caller deciding what to count.
_REASONS: dict[str, SrtpFailure] = {
    "authentication failure": SrtpFailure.AUTH_FAIL,
    "replay check failed (bad index)": SrtpFailure.REPLAY,
    "replay check failed (index too old)": SrtpFailure.TOO_OLD,
    "unsupported parameter": SrtpFailure.MALFORMED,
    "error parsing data": SrtpFailure.MALFORMED,
    "couldn't read data": SrtpFailure.MALFORMED,
    "unable to perform desired validation": SrtpFailure.MALFORMED,
    "can't use key any more": SrtpFailure.KEY_EXPIRED,
    "packet is too long": SrtpFailure.TOO_LONG,
}

#: RFC 3711 §3.3.2 asks for a replay window of at least 64 packets. Audio at 50 packets a
#: second reorders over far fewer, but a wider window costs nothing and matches what
#: browsers use, so a burst of late packets after a network hiccup is not dropped as "old".
DEFAULT_REPLAY_WINDOW = 1024


def _translate(exc: Exception) -> SrtpError:
    detail = str(exc)
    return SrtpError(_REASONS.get(detail, SrtpFailure.OTHER), detail)


def _session(
    profile: SrtpProfile,
    master: bytes,
    *,
    outbound: bool,
    replay_window: int,
    allow_repeat_tx: bool,
) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(
        key=master,
        ssrc_type=(
            pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND
        ),
        srtp_profile=_LIBSRTP_PROFILE[profile],
    )
    policy.window_size = replay_window
    policy.allow_repeat_tx = allow_repeat_tx
    return pylibsrtp.Session(policy)


#: What a context counts when all goes well; failures add ``<operation>_<reason>``.
_SUCCESSES = ("rtp_protected", "rtp_unprotected", "rtcp_protected", "rtcp_unprotected")


class SrtpContext:
    """Protects what we send and unprotects what the peer sends, for one DTLS-SRTP peer.

    ``keying_material`` is the DTLS exporter output (RFC 5764 §4.2); ``is_server`` says
    whether we were the DTLS server, which decides which half of it is ours.

    ``allow_repeat_tx`` lets the sender protect the same sequence number twice. It is off
    by default because AES-CM with a repeated index reuses keystream (RFC 3711 §4.1.1): turn
    it on only for true retransmissions of identical bytes.

    Every ``unprotect_*`` either returns the plain packet or raises :class:`SrtpError` with
    a :class:`SrtpFailure` reason; the failure is also counted in :attr:`counters`.
    """

    __slots__ = (
        "_inbound",
        "_outbound",
        "counters",
        "is_server",
        "profile",
    )

    def __init__(
        self,
        profile: SrtpProfile,
        keying_material: bytes,
        *,
        is_server: bool,
        replay_window: int = DEFAULT_REPLAY_WINDOW,
        allow_repeat_tx: bool = False,
    ) -> None:
        if profile not in supported_profiles():
            raise SrtpUsageError(f"the installed libsrtp cannot do {profile.name}")
        if not 64 <= replay_window < 0x8000:
            # RFC 3711 §3.3.2: at least 64; libsrtp's bitmap stops below 2^15.
            raise SrtpUsageError("replay_window must be in 64..32767")
        keys = split_keying_material(profile, keying_material)
        self.profile = profile
        self.is_server = is_server
        self._outbound = _session(
            profile,
            keys.local_master(is_server=is_server),
            outbound=True,
            replay_window=replay_window,
            allow_repeat_tx=allow_repeat_tx,
        )
        self._inbound = _session(
            profile,
            keys.remote_master(is_server=is_server),
            outbound=False,
            replay_window=replay_window,
            allow_repeat_tx=False,
        )
        #: Packets handled and packets refused, by reason, for the driver to export.
        #: Successes are ``rtp_protected``, ``rtp_unprotected``, ``rtcp_protected`` and
        #: ``rtcp_unprotected``; failures are ``<operation>_<reason>``, for example
        #: ``rtp_unprotect_auth_fail`` or ``rtcp_unprotect_replay``.
        self.counters: Counters[str] = Counters(_SUCCESSES)

    @property
    def rtp_overhead(self) -> int:
        """Bytes SRTP adds to each RTP packet (the tag), for sizing payloads to the MTU."""
        return PROFILE_SIZES[self.profile].rtp_overhead

    @property
    def rtcp_overhead(self) -> int:
        """Bytes SRTCP adds to each compound RTCP packet (index word and tag)."""
        return PROFILE_SIZES[self.profile].rtcp_overhead

    def _fail(self, operation: str, exc: Exception) -> SrtpError:
        error = _translate(exc)
        self.counters[f"{operation}_{error.reason.value}"] += 1
        return error

    # The four methods below are the per-packet hot path: one call into libsrtp, one
    # counter, and the translation of failures. Data that is not ``bytes`` (a bytearray,
    # a memoryview) makes pylibsrtp raise TypeError, which is translated like the rest.

    def protect_rtp(self, packet: bytes) -> bytes:
        """Encrypts and authenticates one RTP packet we send (RFC 3711 §3.3)."""
        try:
            data: bytes = self._outbound.protect(packet)
        except (pylibsrtp.Error, ValueError, TypeError) as exc:
            raise self._fail("rtp_protect", exc) from None
        self.counters["rtp_protected"] += 1
        return data

    def unprotect_rtp(self, data: bytes) -> bytes:
        """Checks replay and the tag of one SRTP packet from the peer, then decrypts it.

        RFC 3711 §3.3: a packet that is replayed or fails authentication is discarded.
        """
        try:
            packet: bytes = self._inbound.unprotect(data)
        except (pylibsrtp.Error, ValueError, TypeError) as exc:
            raise self._fail("rtp_unprotect", exc) from None
        self.counters["rtp_unprotected"] += 1
        return packet

    def protect_rtcp(self, packet: bytes) -> bytes:
        """Encrypts one compound RTCP packet we send and appends the SRTCP index and tag.

        RFC 3711 §3.4: the E flag is set (we always encrypt) and the index counts up by one
        per packet; libsrtp numbers the first packet 1, which a receiver cannot tell from 0
        since it reads the index from the packet.
        """
        try:
            data: bytes = self._outbound.protect_rtcp(packet)
        except (pylibsrtp.Error, ValueError, TypeError) as exc:
            raise self._fail("rtcp_protect", exc) from None
        self.counters["rtcp_protected"] += 1
        return data

    def unprotect_rtcp(self, data: bytes) -> bytes:
        """Checks the SRTCP tag and replay list of one packet from the peer and decrypts it."""
        try:
            packet: bytes = self._inbound.unprotect_rtcp(data)
        except (pylibsrtp.Error, ValueError, TypeError) as exc:
            raise self._fail("rtcp_unprotect", exc) from None
        self.counters["rtcp_unprotected"] += 1
        return packet

    def __repr__(self) -> str:
        # Never the keys: a context may well end up in a log line.
        side = "server" if self.is_server else "client"
        return f"<SrtpContext {self.profile.name} {side}>"


@functools.cache
def _probe() -> tuple[SrtpProfile, ...]:
    """Which profiles the installed libsrtp really runs: a round trip with a dummy key each.

    libsrtp can be built without the AEAD ciphers (they need OpenSSL, NSS or mbedTLS
    underneath); asking the library to protect and unprotect a packet is the only reliable
    way to know.
    """
    found = []
    packet = bytes.fromhex("80000001000000000000000a") + bytes(20)
    for profile in PREFERENCE:
        sizes = PROFILE_SIZES[profile]
        master = bytes(range(1, sizes.key_length + sizes.salt_length + 1))
        try:
            tx = _session(profile, master, outbound=True, replay_window=128, allow_repeat_tx=False)
            rx = _session(profile, master, outbound=False, replay_window=128, allow_repeat_tx=False)
            ok = rx.unprotect(tx.protect(packet)) == packet
        except (pylibsrtp.Error, ValueError) as exc:
            logger.info("libsrtp cannot do %s: %s", profile.name, exc)
            continue
        if ok:
            found.append(profile)
    return tuple(found)


def supported_profiles() -> list[SrtpProfile]:
    """The profiles the installed libsrtp can protect with, most preferred first."""
    return list(_probe())
