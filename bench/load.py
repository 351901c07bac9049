"""Capacity and latency under load: real synthetic callers against ``voice serve`` and aiortc.

Three questions, one command (``./dev bench load``):

* **how many callers per core**: the server under test is pinned to one CPU, the callers to
  another; the number of concurrent full-duplex echo calls is ramped up in steps, and the
  headline is the largest step at which the p99 *added* round-trip delay stays under 20 ms,
  the loss under 0.1 %, and no call failed;
* **how much delay it adds**: each caller (:mod:`voice.loadgen.caller`) sends a probe (a tone
  burst a second) and times its echo; "added" is the round trip at that load minus the
  median round trip of a single call on the same server, measured first;
* **how fast a call starts**: POST of the offer to the first audio back, over sequential
  single calls.

Servers: ``voice`` (``voice serve --direct``), ``voice-relay`` (``voice serve``: the
browser -> relay -> transceiver path, relay in the same process and on the same core), and
``aiortc`` (``bench/aiortc_server.py``: the same echo with decode and encode, its encoder
set to our settings). The callers run in their own process (``--worker``); if that process
used more than 85 % of its core during a step, the step is marked as caller-saturated and
does not count for capacity.

Output: a table on stdout, ``load.json`` and ``load.png`` (delay and loss against concurrent
calls) in ``--out``. ``--soak SECONDS`` instead holds ``--soak-calls`` calls on one server and
reports memory growth per session-hour and every error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script or loaded by `voice bench`: either way bench/ must be importable for the
# shared helpers, and the project root for `voice` when run from elsewhere.
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
from _common import percentile, print_table, pyplot, stop, wait_for_url  # noqa: E402

DELAY_LIMIT = 0.020  # p99 added round trip, seconds
LOSS_LIMIT = 0.001  # fraction of packets
SATURATED = 0.85  # caller process CPU share of its core that makes a step unreliable

SERVERS = {
    "voice": [sys.executable, "-m", "voice", "serve", "--direct"],
    "voice-relay": [sys.executable, "-m", "voice", "serve"],
    "aiortc": [sys.executable, str(ROOT / "bench" / "aiortc_server.py")],
}


# -- measuring a process --------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def pin(process: subprocess.Popen[str], cpu: int | None) -> None:
    """Pins a just-started process (and the threads it starts later) to one CPU."""
    if cpu is not None:
        os.sched_setaffinity(process.pid, {cpu})


@contextmanager
def server_process(kind: str, cpu: int | None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Starts one server under test pinned to ``cpu`` and yields it with its URL."""
    # Every synthetic caller comes from one address at up to 25 offers a second: lift the
    # signaling rate limits and pending bounds, which are there for hostile clients.
    extra = ["--port", "0"] if kind == "aiortc" else [
        "--http-port", "0", "--max-sessions", "2000", "--log-level", "warning",
        "--client-rate", "1000", "--client-burst", "1000", "--global-rate", "1000",
        "--global-burst", "1000", "--max-pending", "2000", "--max-pending-per-client", "2000",
    ]  # fmt: skip
    process = subprocess.Popen(
        [*SERVERS[kind], *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    pin(process, cpu)
    try:
        yield process, wait_for_url(process, f"{kind} server")
    finally:
        stop(process)


# -- the caller worker (runs in its own process) ----------------------------------------------


def worker(url: str, calls: int, seconds: float, ramp: float) -> dict[str, Any]:
    """Places ``calls`` calls spread over ``ramp`` seconds, holds them ``seconds`` more,
    hangs up, and reports every call and this process's CPU use in the steady window."""
    import trio

    from voice.loadgen.caller import Caller, CallResult

    results: list[CallResult] = []
    window: dict[str, float] = {}

    async def main() -> None:
        start = trio.current_time()
        end = start + ramp + seconds
        callers = [Caller(url, setup_timeout=max(10.0, ramp + 5)) for _ in range(calls)]

        async def one(n: int, caller: Caller) -> None:
            await trio.sleep_until(start + ramp * n / max(1, calls))
            # Hold the call until the common end of the step.
            results.append(await caller.run(max(0.5, end - trio.current_time() - 0.3)))

        async def measure() -> None:
            # The steady window: from the end of the ramp (plus a settling second) to the end.
            await trio.sleep_until(start + ramp + min(1.0, seconds / 4))
            window["t0"], window["cpu0"] = trio.current_time(), time.process_time()
            await trio.sleep_until(end - 0.3)
            window["t1"], window["cpu1"] = trio.current_time(), time.process_time()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(measure)
            for n, caller in enumerate(callers):
                nursery.start_soon(one, n, caller)

    trio.run(main)
    t0, t1 = window.get("t0", 0.0), window.get("t1", 0.0)
    for result in results:
        # Keep only the round trips measured in the steady window.
        kept = [
            (at, rtt)
            for at, rtt in zip(result.round_trip_at, result.round_trips, strict=True)
            if t0 <= at <= t1
        ]
        result.round_trip_at = [at for at, _ in kept]
        result.round_trips = [rtt for _, rtt in kept]
    busy = (window.get("cpu1", 0.0) - window.get("cpu0", 0.0)) / max(1e-9, t1 - t0)
    return {"calls": [asdict(r) for r in results], "caller_cpu": busy, "window": [t0, t1]}


def run_worker(
    url: str,
    calls: int,
    seconds: float,
    ramp: float,
    *,
    cpu: int | None,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """Runs a caller worker process; with ``server_pid``, also samples the server's resident
    memory in the middle of the steady window (as ``server_rss``)."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--worker", url, str(calls), str(seconds), str(ramp)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    pin(process, cpu)
    rss = 0
    if server_pid is not None:
        try:
            process.wait(timeout=ramp + seconds / 2 + 1.0)
        except subprocess.TimeoutExpired:
            rss = rss_bytes(server_pid)
    stdout, _ = process.communicate()
    if process.returncode:
        raise RuntimeError(f"caller worker failed with status {process.returncode}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["server_rss"] = rss
    return result


# -- one step ---------------------------------------------------------------------------------


@dataclass
class Step:
    server: str
    calls: int
    ok: int = 0
    failed: int = 0
    setup_p50: float = math.nan
    setup_p99: float = math.nan
    rtt_p50: float = math.nan
    rtt_p99: float = math.nan
    added_p50: float = math.nan
    added_p99: float = math.nan
    loss_down: float = math.nan  # server -> caller, seen by callers
    loss_up: float = math.nan  # caller -> server, from the server's receiver reports
    jitter_p99: float = math.nan
    server_cpu: float = math.nan  # share of one core
    memory_per_call: float = math.nan  # bytes
    caller_cpu: float = math.nan
    errors: list[str] = field(default_factory=list)

    @property
    def saturated(self) -> bool:
        return self.caller_cpu > SATURATED

    def within_limits(self) -> bool:
        return (
            self.failed == 0
            and not self.saturated
            and self.added_p99 < DELAY_LIMIT
            and self.loss_down < LOSS_LIMIT
            and (math.isnan(self.loss_up) or self.loss_up < LOSS_LIMIT)
        )


def measure_step(
    server: str,
    process: subprocess.Popen[str],
    url: str,
    calls: int,
    args: argparse.Namespace,
    *,
    base_rtt: float,
    idle_rss: int,
) -> Step:
    ramp = min(args.max_ramp, calls * 0.04)
    cpu_before = cpu_seconds(process.pid)
    wall_before = time.monotonic()
    report = run_worker(
        url, calls, args.step_seconds, ramp, cpu=args.caller_cpu, server_pid=process.pid
    )
    wall = time.monotonic() - wall_before
    # CPU over the whole step, ramp included: a slight underestimate of the steady load.
    server_cpu = (cpu_seconds(process.pid) - cpu_before) / wall
    step = Step(server=server, calls=calls, server_cpu=server_cpu, caller_cpu=report["caller_cpu"])
    done = [c for c in report["calls"] if c["failed"] is None]
    step.ok, step.failed = len(done), len(report["calls"]) - len(done)
    step.errors = sorted({c["failed"] for c in report["calls"] if c["failed"]})[:5]
    setups = [c["first_audio_at"] - c["posted_at"] for c in done]
    rtts = [rtt for c in done for rtt in c["round_trips"]]
    step.setup_p50, step.setup_p99 = percentile(setups, 50), percentile(setups, 99)
    step.rtt_p50, step.rtt_p99 = percentile(rtts, 50), percentile(rtts, 99)
    step.added_p50 = step.rtt_p50 - base_rtt if not math.isnan(base_rtt) else 0.0
    step.added_p99 = step.rtt_p99 - base_rtt if not math.isnan(base_rtt) else 0.0
    lost = sum(c["packets_lost"] for c in done)
    received = sum(c["packets_received"] for c in done)
    step.loss_down = lost / max(1, lost + received)
    remote = [c["remote_packets_lost"] for c in done if c["remote_packets_lost"] is not None]
    sent = sum(c["packets_sent"] for c in done)
    step.loss_up = sum(remote) / max(1, sent) if remote else math.nan
    step.jitter_p99 = percentile([c["jitter"] for c in done], 99)
    step.memory_per_call = max(0, report["server_rss"] - idle_rss) / calls
    return step


def setup_times(url: str, count: int, cpu: int | None) -> list[float]:
    """POST -> first audio back over ``count`` sequential single calls."""
    times = []
    for _ in range(count):
        report = run_worker(url, 1, 0.6, 0.0, cpu=cpu)
        times += [
            c["first_audio_at"] - c["posted_at"] for c in report["calls"] if c["failed"] is None
        ]
    return times


# -- the whole run ----------------------------------------------------------------------------


def run_load(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"steps": [], "setup": {}, "capacity": {}, "baseline_rtt": {}}
    for server in args.servers:
        with server_process(server, args.server_cpu) as (process, url):
            idle_rss = rss_bytes(process.pid)
            setups = setup_times(url, args.setup_calls, args.caller_cpu)
            out["setup"][server] = {
                "median": statistics.median(setups) if setups else math.nan,
                "samples": setups,
            }
            base = measure_step(server, process, url, 1, args, base_rtt=math.nan, idle_rss=idle_rss)
            out["baseline_rtt"][server] = base.rtt_p50
            capacity = 0
            for calls in args.steps:
                step = measure_step(
                    server, process, url, calls, args, base_rtt=base.rtt_p50, idle_rss=idle_rss
                )
                out["steps"].append(asdict(step) | {"saturated": step.saturated})
                print_step(step)
                if step.within_limits():
                    capacity = max(capacity, calls)
                elif step.server_cpu > 0.97 or step.failed > calls // 2:
                    break  # past the knee: more callers only measure overload
            out["capacity"][server] = capacity
    return out


def print_step(step: Step) -> None:
    flag = " (callers saturated)" if step.saturated else ""
    print(
        f"  {step.server:>11} {step.calls:>4} calls: ok {step.ok} failed {step.failed}, "
        f"added p50/p99 {ms(step.added_p50)}/{ms(step.added_p99)} ms, "
        f"loss {step.loss_down * 100:.3f} %, server cpu {step.server_cpu * 100:.0f} %, "
        f"callers cpu {step.caller_cpu * 100:.0f} %{flag}",
        flush=True,
    )


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def report(out: dict[str, Any], args: argparse.Namespace) -> None:
    rows = []
    for s in out["steps"]:
        rows.append([
            s["server"], s["calls"], f"{s['ok']}/{s['failed']}",
            ms(s["setup_p50"]), ms(s["setup_p99"]), ms(s["rtt_p50"]),
            ms(s["added_p50"]), ms(s["added_p99"]),
            f"{s['loss_down'] * 100:.3f}",
            "-" if math.isnan(s["loss_up"]) else f"{s['loss_up'] * 100:.3f}",
            ms(s["jitter_p99"]), f"{s['server_cpu'] * 100:.0f}",
            f"{s['memory_per_call'] / 1024:.0f}",
            f"{s['caller_cpu'] * 100:.0f}" + (" SAT" if s["saturated"] else ""),
        ])  # fmt: skip
    print()
    print_table(
        [
            "server", "calls", "ok/failed", "setup p50 ms", "setup p99 ms", "rtt p50 ms",
            "added p50 ms", "added p99 ms", "loss down %", "loss up %", "jitter p99 ms",
            "server cpu %", "KiB/call", "callers cpu %",
        ],
        rows,
    )  # fmt: skip
    print()
    heads = []
    for server, capacity in out["capacity"].items():
        setup = out["setup"][server]["median"]
        heads.append([server, capacity, ms(out["baseline_rtt"][server]), ms(setup)])
    print_table(["server", "calls per core (p99 added < 20 ms, loss < 0.1 %)",
                 "single-call rtt ms", "median set-up ms"], heads)  # fmt: skip
    voice = max(out["capacity"].get("voice", 0), out["capacity"].get("voice-relay", 0))
    if out["capacity"].get("aiortc"):
        print(f"\ncapacity ratio voice / aiortc: {voice / out['capacity']['aiortc']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {args.out / 'load.json'}")
    if not args.no_plot:
        plot(out, args.out / "load.png")


def plot(out: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, (delay, loss) = plt.subplots(1, 2, figsize=(11, 4.2))
    for server in out["capacity"]:
        steps = [s for s in out["steps"] if s["server"] == server]
        calls = [s["calls"] for s in steps]
        p99 = [s["added_p99"] * 1000 for s in steps]
        p50 = [s["added_p50"] * 1000 for s in steps]
        (line,) = delay.plot(calls, p99, marker="o", label=f"{server} p99")
        colour = line.get_color()
        delay.plot(calls, p50, linestyle="--", color=colour, label=f"{server} p50")
        loss.plot(
            calls, [s["loss_down"] * 100 for s in steps], marker="o", color=colour, label=server
        )
    delay.axhline(DELAY_LIMIT * 1000, color="grey", linewidth=0.8)
    loss.axhline(LOSS_LIMIT * 100, color="grey", linewidth=0.8)
    delay.set(xlabel="concurrent calls (server on one core)", ylabel="added round trip (ms)",
              title="delay added by load (the probe sees up to ~1 s)")  # fmt: skip
    loss.set(xlabel="concurrent calls (server on one core)", ylabel="loss (%)",
             title="packets lost, server to caller")  # fmt: skip
    delay.legend(fontsize=8)
    loss.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Holds ``--soak-calls`` calls for ``--soak`` seconds; memory growth and errors."""
    server = args.servers[0]
    with server_process(server, args.server_cpu) as (process, url):
        samples: list[tuple[float, int]] = []
        worker_process = subprocess.Popen(
            [sys.executable, __file__, "--worker", url, str(args.soak_calls), str(args.soak),
             str(min(args.max_ramp, args.soak_calls * 0.04))],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        pin(worker_process, args.caller_cpu)
        start = time.monotonic()
        # communicate() with a timeout keeps draining the worker's output (its report is far
        # larger than a pipe holds) while the server's memory is sampled between calls.
        while True:
            samples.append((time.monotonic() - start, rss_bytes(process.pid)))
            try:
                stdout, _ = worker_process.communicate(timeout=min(10.0, max(1.0, args.soak / 60)))
                break
            except subprocess.TimeoutExpired:
                continue
    result = json.loads(stdout.strip().splitlines()[-1])
    calls = result["calls"]
    failed = [c["failed"] for c in calls if c["failed"]]
    dropped = [c["end_reason"] for c in calls if c["end_reason"]]
    # Growth from the first sample after the ramp to the last, per session-hour.
    steady = [s for s in samples if s[0] > min(args.max_ramp, args.soak_calls * 0.04) + 5]
    growth = math.nan
    if len(steady) >= 2:
        (t0, r0), (t1, r1) = steady[0], steady[-1]
        growth = (r1 - r0) / (args.soak_calls * (t1 - t0) / 3600)
    summary = {
        "server": server, "calls": args.soak_calls, "seconds": args.soak,
        "rss_samples": samples, "growth_bytes_per_session_hour": growth,
        "failed": failed, "ended_early": dropped,
        "loss_down": sum(c["packets_lost"] for c in calls)
        / max(1, sum(c["packets_lost"] + c["packets_received"] for c in calls)),
    }  # fmt: skip
    print(f"soak: {server}, {args.soak_calls} calls for {args.soak:.0f} s")
    print(f"  memory growth: {growth / 1024:.1f} KiB per session-hour")
    print(f"  failed calls: {len(failed)} {sorted(set(failed))[:3]}")
    print(f"  calls ended by the server before hang-up: {len(dropped)} {sorted(set(dropped))[:3]}")
    print(f"  loss server->caller: {summary['loss_down'] * 100:.3f} %")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="voice bench load",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--servers", type=lambda t: t.split(","),
                        default=["voice", "voice-relay", "aiortc"],
                        help=f"comma-separated, from {', '.join(SERVERS)}")  # fmt: skip
    parser.add_argument("--steps", type=lambda t: [int(x) for x in t.split(",")],
                        default=[5, 10, 20, 30, 40, 60, 80, 100, 120],
                        help="concurrent calls at each step")  # fmt: skip
    parser.add_argument("--step-seconds", type=float, default=8.0, help="steady time per step")
    parser.add_argument("--max-ramp", type=float, default=4.0, help="longest ramp-up of a step")
    parser.add_argument(
        "--setup-calls", type=int, default=7, help="sequential calls timed for set-up"
    )
    parser.add_argument("--server-cpu", type=int, default=0, help="CPU the server is pinned to")
    parser.add_argument("--caller-cpu", type=int, default=1, help="CPU the callers are pinned to")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="output folder")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                        help="soak mode: hold --soak-calls calls this long on the first "
                        "server")  # fmt: skip
    parser.add_argument("--soak-calls", type=int, default=30, help="calls held in soak mode")
    args = parser.parse_args(argv)
    unknown = [s for s in args.servers if s not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s) {unknown}; choose from {', '.join(SERVERS)}")
    if len(os.sched_getaffinity(0)) < 2:
        args.server_cpu = args.caller_cpu = None
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        url, calls, seconds, ramp = argv[1], int(argv[2]), float(argv[3]), float(argv[4])
        print(json.dumps(worker(url, calls, seconds, ramp), default=str))
        return 0
    args = parse_args(argv)
    if args.soak:
        soak(args)
        return 0
    print(
        f"# servers pinned to CPU {args.server_cpu}, callers to CPU {args.caller_cpu}; "
        f"steps {args.steps}, {args.step_seconds:.0f} s each",
        flush=True,
    )
    report(run_load(args), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
