"""A small ctypes binding to the libopus that PyAV ships, for the decoding PyAV cannot do.

PyAV reaches libopus through FFmpeg's wrapper, which never passes libopus' ``decode_fec``
flag (see :mod:`voice.opus.codec`), so the in-band FEC that the next packet carries for a
lost one (RFC 6716 §4.2.5) is out of its reach. The PyAV wheel, though, carries libopus as a
shared library of its own, beside the ``av`` package, and FFmpeg has already loaded it into
this process. This module opens that very file and declares the five functions of libopus'
decoder API that we need; nothing is downloaded, compiled or added as a dependency, and the
codec is bit for bit the one PyAV decodes with (``tests/opus/test_libopus.py`` checks it).

If the file is not there (a PyAV built against a system FFmpeg, an unusual wheel layout) or
does not load, :func:`load` logs why, once, and returns None; the caller then decodes through
PyAV alone and conceals the frames FEC would have recovered.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import weakref
from pathlib import Path

import av

from voice.opus.errors import OpusCodecError, OpusUsageError

log = logging.getLogger(__name__)

#: The longest packet libopus decodes, 120 ms at 48 kHz: the size of the output buffer.
MAX_FRAME_SAMPLES = 5_760

#: Where the wheel-repair tools put the libraries a wheel bundles, relative to the directory
#: holding the ``av`` package: auditwheel (Linux) and delvewheel (Windows) beside it in
#: ``av.libs``, delocate (macOS) inside it in ``av/.dylibs``. Their file names carry a hash.
_PATTERNS = ("av.libs/libopus*.so*", "av/.dylibs/libopus*.dylib", "av.libs/*opus*.dll")


def find() -> Path | None:
    """The libopus shared library bundled with the installed PyAV, or None."""
    site = Path(av.__file__).resolve().parent.parent
    for pattern in _PATTERNS:
        found = sorted(site.glob(pattern))
        if found:
            return found[0]
    return None


class LibOpus:
    """The loaded library, with the C signatures of the functions we call declared, so that
    ctypes converts (and checks) every argument instead of guessing.

    Raises :class:`OSError` if ``path`` is not a loadable library and :class:`AttributeError`
    if it lacks one of the functions.
    """

    def __init__(self, path: Path) -> None:
        lib = ctypes.CDLL(str(path))
        c_int, c_int32, c_void_p = ctypes.c_int, ctypes.c_int32, ctypes.c_void_p
        # OpusDecoder *opus_decoder_create(opus_int32 Fs, int channels, int *error)
        lib.opus_decoder_create.argtypes = [c_int32, c_int, ctypes.POINTER(c_int)]
        lib.opus_decoder_create.restype = c_void_p
        # int opus_decode(OpusDecoder *st, const unsigned char *data, opus_int32 len,
        #                 opus_int16 *pcm, int frame_size, int decode_fec)
        lib.opus_decode.argtypes = [
            c_void_p,
            ctypes.c_char_p,
            c_int32,
            ctypes.POINTER(ctypes.c_int16),
            c_int,
            c_int,
        ]
        lib.opus_decode.restype = c_int
        # void opus_decoder_destroy(OpusDecoder *st)
        lib.opus_decoder_destroy.argtypes = [c_void_p]
        lib.opus_decoder_destroy.restype = None
        # const char *opus_strerror(int error); const char *opus_get_version_string(void)
        lib.opus_strerror.argtypes = [c_int]
        lib.opus_strerror.restype = ctypes.c_char_p
        lib.opus_get_version_string.argtypes = []
        lib.opus_get_version_string.restype = ctypes.c_char_p
        self._lib = lib
        self.path = path
        #: The library's own version string, e.g. ``libopus 1.5.2``.
        self.version: str = lib.opus_get_version_string().decode()

    def strerror(self, code: int) -> str:
        """libopus' description of one of its negative return codes."""
        text: bytes = self._lib.opus_strerror(code)
        return text.decode()

    def decoder(self, sample_rate: int, channels: int) -> LibOpusDecoder:
        """A new decoder (its own state) for PCM at ``sample_rate`` with ``channels``."""
        return LibOpusDecoder(self, sample_rate, channels)


class LibOpusDecoder:
    """One libopus decoder state, freed when this object is collected.

    It is not thread-safe, like the C object; a voice session owns one.
    """

    def __init__(self, library: LibOpus, sample_rate: int, channels: int) -> None:
        lib = library._lib
        error = ctypes.c_int(0)
        handle = lib.opus_decoder_create(sample_rate, channels, ctypes.byref(error))
        if not handle or error.value != 0:
            raise OpusCodecError(f"opus_decoder_create failed: {library.strerror(error.value)}")
        self._library = library
        self._decode = lib.opus_decode
        self._handle: int = handle
        self._channels = channels
        self._pcm = (ctypes.c_int16 * (MAX_FRAME_SAMPLES * channels))()
        weakref.finalize(self, lib.opus_decoder_destroy, handle)

    def decode(self, data: bytes | None, frame_size: int, *, fec: bool = False) -> bytes:
        """Calls ``opus_decode`` once and returns the native-endian 16-bit PCM it wrote.

        * ``data`` a packet, ``frame_size`` the room for its audio (up to
          :data:`MAX_FRAME_SAMPLES`): decodes the packet, all of it.
        * ``data`` None: conceals ``frame_size`` samples of a lost packet (RFC 6716 §4.4).
        * ``data`` a packet and ``fec``: rebuilds the ``frame_size`` samples lost just before
          it from its LBRR data (RFC 6716 §4.2.5), where libopus finds none, conceals them.

        ``frame_size`` is per channel and must be a multiple of 2.5 ms. Raises
        :class:`~voice.opus.errors.OpusCodecError` if libopus returns an error.
        """
        if not 0 < frame_size <= MAX_FRAME_SAMPLES:
            raise OpusUsageError(f"frame_size {frame_size} outside 1-{MAX_FRAME_SAMPLES}")
        length = 0 if data is None else len(data)
        samples: int = self._decode(self._handle, data, length, self._pcm, frame_size, int(fec))
        if samples < 0:
            raise OpusCodecError(f"libopus failed to decode: {self._library.strerror(samples)}")
        return ctypes.string_at(self._pcm, samples * self._channels * 2)


@functools.cache
def load() -> LibOpus | None:
    """The libopus bundled with PyAV, loaded once per process; None (logged) if it cannot be.

    Tests clear the cache (``load.cache_clear()``) after changing :func:`find`.
    """
    path = find()
    if path is None:
        log.warning(
            "no libopus found beside PyAV (%s): Opus in-band FEC will be concealed instead",
            Path(av.__file__).resolve().parent,
        )
        return None
    try:
        library = LibOpus(path)
    except (OSError, AttributeError) as exc:
        log.warning("cannot use %s (%s): Opus in-band FEC will be concealed instead", path, exc)
        return None
    log.debug("decoding Opus with %s from %s", library.version, path)
    return library
