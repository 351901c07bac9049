"""Splitting the DTLS-SRTP keying material into the four SRTP master keys and salts.

After the DTLS handshake both ends run the TLS exporter with the label
``EXTRACTOR-dtls_srtp`` and no context, asking for ``2 * (key + salt)`` bytes of the
negotiated profile. Both ends get the same bytes; who uses which half depends only on who
was the DTLS client. This module is the one place that knows the layout, so the DTLS layer
hands over opaque bytes and the SRTP layer never sees a TLS secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voice.srtp.errors import SrtpUsageError
from voice.srtp.profiles import PROFILE_SIZES, SrtpProfile

#: RFC 5764 §4.2: the exporter label both ends feed to the TLS exporter (RFC 5705).
EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"


def keying_material_length(profile: SrtpProfile) -> int:
    """How many bytes to ask the DTLS exporter for, for ``profile`` (RFC 5764 §4.2)."""
    return PROFILE_SIZES[profile].keying_material_length


@dataclass(frozen=True, slots=True)
class SrtpKeys:
    """The SRTP master keys and salts of both directions of one DTLS-SRTP association.

    The fields are secrets: they are kept out of ``repr`` so that logging a session object
    never writes a key to a log.
    """

    profile: SrtpProfile
    client_key: bytes = field(repr=False)
    server_key: bytes = field(repr=False)
    client_salt: bytes = field(repr=False)
    server_salt: bytes = field(repr=False)

    def local_master(self, *, is_server: bool) -> bytes:
        """Master key then master salt for what we send, as libsrtp wants them."""
        if is_server:
            return self.server_key + self.server_salt
        return self.client_key + self.client_salt

    def remote_master(self, *, is_server: bool) -> bytes:
        """Master key then master salt for what the peer sends to us."""
        return self.local_master(is_server=not is_server)


def split_keying_material(profile: SrtpProfile, material: bytes) -> SrtpKeys:
    """Cuts the exporter output into client key, server key, client salt, server salt.

    RFC 5764 §4.2: the material is laid out as both master keys first (the DTLS client's,
    then the server's), then both master salts in the same order. The DTLS client protects
    what it sends with the client key and salt; the server with the server ones.

    A wrong length is a bug in the caller (the DTLS layer asked the exporter for the wrong
    size), not something a peer can cause, so it raises :class:`ValueError`.
    """
    sizes = PROFILE_SIZES[profile]
    if len(material) != sizes.keying_material_length:
        raise SrtpUsageError(
            f"{profile.name} needs {sizes.keying_material_length} bytes of keying material, "
            f"got {len(material)}"
        )
    k, s = sizes.key_length, sizes.salt_length
    return SrtpKeys(
        profile=profile,
        client_key=material[0:k],
        server_key=material[k : 2 * k],
        client_salt=material[2 * k : 2 * k + s],
        server_salt=material[2 * k + s : 2 * k + 2 * s],
    )
