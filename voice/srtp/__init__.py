"""SRTP keyed from DTLS (RFC 3711, RFC 5764 §4.2, RFC 7714), over libsrtp.

The transceiver builds one :class:`SrtpContext` per call from the DTLS exporter output and
calls ``protect_*`` on what it sends and ``unprotect_*`` on what it receives::

    ctx = SrtpContext(profile, dtls.export_keying_material(...), is_server=True)
    wire = ctx.protect_rtp(rtp_packet.encode())
    try:
        plain = ctx.unprotect_rtp(datagram)
    except SrtpError as error:
        drops[error.reason] += 1     # forged, replayed, truncated: count and drop

:mod:`voice.srtp.reference` is a readable pure-Python version of the AES-CM transforms for
study; it is checked against libsrtp but never used on the packet path.
"""

from voice.srtp.context import SrtpContext, supported_profiles
from voice.srtp.errors import SrtpError, SrtpFailure, SrtpUsageError
from voice.srtp.keys import EXPORTER_LABEL, SrtpKeys, keying_material_length, split_keying_material
from voice.srtp.profiles import (
    DEFAULT_PROFILES,
    PREFERENCE,
    PROFILE_SIZES,
    ProfileSizes,
    SrtpProfile,
)

__all__ = [
    "DEFAULT_PROFILES",
    "EXPORTER_LABEL",
    "PREFERENCE",
    "PROFILE_SIZES",
    "ProfileSizes",
    "SrtpContext",
    "SrtpError",
    "SrtpFailure",
    "SrtpKeys",
    "SrtpProfile",
    "SrtpUsageError",
    "keying_material_length",
    "split_keying_material",
    "supported_profiles",
]
