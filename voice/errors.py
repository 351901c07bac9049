"""The one exception hierarchy every ``voice`` layer raises beneath, in h11's manner.

Whose fault an error is decides who handles it, so the hierarchy splits on that first:

* :class:`RemoteProtocolError` -- the *peer* sent something wrong: bytes that do not parse,
  or messages that parse but break the protocol. A driver counts and drops (or answers with
  the error the RFC asks for) and never lets it end more than that peer's session.
* :class:`LocalProtocolError` -- *our caller* used an API wrongly: a value out of range, a
  call in the wrong state. It is a bug in this program, not in the network, so nothing
  catches it on purpose and it propagates like any other bug.

:class:`ParseError` is the remote error of a parser. It also subclasses :class:`ValueError`,
so code written before this hierarchy (``except ValueError``) keeps working, and the rule
"bad input is a bad value, never a crash" reads the same in every layer.

Each layer defines its own classes beneath these, named after the layer::

    class RtpError(VoiceError): ...                              # the layer's base
    class RtpParseError(RtpError, ParseError): ...               # a peer's bad bytes
    class RtpUsageError(RtpError, LocalProtocolError, ValueError): ...  # our bad arguments

A usage error for an argument out of range also subclasses :class:`ValueError` (that is what
a bad argument value is in Python); one for a call in the wrong state does not.

A third party can be at fault: the *operator*, whose command-line options, key file or
directory, fleet or regions file we read at start-up. :class:`ConfigError` is that case, one
class for every command; its message names the bad value (never a secret), and the ``voice``
command turns it into a usage error (``voice relay: error: ...``, exit status 2).
"""

from __future__ import annotations


class VoiceError(Exception):
    """Base class of every exception a ``voice`` layer raises on purpose."""


class LocalProtocolError(VoiceError):
    """The caller misused an API (a bug in this program); allowed to propagate."""


class RemoteProtocolError(VoiceError):
    """The peer sent something this layer cannot accept; count it and drop it."""


class ParseError(RemoteProtocolError, ValueError):
    """A peer's bytes (or text) are not well-formed for the layer that read them."""


class ConfigError(VoiceError, ValueError):
    """The operator's configuration is wrong: an option, a key file, a directory, fleet or
    regions file. The message names the bad value and where it came from, never a secret."""
