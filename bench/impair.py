"""Speech quality over a bad network: echo calls through an impairment link, scored with PESQ.

One command (``./dev bench impair``) runs a matrix of network conditions against
``voice serve`` (through its relay, as a browser's call goes) and, as the same-run baseline,
the aiortc echo server (``bench/aiortc_server.py``: aiortc's own jitter buffer and decoder,
its encoder set to our bitrate and complexity). For each case and each server, the synthetic
caller (:mod:`voice.loadgen.caller`) speaks a sentence synthesized by ``espeak-ng`` through a
userspace impairment link (:mod:`voice.loadgen.impair`: seeded loss, Gilbert–Elliott bursts,
delay, jitter, reordering), records what the echo agent sends back, aligns it with what it
said, and scores it with wideband PESQ (ITU-T P.862.2). The two servers get the same seeds,
case by case, and their calls alternate.

Every case impairs both directions (caller to server and back): what the server receives is
what its jitter buffer, FEC and concealment must cope with; what it sends back crosses the
same network, where the FEC it puts in its own packets helps the listener. The listener is
ideal and the same for both servers (every packet decoded, a lost one rebuilt from the next
one's FEC or concealed by libopus): differences are the servers'.

Columns: PESQ (1 to ~4.6; this speech through two Opus encodings scores ~2.6 on a clean
path), the echo's delay (speaking to hearing), packets the link lost (to the server /
back), and, for ``voice``, the frames its decoder rebuilt from FEC, the frames it concealed,
the jitter buffer's hold at the end of the call, and the frames it dropped (late, overflow,
trimmed) or its pacer skipped ("retimed": each one shifts the rest of the echo by 20 ms,
which PESQ punishes hard), from its end-of-call log lines. Chromium adds its getStats for
the echo: the share of samples it concealed and its NetEq jitter-buffer delay. A silent
echo counts as PESQ 1.0 in the medians. Medians over ``--calls`` calls per case (one call
varies: take 5 or more for figures). Output: the tables, ``impair.json`` and ``impair.png``
in ``--out``. ``--before REF`` adds ``voice`` as of a git ref (exported to a temporary
folder) as a third server, for a before/after comparison of a change in the same run: on
this shared machine, figures from different runs differ more than a change does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import queue
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
from _common import print_table, pyplot, stop, wait_for_url  # noqa: E402

from voice.loadgen.impair import GilbertElliott, Impairment  # noqa: E402

SERVERS = {
    "voice": [sys.executable, "-m", "voice", "serve", "--http-port", "0", "--log-level", "info"],
    "aiortc": [sys.executable, str(ROOT / "bench" / "aiortc_server.py"), "--port", "0"],
}
MEDIA = re.compile(r"media: fec recovered (\d+), concealed (\d+), jitter hold (\d+) ms")
#: The jitter buffer's and pacer's own end-of-call figures, where the server logs them: frames
#: dropped late, trimmed to shorten the hold, and skipped by the send loop re-time the audio.
RETIMED = re.compile(r"late (\d+) overflow (\d+) trimmed (\d+) .*pacer skipped (\d+)")

#: The matrix of the issue: random loss, bursty loss, jitter, reordering.
CASES: dict[str, Impairment] = {
    "clean": Impairment(),
    "loss 5%": Impairment(loss=0.05),
    "loss 10%": Impairment(loss=0.10),
    "loss 20%": Impairment(loss=0.20),
    "burst 5%": Impairment(burst=GilbertElliott.from_rate(0.05, mean_burst=3.0)),
    "jitter 40±20 ms": Impairment(delay=0.040, jitter=0.020),
    "reorder 2%": Impairment(reorder=0.02, reorder_delay=0.040),
}

SHORT_TEXT = (
    "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
)


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    lines: queue.Queue[str]

    def next_media_line(self, timeout: float) -> tuple[re.Match[str] | None, int]:
        """The next end-of-call media figures ``voice`` logs (None from aiortc, or late),
        and the frames its jitter buffer and pacer dropped or skipped in that call."""
        deadline = time.monotonic() + timeout
        retimed = 0
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if m := RETIMED.search(line):
                retimed = sum(int(g) for g in m.groups())
            if m := MEDIA.search(line):
                return m, retimed
        return None, retimed

    def drain(self) -> None:
        while True:
            try:
                self.lines.get_nowait()
            except queue.Empty:
                return


#: Where each server runs from; ``voice@REF`` servers (``--before REF``) from an export.
SOURCES: dict[str, Path] = {}


def is_voice(kind: str) -> bool:
    return kind == "voice" or kind.startswith("voice@")


def add_before(ref: str, folder: Path) -> str:
    """Exports ``ref`` of this repository into ``folder`` and adds a server running
    ``voice serve`` from it: a same-run baseline for a change to ``voice`` itself."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    kind = f"voice@{ref}"
    SERVERS[kind] = SERVERS["voice"]  # ``-m voice`` imports from the working folder
    SOURCES[kind] = folder
    return kind


@contextmanager
def server_process(kind: str) -> Iterator[Server]:
    process = subprocess.Popen(
        SERVERS[kind],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=SOURCES.get(kind, ROOT),
    )
    lines: queue.Queue[str] = queue.Queue()
    try:
        url = wait_for_url(process, f"{kind} server")
        stream = process.stdout
        assert stream is not None

        def pump() -> None:
            for text in stream:
                lines.put(text)

        threading.Thread(target=pump, daemon=True).start()
        yield Server(process, url, lines)
    finally:
        stop(process)


def one_call(
    kind: str, server: Server, source: Any, impairment: Impairment, seed: int
) -> dict[str, Any]:
    """One impaired echo call; its figures as a flat dict."""
    import trio

    from voice.loadgen.echo_quality import speech_echo_call

    server.drain()
    report = trio.run(partial(speech_echo_call, server.url, source, impairment, seed=seed))
    media, retimed = server.next_media_line(timeout=5.0) if is_voice(kind) else (None, 0)
    score = report.score
    return {
        "failed": report.call.failed,
        "pesq": score.pesq,
        "echo_delay": score.echo_delay,
        "level": score.level,
        "lost_up": report.up.lost,
        "lost_down": report.down.lost,
        "sent_up": report.up.submitted,
        "received": score.decoded.received,
        **_media_figures(media),
        "retimed": retimed if media else math.nan,
    }


def median(values: Sequence[float]) -> float:
    real = [v for v in values if not math.isnan(v)]
    return statistics.median(real) if real else math.nan


def run(args: argparse.Namespace) -> dict[str, Any]:
    from voice.loadgen.speech import SpeechSource, synthesize

    source = SpeechSource(synthesize(args.text))
    callers = ["chromium"] if args.chromium_only else ["caller"]
    callers += ["chromium"] if args.chromium and not args.chromium_only else []
    print(f"speech: {source.duration:.1f} s, {len(args.cases)} cases x {args.calls} calls "
          f"x {len(args.servers)} servers x {len(callers)} callers")  # fmt: skip
    calls: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        servers = {kind: stack.enter_context(server_process(kind)) for kind in args.servers}
        browser = stack.enter_context(open_chromium(source)) if "chromium" in callers else None
        for caller in callers:
            for n in range(args.calls):
                for case in args.cases:
                    seed = args.seed + 1000 * n + sum(map(ord, case))
                    for kind, server in servers.items():
                        if caller == "chromium":
                            figures = chromium_call(
                                kind, server, browser, source, case=case, seed=seed
                            )
                        else:
                            figures = one_call(kind, server, source, CASES[case], seed)
                        figures.update(caller=caller, server=kind, case=case, call=n, seed=seed)
                        calls.append(figures)
                        print(f"  {caller:>8} {case:>16} {kind:>7} #{n}: "
                              f"PESQ {figures.get('pesq', math.nan):.2f}"
                              + (f", failed: {figures['failed']}" if figures["failed"] else ""),
                              flush=True)  # fmt: skip
    return {"calls": calls, "cases": args.cases, "servers": args.servers, "callers": callers}


@contextlib.contextmanager
def open_chromium(source: Any) -> Iterator[Any]:
    """Debian's Chromium, its fake microphone looping the speech."""
    import tempfile

    from _impair_chromium import write_loop_wav

    from tests.support.browser import chromium

    with tempfile.TemporaryDirectory() as tmp:
        wav = write_loop_wav(source, Path(tmp) / "speech.wav")
        with chromium(wav) as browser:
            yield browser


def chromium_call(
    kind: str, server: Server, browser: Any, source: Any, *, case: str, seed: int
) -> dict[str, Any]:
    from _impair_chromium import chromium_call as call

    server.drain()
    whip = f"{server.url}v1/sessions" + ("?agent=echo" if is_voice(kind) else "")
    # Any page of a loopback origin gives the script its secure context; the server's own
    # /healthz keeps the POST same-origin.
    figures = call(
        browser,
        origin=f"{server.url}healthz",
        whip=whip,
        source=source,
        impairment=CASES[case],
        seed=seed,
    )
    media, retimed = server.next_media_line(timeout=5.0) if is_voice(kind) else (None, 0)
    figures.update(_media_figures(media), retimed=retimed if media else math.nan)
    return figures


def _media_figures(media: re.Match[str] | None) -> dict[str, float]:
    return {
        "fec_server": int(media.group(1)) if media else math.nan,
        "concealed_server": int(media.group(2)) if media else math.nan,
        "hold_ms": int(media.group(3)) if media else math.nan,
    }


#: Per-call figures summarised as medians, with their column titles (caller, Chromium).
FIGURES = {
    "caller": {"echo_delay": "echo ms"},
    "chromium": {"concealed_share": "concealed %", "chromium_jb_ms": "NetEq ms"},
}
COMMON = ("lost_up", "lost_down", "fec_server", "concealed_server", "hold_ms", "retimed", "level")


def summarize(out: dict[str, Any], caller: str) -> list[dict[str, Any]]:
    """Medians per case and server. A silent echo (PESQ cannot score it) counts as 1.0,
    PESQ's floor, so that it weighs in a median as the worst call it is."""
    rows = []
    for case in out["cases"]:
        row: dict[str, Any] = {"case": case, "caller": caller}
        for kind in out["servers"]:
            mine = [
                c
                for c in out["calls"]
                if c["case"] == case and c["server"] == kind and c["caller"] == caller
            ]
            done = [c for c in mine if not c["failed"]]
            row[f"{kind}_pesq"] = median(
                [1.0 if math.isnan(c["pesq"]) else c["pesq"] for c in done]
            )
            for key in (*COMMON, *FIGURES[caller]):
                row[f"{kind}_{key}"] = median([float(c.get(key, math.nan)) for c in done])
            row[f"{kind}_failed"] = len(mine) - len(done)
            row[f"{kind}_silent"] = sum(1 for c in done if not c["level"] > 0.1)
        rows.append(row)
    return rows


def report(out: dict[str, Any]) -> None:
    ours, base = out["servers"][0], out["servers"][-1]
    middle = out["servers"][1:-1]  # --before: voice as it was
    out["summary"] = {}
    for caller in out["callers"]:
        rows = out["summary"][caller] = summarize(out, caller)
        extra = FIGURES[caller]
        headers = ["case", f"PESQ {ours}", *(f"PESQ {k}" for k in middle), f"PESQ {base}"]
        headers += ["ratio", *(f"retimed {k}" for k in middle)]
        headers += [f"{title} {kind}" for title in extra.values() for kind in (ours, base)]
        headers += ["lost up/down", "FEC", "concealed", "hold ms", "retimed", "failed+silent"]
        table = []
        for r in rows:
            line: list[object] = [r["case"], r[f"{ours}_pesq"]]
            line += [r[f"{k}_pesq"] for k in middle]
            line += [r[f"{base}_pesq"], r[f"{ours}_pesq"] / r[f"{base}_pesq"]]
            line += [r[f"{k}_retimed"] for k in middle]
            for key in extra:
                scale = 1e3 if key == "echo_delay" else 100 if key == "concealed_share" else 1
                line += [r[f"{kind}_{key}"] * scale for kind in (ours, base)]
            line += [
                f"{r[f'{ours}_lost_up']:.0f}/{r[f'{ours}_lost_down']:.0f}",
                r[f"{ours}_fec_server"],
                r[f"{ours}_concealed_server"],
                r[f"{ours}_hold_ms"],
                r[f"{ours}_retimed"],
                " ".join(f"{r[f'{k}_failed']}+{r[f'{k}_silent']}" for k in out["servers"]),
            ]
            table.append(line)
        who = "Chromium" if caller == "chromium" else "the synthetic caller"
        print(f"\n# {who} -> {' / '.join(out['servers'])}, wideband PESQ of the echo")
        print_table(headers, table)
    calls = max(c["call"] for c in out["calls"]) + 1
    print(f"(medians of {calls} call(s) per case; ratio = PESQ {ours} / PESQ {base}; FEC, "
          f"concealed (frames) and hold are {ours}'s own; lost = the link's drops toward the "
          "server / back; retimed = frames its jitter buffer dropped late, overflowed or "
          "trimmed and its pacer skipped; failed+silent per server; NetEq ms and concealed % "
          "are Chromium's getStats for the echo it received)")  # fmt: skip


def plot(out: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    callers = out["callers"]
    fig, axes = plt.subplots(1, len(callers), figsize=(6.5 * len(callers), 4.4), squeeze=False)
    width = 0.8 / len(out["servers"])
    for ax, caller in zip(axes[0], callers, strict=True):
        rows = out["summary"][caller]
        positions = range(len(rows))
        for n, kind in enumerate(out["servers"]):
            xs = [p + (n - (len(out["servers"]) - 1) / 2) * width for p in positions]
            ax.bar(xs, [r[f"{kind}_pesq"] for r in rows], width, label=kind)
        ax.set_xticks(list(positions), [r["case"] for r in rows], rotation=30, ha="right")
        ax.legend(fontsize=8)
        who = "Chromium" if caller == "chromium" else "synthetic caller"
        ax.set(ylabel="PESQ (wideband, P.862.2)", ylim=(1, 4.6),
               title=f"echoed speech quality ({who})")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="voice bench impair",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--servers",
        type=lambda t: t.split(","),
        default=["voice", "aiortc"],
        help=f"servers, ours first, baseline last (of {', '.join(SERVERS)})",
    )
    parser.add_argument(
        "--cases",
        type=lambda t: t.split(","),
        default=list(CASES),
        help="comma-separated cases (of: " + ", ".join(CASES).replace("%", "%%") + ")",
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=1,
        help="calls per case and server (medians over them); 5+ for figures",
    )
    parser.add_argument(
        "--text", default=SHORT_TEXT, help="what the caller says (longer text: longer calls)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the link's random draws")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="output folder")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.add_argument(
        "--chromium",
        action="store_true",
        help="also call from Debian's Chromium (its own Opus, FEC, NetEq); ~15 s per call",
    )
    parser.add_argument(
        "--chromium-only", action="store_true", help="call from Chromium, not the synthetic caller"
    )
    parser.add_argument(
        "--before",
        metavar="REF",
        help="also run voice as of this git ref (e.g. main), between ours and the baseline",
    )
    args = parser.parse_args(argv)  # fmt: skip
    for case in args.cases:
        if case not in CASES:
            parser.error(f"unknown case {case!r}; cases: {', '.join(CASES)}")
    for kind in args.servers:
        if kind not in SERVERS:
            parser.error(f"unknown server {kind!r}; servers: {', '.join(SERVERS)}")
    return args


def main(argv: list[str]) -> int:
    import tempfile

    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as before:
        if args.before:
            args.servers.insert(1, add_before(args.before, Path(before)))
        out = run(args)
    report(out)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "impair.json").write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out / 'impair.json'}")
    if not args.no_plot:
        plot(out, args.out / "impair.png")
    failed = sum(1 for c in out["calls"] if c["failed"])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
