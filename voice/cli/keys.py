"""Fleet keys for every command that mints or verifies routing tokens (VOICE-TOKEN §7).

One way to pass them, the same for ``voice relay``, ``voice transceiver`` and ``voice
serve``: ``--key-file FILE`` (what a Kubernetes Secret mounts), else the environment
variable ``$VOICE_FLEET_KEYS``. The format is ID:HEXSECRET items separated by commas, spaces
or new lines, the current key first. Keys are never logged, and no error message repeats
one. ``voice serve``, a laptop demo, may run with neither: it then mints a random key of its
own (``required=False``).
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from voice.cli.options import read_file
from voice.errors import ConfigError

if TYPE_CHECKING:
    from voice.relay.token import TokenKey

#: The environment variable read when no ``--key-file`` is given.
KEYS_ENV = "VOICE_FLEET_KEYS"

KEYS_HELP = f"""\
fleet keys: ID:HEXSECRET items (key id 0-3, secret at least 16 bytes) separated by
commas, spaces or new lines, read from --key-file, else from ${KEYS_ENV}. The first
key is the current one (tokens are minted with it); every key given is accepted (the
current and the previous one during a rotation). Keys are never logged.
"""


def add_key_option(group: argparse._ActionsContainer, *, otherwise: str = "") -> None:
    """``--key-file``, the same in every command; ``otherwise`` says what happens with no
    key at all (for a command that can do without)."""
    group.add_argument(
        "--key-file",
        metavar="FILE",
        help=f"file with the fleet keys (default: the {KEYS_ENV} environment variable"
        + (f"; {otherwise})" if otherwise else ")"),
    )


def load_fleet_keys(key_file: str | None, *, required: bool = True) -> list[TokenKey]:
    """The fleet keys from ``key_file``, else from ``$VOICE_FLEET_KEYS``, current first.

    With neither: a ConfigError if ``required``, else an empty list. A file that cannot be
    read, or text that is not a key list, is a ConfigError naming where it came from (and
    never a secret).
    """
    from voice.relay.token import parse_keys

    if key_file:
        return read_file("--key-file", key_file, parse_keys)
    if os.environ.get(KEYS_ENV):
        try:
            return parse_keys(os.environ[KEYS_ENV])
        except ConfigError as exc:
            raise ConfigError(f"${KEYS_ENV}: {exc}") from None
    if required:
        raise ConfigError(f"no fleet key: give --key-file or set {KEYS_ENV}")
    return []
