"""The Opus RTP payload format (RFC 7587): what one RTP packet carries, its clock, and the
SDP parameters that tune the codec.

The payload format itself is short:

* an RTP packet carries exactly one Opus packet, framed as RFC 6716 §3 says, which may hold
  several frames but never more than 120 ms (RFC 7587 §4.2);
* the RTP timestamp counts 48 kHz samples, whatever bandwidth the encoder really codes, so a
  20 ms packet always advances it by 960 (RFC 7587 §4.1);
* in SDP the codec is always ``opus/48000/2``, even for mono narrowband, because the decoder
  can always handle either channel count (RFC 7587 §7).

What is negotiated is a set of *preferences* in the ``a=fmtp`` line (RFC 7587 §6.1), each
describing what the party that wrote it would like to **receive** (or, for the ``sprop-``
ones, what it is likely to send). None of them is binding for decoding: a decoder must cope
with any packet. :class:`OpusParameters` reads and writes that line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from voice.opus.errors import OpusParseError
from voice.opus.toc import Bandwidth

#: The RTP clock rate of Opus, whatever the audio bandwidth (RFC 7587 §4.1).
RTP_CLOCK_RATE = 48_000
#: The only channel count SDP may give in ``a=rtpmap`` for Opus (RFC 7587 §7).
RTPMAP_CHANNELS = 2
#: The ``a=rtpmap`` encoding: ``a=rtpmap:<pt> opus/48000/2`` (RFC 7587 §7).
RTPMAP_ENCODING = "opus/48000/2"

#: maxaveragebitrate values outside this range are to be ignored (RFC 7587 §6.1).
BITRATE_RANGE = (6_000, 510_000)
#: maxplaybackrate and sprop-maxcapturerate lie in this range (RFC 7587 §6.1).
RATE_RANGE = (8_000, 48_000)
#: ptime, minptime and maxptime are whole milliseconds from 3 (2.5 rounded up) to 120.
PTIME_RANGE = (3, 120)

# Parameter name in SDP -> attribute name, in the order format() writes them.
_NAMES = {
    "minptime": "minptime",
    "useinbandfec": "useinbandfec",
    "usedtx": "usedtx",
    "stereo": "stereo",
    "sprop-stereo": "sprop_stereo",
    "cbr": "cbr",
    "maxplaybackrate": "maxplaybackrate",
    "sprop-maxcapturerate": "sprop_maxcapturerate",
    "maxaveragebitrate": "maxaveragebitrate",
    "ptime": "ptime",
    "maxptime": "maxptime",
}
_FLAGS = {"useinbandfec", "usedtx", "stereo", "sprop_stereo", "cbr"}
# RFC 7587 §7: ptime and maxptime travel as the SDP attributes a=ptime and a=maxptime, not
# inside a=fmtp; parse() accepts them there (some endpoints put them there anyway) but
# format() leaves them to the SDP layer.
_NOT_IN_FMTP = {"ptime", "maxptime"}


@dataclass(frozen=True, slots=True)
class OpusParameters:
    """The Opus ``a=fmtp`` parameters of RFC 7587 §6.1, with their defaults.

    Every field describes the preferences of the side that wrote the line: its receiver
    (``maxplaybackrate``, ``stereo``, ``useinbandfec``, ...) or its sender (``sprop-*``).
    ``OpusParameters()`` is what an empty ``a=fmtp`` means.
    """

    #: Highest sample rate the receiver can play, in Hz (8000-48000); the encoder should not
    #: code a wider band than it (see :attr:`max_bandwidth`).
    maxplaybackrate: int = 48_000
    #: Highest sample rate the sender is likely to capture, in Hz (8000-48000).
    sprop_maxcapturerate: int = 48_000
    #: Shortest packet duration the receiver wants, in ms (None: not said; 3 by default).
    minptime: int | None = None
    #: Preferred packet duration, in ms (normally SDP's a=ptime; None: not said).
    ptime: int | None = None
    #: Longest packet duration the receiver accepts, in ms (normally a=maxptime).
    maxptime: int | None = None
    #: Highest average bitrate the receiver wants, in bit/s (None: no limit said).
    maxaveragebitrate: int | None = None
    #: The receiver prefers stereo.
    stereo: bool = False
    #: The sender is likely to send stereo.
    sprop_stereo: bool = False
    #: The receiver prefers constant bitrate.
    cbr: bool = False
    #: The receiver's decoder can use in-band FEC, so sending it is worthwhile.
    useinbandfec: bool = False
    #: The receiver prefers discontinuous transmission (nothing sent during silence).
    usedtx: bool = False
    #: Parameters this module does not know, kept (lower-cased name, value) so that a line
    #: can be read and written back without losing them.
    extra: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def parse(cls, fmtp: str) -> OpusParameters:
        """Reads the value of an ``a=fmtp`` line (without ``a=fmtp:<pt> ``).

        Accepts ``name=value`` pairs separated by ``;`` with optional spaces, names in any
        case. Raises :class:`~voice.opus.errors.OpusParseError` for a pair without ``=``,
        a name given twice, a number that is not a positive integer, or a flag that is not 0
        or 1. Values that are well-formed but out of range are treated as hints should be
        (RFC 7587 §6.1): a ``maxaveragebitrate`` outside 6000-510000 is ignored, rates are
        clamped to 8000-48000 and packet durations to 3-120 ms.
        """
        numbers: dict[str, int] = {}
        flags: dict[str, bool] = {}
        extra: list[tuple[str, str]] = []
        seen: set[str] = set()
        for raw in fmtp.split(";"):
            item = raw.strip()
            if not item:
                continue
            name, eq, value = item.partition("=")
            name, value = name.strip().lower(), value.strip()
            if not eq or not name:
                raise OpusParseError(f"fmtp item {item!r} is not name=value")
            if name in seen:
                raise OpusParseError(f"fmtp parameter {name!r} given twice")
            seen.add(name)
            attr = _NAMES.get(name)
            if attr is None:
                extra.append((name, value))
            elif attr in _FLAGS:
                flags[attr] = _flag(name, value)
            else:
                numbers[attr] = _number(name, value)
        bitrate = numbers.pop("maxaveragebitrate", None)
        if bitrate is not None and not BITRATE_RANGE[0] <= bitrate <= BITRATE_RANGE[1]:
            bitrate = None  # RFC 7587 §6.1: a value out of range is ignored
        rates, ptimes = RATE_RANGE, PTIME_RANGE
        return cls(
            maxplaybackrate=_clamp(numbers.get("maxplaybackrate", 48_000), rates),
            sprop_maxcapturerate=_clamp(numbers.get("sprop_maxcapturerate", 48_000), rates),
            minptime=_clamp_optional(numbers.get("minptime"), ptimes),
            ptime=_clamp_optional(numbers.get("ptime"), ptimes),
            maxptime=_clamp_optional(numbers.get("maxptime"), ptimes),
            maxaveragebitrate=bitrate,
            stereo=flags.get("stereo", False),
            sprop_stereo=flags.get("sprop_stereo", False),
            cbr=flags.get("cbr", False),
            useinbandfec=flags.get("useinbandfec", False),
            usedtx=flags.get("usedtx", False),
            extra=tuple(extra),
        )

    def format(self) -> str:
        """Writes the ``a=fmtp`` value: every parameter that differs from its default, then
        the unknown ones kept from :meth:`parse`, separated by ``;`` as browsers write them.

        ``ptime`` and ``maxptime`` are left out: SDP carries them as the ``a=ptime`` and
        ``a=maxptime`` attributes (RFC 7587 §7).
        """
        defaults = _DEFAULTS
        parts = []
        for name, attr in _NAMES.items():
            value = getattr(self, attr)
            if name in _NOT_IN_FMTP or value is None or value == getattr(defaults, attr):
                continue
            parts.append(f"{name}={int(value)}")
        parts += [f"{name}={value}" for name, value in self.extra]
        return ";".join(parts)

    @property
    def max_bandwidth(self) -> Bandwidth:
        """The widest Opus bandwidth worth sending to this receiver: the narrowest one whose
        sample rate covers ``maxplaybackrate`` (RFC 7587 §6.1)."""
        for bandwidth in Bandwidth:
            if self.maxplaybackrate <= bandwidth.value:
                return bandwidth
        return Bandwidth.FULLBAND

    def send_bitrate(self, preferred: int) -> int:
        """The bitrate to encode at for this receiver: ``preferred``, capped by its
        ``maxaveragebitrate`` when it gave one (RFC 7587 §6.1)."""
        if self.maxaveragebitrate is None:
            return preferred
        return min(preferred, self.maxaveragebitrate)


_DEFAULTS = OpusParameters()
assert {f.name for f in fields(OpusParameters)} == {*_NAMES.values(), "extra"}


def _flag(name: str, value: str) -> bool:
    if value not in ("0", "1"):
        raise OpusParseError(f"fmtp {name}={value!r}: a flag is 0 or 1")
    return value == "1"


def _number(name: str, value: str) -> int:
    # A positive decimal integer, no sign, no fraction: what every numeric Opus parameter is.
    if not value.isascii() or not value.isdigit() or len(value) > 9 or int(value) == 0:
        raise OpusParseError(f"fmtp {name}={value!r}: expected a positive integer")
    return int(value)


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    return min(max(value, bounds[0]), bounds[1])


def _clamp_optional(value: int | None, bounds: tuple[int, int]) -> int | None:
    return None if value is None else _clamp(value, bounds)
