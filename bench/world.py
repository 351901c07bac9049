"""``voice bench world``: a caller's round trips in a two-region world (tests/support/world.py).

Three ways for a caller in region a's neighbourhood to reach the fleet, each measured with
the same synthetic echo callers over the same delay links (5 ms caller-region, 80 ms between
regions, one way, unless changed):

* **steered**: the POST goes to the steering front, which sends it (307) to region a and names
  a's relay as the nearest ingress: media stays in the region;
* **unsteered**: the POST goes straight to region b's signaling (a fixed far region), whose
  answer names b's relay;
* **far ingress**: steered to region a, but with b's relay as the only ingress: media crosses
  the backbone twice.

Columns (medians over the calls): the caller's round trip to its first hop (the ingress
host; TCP connect); the media path's round trip (the first ICE check, answer to ICE
connected: caller, relays, transceiver and back); the end-to-end echo round trip of the
caller's own audio (adds the echo agent's jitter buffer and codec, which vary with the
machine's load); the set-up (POST to DTLS connected, redirect included). The steered row is
the baseline of each ratio. Needs root (network
namespaces); prints why not otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.world import can_build, open_world, place_calls


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def measure(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            trio.open_nursery() as nursery,
            open_world(
                nursery,
                Path(tmp),
                access_delay=args.access_delay / 1000,
                backbone_delay=args.backbone_delay / 1000,
                loss=args.loss,
            ) as world,
        ):
            a, b = world.regions
            ca = world.callers[0]
            cases = {
                "steered + nearest ingress": (ca.steer_url, ""),
                "unsteered (fixed far region)": (b.signaling[0] + "/", ""),
                "steered, far region's ingress": (a.signaling[0] + "/", "ingress=b"),
            }
            rows = []
            for name, (url, query) in cases.items():
                results = await place_calls(
                    ca, url, calls=args.calls, duration=args.duration, query=query
                )
                ok = [r for r in results if r.get("failed") is None]
                failed = [r["failed"] for r in results if r.get("failed")]
                rows.append(
                    (
                        name,
                        median([r["first_hop_ms"] for r in ok]),
                        median([r["check_ms"] for r in ok]),
                        median([r["echo_ms"] for r in ok if r.get("echo_ms") is not None]),
                        median([r["setup_ms"] for r in ok]),
                        len(ok),
                        ok[0]["ingress"] if ok else "-",
                        failed[:1],
                    )
                )
            nursery.cancel_scope.cancel()
    base = rows[0][2]
    echo_base = rows[0][3]
    print(
        f"world: access {args.access_delay:g} ms, backbone {args.backbone_delay:g} ms one way, "
        f"loss {args.loss:g}; {args.calls} echo calls per case, {args.duration:g} s each"
    )
    print(
        "| case | ingress | first hop RTT ms | media path RTT ms | ratio | echo RTT ms | ratio "
        "| set-up ms | calls |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, hop, path, echo, setup, n, ingress, failed in rows:
        print(
            f"| {name} | {ingress} | {hop:.1f} | {path:.1f} | {path / base:.2f} | {echo:.1f} | "
            f"{echo / echo_base:.2f} | {setup:.0f} | {n}/{args.calls} |"
            + (f" failed: {failed[0]}" if failed else "")
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="voice bench world",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--calls", type=int, default=4, help="echo calls per case")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per call")
    parser.add_argument("--access-delay", type=float, default=5.0, help="caller-region, ms")
    parser.add_argument("--backbone-delay", type=float, default=80.0, help="region-region, ms")
    parser.add_argument("--loss", type=float, default=0.0, help="loss on every link (0-1)")
    args = parser.parse_args(argv)
    if (why := can_build()) is not None:
        print(f"bench world: {why}", file=sys.stderr)
        return 2
    return trio.run(measure, args)


if __name__ == "__main__":
    sys.exit(main())
