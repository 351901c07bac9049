"""Per-packet cost of SRTP and of the RTP header, against the same work done without us.

For each SRTP profile the installed libsrtp supports, the median cost of protecting and of
unprotecting one 20 ms Opus-sized RTP packet (100 bytes of payload by default) through
:class:`voice.srtp.SrtpContext`, next to the same libsrtp calls made the way aiortc makes
them (a bare ``pylibsrtp.Session`` with aiortc's policy settings, no wrapper). The ratio is
what our typed errors and counters cost on top of the cryptography.

Then RTP parse and build of the same packet with :class:`voice.rtp.RtpPacket`, next to
aiortc's ``RtpPacket.parse`` / ``serialize``; and with the three header extensions a
browser puts on every audio packet (audio level, transport-wide sequence number, mid).

Run it as ``voice bench srtp`` (or ``./dev bench srtp``); ``--help`` lists the knobs.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import struct
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pylibsrtp

from voice.rtp import RtpPacket
from voice.srtp import (
    PROFILE_SIZES,
    SrtpContext,
    SrtpProfile,
    split_keying_material,
    supported_profiles,
)

# The helpers sit beside this file; `voice bench` loads benchmarks by path, not as a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, time_per_call

#: One result: operation, profile, our median seconds, the baseline's median seconds.
Row = tuple[str, str, float, float]

_LIBSRTP = {
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_32: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    SrtpProfile.SRTP_AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    SrtpProfile.SRTP_AEAD_AES_256_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}


def _aiortc_style_session(
    profile: SrtpProfile, master: bytes, *, inbound: bool
) -> pylibsrtp.Session:
    """A bare libsrtp session configured as aiortc's RTCDtlsTransport configures its own."""
    policy = pylibsrtp.Policy(
        key=master,
        ssrc_type=(
            pylibsrtp.Policy.SSRC_ANY_INBOUND if inbound else pylibsrtp.Policy.SSRC_ANY_OUTBOUND
        ),
        srtp_profile=_LIBSRTP[profile],
    )
    policy.allow_repeat_tx = True
    policy.window_size = 1024
    return pylibsrtp.Session(policy)


def _stream(count: int, payload: bytes) -> list[bytes]:
    """``count`` consecutive 20 ms Opus packets, the sequence number wrapping as it goes."""
    header = struct.Struct("!BBHII")
    return [
        header.pack(0x80, 111, seq & 0xFFFF, (seq * 960) & 0xFFFFFFFF, 0x1234ABCD) + payload
        for seq in range(count)
    ]


def _median_per_packet(
    work: Sequence[tuple[Callable[[bytes], bytes], list[bytes]]], batches: int, batch: int
) -> list[float]:
    """Median seconds per packet for each (function, packets) pair.

    SRTP is stateful (a sequence number may be protected once, and unprotected once), so
    every call gets the next packet of a long stream; the pairs are timed in alternation,
    batch by batch, so a noisy moment on a shared machine hits them alike.
    """
    samples: list[list[float]] = [[] for _ in work]
    for b in range(batches):
        for i, (fn, packets) in enumerate(work):
            chunk = packets[b * batch : (b + 1) * batch]
            start = time.perf_counter()
            for packet in chunk:
                fn(packet)
            samples[i].append((time.perf_counter() - start) / len(chunk))
    return [statistics.median(s) for s in samples]


def bench_srtp(profile: SrtpProfile, payload: bytes, batches: int, batch: int) -> list[Row]:
    """Protect and unprotect medians for one profile: ours, then the bare baseline."""
    material = os.urandom(PROFILE_SIZES[profile].keying_material_length)
    client = SrtpContext(profile, material, is_server=False)
    server = SrtpContext(profile, material, is_server=True)
    # The baseline sessions use the same master key and salt as the client's direction,
    # so both sides of each comparison process the very same packets.
    client_master = split_keying_material(profile, material).local_master(is_server=False)
    bare_tx = _aiortc_style_session(profile, client_master, inbound=False)
    bare_rx = _aiortc_style_session(profile, client_master, inbound=True)

    plain = _stream(batches * batch, payload)
    ours_protect, bare_protect = _median_per_packet(
        [(client.protect_rtp, plain), (bare_tx.protect, plain)], batches, batch
    )
    # A third sender makes the stream to unprotect (the two above have used its indices).
    sender = _aiortc_style_session(profile, client_master, inbound=False)
    protected = [sender.protect(packet) for packet in plain]
    ours_unprotect, bare_unprotect = _median_per_packet(
        [(server.unprotect_rtp, protected), (bare_rx.unprotect, protected)], batches, batch
    )
    name = profile.name.removeprefix("SRTP_")
    return [
        ("SRTP protect", name, ours_protect, bare_protect),
        ("SRTP unprotect", name, ours_unprotect, bare_unprotect),
        (
            "SRTP protect + unprotect",
            name,
            ours_protect + ours_unprotect,
            bare_protect + bare_unprotect,
        ),
    ]


def bench_rtp(payload: bytes, repeat: int) -> list[Row]:
    """RTP parse and build medians: ours, then aiortc's, on the same bytes."""
    from aiortc import rtp as aiortc_rtp
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters

    # aiortc only reads and writes the extensions it was configured with: configure the
    # three a browser's audio carries, under the ids the packet uses.
    theirs_map = aiortc_rtp.HeaderExtensionsMap()
    theirs_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(
                    id=1, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"
                ),
                RTCRtpHeaderExtensionParameters(
                    id=3,
                    uri="http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
                ),
                RTCRtpHeaderExtensionParameters(id=4, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            ]
        )
    )
    plain = RtpPacket(111, 4242, 960 * 4242, 0x1234ABCD, payload)
    browser = RtpPacket(
        111, 4242, 960 * 4242, 0x1234ABCD, payload, extensions={1: b"\xa5", 3: b"\x10\x92", 4: b"0"}
    )
    rows: list[Row] = []
    for label, packet in (("plain", plain), ("3 extensions", browser)):
        wire = packet.encode()
        theirs = aiortc_rtp.RtpPacket.parse(wire, theirs_map)
        # The same packet both ways (aiortc orders the extension elements its own way).
        assert RtpPacket.parse(theirs.serialize(theirs_map)) == RtpPacket.parse(wire)
        rows.append(
            (
                f"RTP parse ({label})",
                "-",
                time_per_call(functools.partial(RtpPacket.parse, wire), repeat=repeat),
                time_per_call(
                    functools.partial(aiortc_rtp.RtpPacket.parse, wire, theirs_map), repeat=repeat
                ),
            )
        )
        rows.append(
            (
                f"RTP build ({label})",
                "-",
                time_per_call(packet.encode, repeat=repeat),
                time_per_call(functools.partial(theirs.serialize, theirs_map), repeat=repeat),
            )
        )
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="voice bench srtp",
        description="SRTP protect/unprotect and RTP parse/build per 20 ms Opus packet, "
        "against bare pylibsrtp (as aiortc uses it) and aiortc's RTP packet.",
    )
    parser.add_argument("--payload", type=int, default=100, help="RTP payload bytes (100)")
    parser.add_argument("--batches", type=int, default=21, help="timed batches per figure (21)")
    parser.add_argument("--batch", type=int, default=2000, help="packets per batch (2000)")
    args = parser.parse_args(argv)
    payload = os.urandom(args.payload)

    print(
        f"# {platform.python_implementation()} {platform.python_version()} on "
        f"{platform.machine()}, pylibsrtp {pylibsrtp.__version__}, "
        f"{args.payload}-byte payload; medians of {args.batches} batches"
    )
    rows: list[Row] = []
    for profile in supported_profiles():
        rows += bench_srtp(profile, payload, args.batches, args.batch)
    rows += bench_rtp(payload, repeat=args.batches)
    table = [[op, profile, ours * 1e6, base * 1e6, ours / base] for op, profile, ours, base in rows]
    print_table(["operation", "profile", "voice µs", "baseline µs", "ratio"], table)
    print(
        "baseline: SRTP = bare pylibsrtp.Session configured as aiortc does; "
        "RTP = aiortc.rtp.RtpPacket"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
