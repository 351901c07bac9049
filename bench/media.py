"""Per-frame media cost of one full-duplex voice session, and how many sessions fit a core.

For every 20 ms of a call, a transcoding transceiver does, per direction:

* **inbound**: SRTP unprotect, jitter-buffer push and pop, Opus decode;
* **outbound**: Opus encode, SRTP protect.

This prints the median cost of each step, the total for one full-duplex frame pair, and the
implied number of full-duplex sessions one core can carry (20 ms / total). Beside each step
that aiortc also has, the same work done by aiortc in the same run, with the ratio:
``aiortc.codecs.opus`` for encode and decode (fed the same PCM and packets), and aiortc's
audio jitter buffer (``JitterBuffer(capacity=16, prefetch=4)`` as its receiver builds it).
SRTP is measured through :class:`voice.srtp.SrtpContext` when the package is present; its
own comparison with aiortc's use of libsrtp is ``bench/srtp.py``.

A second table shows what a lost packet costs the decoder, beside the decode of one that
arrived: rebuilding it from the in-band FEC of the next packet (``OpusDecoder.decode_fec``),
concealing it, and, for reference, decoding through PyAV alone (the decoder's fallback when
the libopus PyAV bundles cannot be called directly, which cannot decode FEC).

A third table shows what libopus' complexity setting does to the encode cost (the biggest
item) and so to the session count.

Run it as ``voice bench media`` (or ``./dev bench media``); ``--help`` lists the knobs.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import math
import os
import platform
import struct
import sys
import time
from array import array
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av

from voice.opus import (
    FRAME_DURATION,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    OpusDecoder,
    OpusEncoder,
    has_fec,
)
from voice.rtp.jitterbuffer import JitterBuffer
from voice.transceiver.session import SessionLimits

# The helpers sit beside this file; `voice bench` loads benchmarks by path, not as a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, time_per_call

#: One line of the main table: step, our median seconds, aiortc's (or None).
Row = tuple[str, float, float | None]


def speech_like(count: int) -> list[bytes]:
    """``count`` 20 ms frames of a voiced, gliding, modulated harmonic signal: close enough to
    speech that libopus codes it as it codes a voice (SILK/Hybrid, with FEC)."""
    frames = []
    for n in range(count):
        samples = array("h")
        for i in range(FRAME_SAMPLES):
            t = (n * FRAME_SAMPLES + i) / SAMPLE_RATE
            pitch = 120 + 30 * math.sin(2 * math.pi * 0.5 * t)
            envelope = 0.6 + 0.4 * math.sin(2 * math.pi * 3 * t)
            voiced = sum(math.sin(2 * math.pi * k * pitch * t) / k for k in range(1, 10))
            samples.append(int(2500 * envelope * voiced))
        frames.append(samples.tobytes())
    return frames


def cycling(fn: Callable[[bytes], object], items: list[bytes]) -> Callable[[], object]:
    """A no-argument call that applies ``fn`` to the next item, round and round."""
    source = itertools.cycle(items)
    return lambda: fn(next(source))


def bench_codec(
    pcm: list[bytes], *, bitrate: int, complexity: int | None, repeat: int
) -> tuple[list[Row], list[bytes]]:
    encoder = OpusEncoder(bitrate=bitrate, complexity=complexity)
    packets = [encoder.encode(frame) for frame in pcm]
    decoder = OpusDecoder()
    encode = time_per_call(cycling(encoder.encode, pcm), repeat=repeat)
    decode = time_per_call(cycling(decoder.decode, packets), repeat=repeat)

    from aiortc.codecs.opus import OpusDecoder as AiortcDecoder
    from aiortc.codecs.opus import OpusEncoder as AiortcEncoder
    from aiortc.jitterbuffer import JitterFrame

    # aiortc's pipeline already holds AudioFrames, so they are built before timing (which
    # spares it the frame construction our encode() does from bytes).
    frames = []
    for n, data in enumerate(pcm):
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = Fraction(1, SAMPLE_RATE)
        frame.pts = n * FRAME_SAMPLES
        frame.planes[0].update(data)
        frames.append(frame)
    their_encoder = AiortcEncoder()
    # The same wrapper set to our settings (mono, our bitrate and complexity) before its
    # first use, to tell the cost of the coding mode from the cost of the wrapper: as
    # shipped, aiortc codes 96 kbit/s stereo, which libopus does in CELT-only mode, cheaper
    # than the SILK/Hybrid speech modes (with FEC) it picks at 32 kbit/s mono.
    tuned = AiortcEncoder()
    tuned.codec.bit_rate = bitrate
    tuned.codec.layout = "mono"
    tuned.codec.options = {"application": "voip", "fec": "1", "packet_loss": "10"} | (
        {} if complexity is None else {"compression_level": str(complexity)}
    )
    tuned.resampler = av.AudioResampler(
        format="s16", layout="mono", rate=SAMPLE_RATE, frame_size=FRAME_SAMPLES
    )
    their_decoder = AiortcDecoder()
    jitter_frames = [JitterFrame(p, n * FRAME_SAMPLES) for n, p in enumerate(packets)]
    source = itertools.cycle(frames)
    their_encode = time_per_call(lambda: their_encoder.encode(next(source)), repeat=repeat)
    tuned_encode = time_per_call(lambda: tuned.encode(next(source)), repeat=repeat)
    their_decode = time_per_call(cycling(their_decoder.decode, jitter_frames), repeat=repeat)  # type: ignore[arg-type]
    return [
        ("Opus decode", decode, their_decode),
        ("Opus encode", encode, their_encode),
        ("(Opus encode, aiortc set to our settings)", encode, tuned_encode),
    ], packets


def bench_loss(packets: list[bytes], *, repeat: int) -> list[tuple[str, float]]:
    """Per 20 ms frame: decoding a packet that arrived, and what a lost one costs instead."""
    protected = [p for p in packets if has_fec(p)]
    if not protected:
        return []
    decoder = OpusDecoder()
    decode = time_per_call(cycling(decoder.decode, packets), repeat=repeat)
    # In a call, decode_fec(next) comes between decode(previous) and decode(next); timing it
    # on its own over packets that carry LBRR costs the same libopus work.
    fec = time_per_call(cycling(decoder.decode_fec, protected), repeat=repeat)
    conceal = time_per_call(decoder.conceal, repeat=repeat)
    pyav = OpusDecoder(pyav_only=True)
    pyav_decode = time_per_call(cycling(pyav.decode, packets), repeat=repeat)
    return [
        (f"decode, a packet that arrived{'' if decoder.fec_supported else ' (PyAV)'}", decode),
        ("decode_fec, a lost packet rebuilt from the next one's LBRR", fec),
        ("conceal, a lost packet without FEC", conceal),
        ("(decode through PyAV alone: the fallback, no FEC)", pyav_decode),
    ]


def bench_jitter(packets: list[bytes], *, repeat: int) -> Row:
    """A steady stream: each frame is pushed as it arrives and popped when due."""
    jb = JitterBuffer()
    state = {"n": 0}

    def step() -> None:
        n = state["n"]
        state["n"] = n + 1
        now = n * FRAME_DURATION
        jb.push(n & 0xFFFF, (n * FRAME_SAMPLES) & 0xFFFF_FFFF, packets[n % len(packets)], now)
        jb.handle_timeout(now)
        while jb.next_event() is not None:
            pass

    for _ in range(10):
        step()  # fill to its steady depth
    ours = time_per_call(step, repeat=repeat)

    from aiortc.jitterbuffer import JitterBuffer as AiortcJitterBuffer
    from aiortc.rtp import RtpPacket as AiortcRtpPacket

    stream = []
    for n in range(1 << 16):
        packet = AiortcRtpPacket(
            payload_type=111,
            sequence_number=n & 0xFFFF,
            timestamp=(n * FRAME_SAMPLES) & 0xFFFF_FFFF,
            payload=packets[n % len(packets)],
        )
        packet._data = packet.payload  # type: ignore[attr-defined]  # as aiortc's receiver does
        stream.append(packet)
    theirs_jb = AiortcJitterBuffer(capacity=16, prefetch=4)
    theirs = time_per_call(cycling(theirs_jb.add, stream), repeat=repeat)  # type: ignore[arg-type]
    return ("jitter buffer push + pop", ours, theirs)


def bench_srtp(packets: list[bytes], *, batches: int, batch: int) -> list[Row] | str:
    """SRTP protect and unprotect of RTP packets carrying our Opus packets, or why not."""
    try:
        srtp = importlib.import_module("voice.srtp")
        context_class = srtp.SrtpContext
        profile = srtp.SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
        length = srtp.PROFILE_SIZES[profile].keying_material_length
    except (ImportError, AttributeError):
        return "SRTP skipped: voice.srtp.SrtpContext is not on this branch yet"
    material = os.urandom(length)
    client = context_class(profile, material, is_server=False)
    server = context_class(profile, material, is_server=True)
    header = struct.Struct("!BBHII")
    count = batches * batch
    plain = [
        header.pack(0x80, 111, n & 0xFFFF, (n * FRAME_SAMPLES) & 0xFFFF_FFFF, 0x1234ABCD)
        + packets[n % len(packets)]
        for n in range(count)
    ]
    # SRTP is stateful (each index is protected once and accepted once), so every call takes
    # the next packet of one long stream instead of repeating one.
    protect, protected = [], []
    for b in range(batches):
        start = time.perf_counter()
        protected += [client.protect_rtp(p) for p in plain[b * batch : (b + 1) * batch]]
        protect.append((time.perf_counter() - start) / batch)
    unprotect = []
    for b in range(batches):
        chunk = protected[b * batch : (b + 1) * batch]
        start = time.perf_counter()
        for p in chunk:
            server.unprotect_rtp(p)
        unprotect.append((time.perf_counter() - start) / batch)
    return [
        ("SRTP unprotect (AES128_CM_SHA1_80)", sorted(unprotect)[batches // 2], None),
        ("SRTP protect (AES128_CM_SHA1_80)", sorted(protect)[batches // 2], None),
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="voice bench media",
        description="Per-frame cost of SRTP, jitter buffer and Opus for one full-duplex "
        "voice session, and sessions per core; aiortc's codec and jitter buffer as baseline.",
    )
    parser.add_argument("--bitrate", type=int, default=32_000, help="Opus bitrate (32000)")
    parser.add_argument(
        "--complexity",
        type=int,
        default=SessionLimits().opus_complexity,
        help="libopus complexity 0-10 (default: what the transceiver uses, %(default)s)",
    )
    parser.add_argument("--frames", type=int, default=100, help="distinct 20 ms frames (100)")
    parser.add_argument("--repeat", type=int, default=15, help="timed batches per figure (15)")
    parser.add_argument("--srtp-batch", type=int, default=2000, help="packets per SRTP batch")
    parser.add_argument(
        "--sweep", default="0,1,3,5,8,10", help="complexities for the second table ('' for none)"
    )
    args = parser.parse_args(argv)

    pcm = speech_like(args.frames)
    print(
        f"# {platform.python_implementation()} {platform.python_version()} on "
        f"{platform.machine()}, PyAV {av.__version__}; Opus {args.bitrate} bit/s mono 20 ms, "
        f"complexity {'default' if args.complexity is None else args.complexity}; "
        f"medians of {args.repeat} batches"
    )
    codec_rows, packets = bench_codec(
        pcm, bitrate=args.bitrate, complexity=args.complexity, repeat=args.repeat
    )
    print(f"# mean Opus packet: {sum(map(len, packets)) / len(packets):.0f} bytes")
    jitter_row = bench_jitter(packets, repeat=args.repeat)
    srtp = bench_srtp(packets, batches=args.repeat, batch=args.srtp_batch)
    steps: list[Row] = [jitter_row, *codec_rows]
    if isinstance(srtp, list):  # unprotect comes first in a frame's life, protect last
        steps = [srtp[0], *steps, srtp[1]]
    total = sum(ours for name, ours, _ in steps if not name.startswith("("))
    table: list[list[object]] = []
    for name, ours, theirs in steps:
        ratio = f"{ours / theirs:.2f}" if theirs else "-"
        table.append([name, ours * 1e6, theirs * 1e6 if theirs else "-", ratio])
    table.append(["total, one full-duplex frame pair", total * 1e6, "", ""])
    table.append(["full-duplex sessions per core (20 ms / total)", FRAME_DURATION / total, "", ""])
    print_table(["step (per 20 ms frame)", "voice µs", "aiortc µs", "ratio"], table)
    if isinstance(srtp, str):
        print(f"note: {srtp}; the total leaves it out")
    print(
        "baseline: aiortc.codecs.opus as shipped (its encoder resamples to stereo and codes "
        "96 kbit/s, which libopus does in CELT mode; its decoder outputs stereo), and the same "
        "encoder set to our settings (the row in brackets, not in the total); "
        "aiortc.jitterbuffer (capacity 16, prefetch 4, as its audio receiver uses it)"
    )

    loss = bench_loss(packets, repeat=args.repeat)
    if loss:
        base = loss[0][1]
        print_table(
            ["decoder, per 20 ms frame", "voice µs", "× decode"],
            [[name, cost * 1e6, f"{cost / base:.2f}"] for name, cost in loss],
        )
        if not OpusDecoder().fec_supported:
            print("note: the bundled libopus could not be loaded: decode_fec conceals")
    else:
        print("note: no packet carries LBRR (in-band FEC): no loss table")

    sweep = [int(c) for c in args.sweep.split(",") if c.strip()]
    if sweep:
        rest = total - next(ours for name, ours, _ in steps if name == "Opus encode")
        rows = []
        for complexity in sweep:
            encoder = OpusEncoder(bitrate=args.bitrate, complexity=complexity)
            cost = time_per_call(cycling(encoder.encode, pcm), repeat=args.repeat)
            rows.append([complexity, cost * 1e6, FRAME_DURATION / (rest + cost)])
        print_table(["complexity", "Opus encode µs", "sessions per core"], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
