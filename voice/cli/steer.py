"""``voice steer``: the steering front that sends each caller to its nearest healthy region.

Only :mod:`argparse` is imported at the top, so that ``voice --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from voice.cli.logs import add_log_option, configure_logging
from voice.cli.options import RawHelpFormatter, add_rate_options, positive
from voice.errors import ConfigError

DESCRIPTION = """\
Answer every WHIP POST with 307 Temporary Redirect to the session resource of the region
nearest the caller that is up and under capacity (VOICE-STEER). Nearest comes from the
caller's address and the prefix table in --regions; health from polling each region's
/healthz (and its relays' health URLs) every --interval seconds. The redirect names the
relay ingresses nearest the caller (?ingress=a,b), which the region's transceivers
(--ingress NAME=HOST:PORT) put in their answers as ICE candidates, nearest first.
Serves the demo page too: a page on this origin calls through whichever region answers
(each region needs --cors-origin with this front's origin).
"""

EPILOG = """\
regions file (TOML):
  [[region]]
  name = "eu"
  signaling = "http://10.1.0.2:8080"
  ingress = "eu"
  capacity = 100
  health = ["http://10.1.0.3:9100/healthz"]   # optional, e.g. the region's relay
  [[prefix]]
  network = "10.1.0.0/16"
  regions = ["eu", "us"]                       # nearest first
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "steer",
        help="steer WHIP offers to the nearest healthy region (307 redirect)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=RawHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address the front listens on")
    p.add_argument("--http-port", type=int, default=8000, help="port the front listens on")
    p.add_argument("--regions", type=Path, required=True, help="the regions and prefixes file")
    p.add_argument(
        "--interval",
        type=positive,
        default=2.0,
        help="seconds between health polls; a region down is skipped within about this long",
    )
    add_rate_options(p, "client", rate=5.0, burst=20.0, what="offers per client address")
    add_log_option(p, default="warning")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import signal

    import trio
    from hypercorn.config import Config as HypercornConfig
    from hypercorn.trio import serve

    from voice.steer.app import SteerState, create_steer_app, poll_forever
    from voice.steer.table import load_table

    configure_logging(args)
    if not 0.05 <= args.interval <= 3600:
        raise ConfigError("--interval must be between 0.05 and 3600 seconds")
    table = load_table(args.regions)  # a ConfigError names the file and what is wrong
    state = SteerState(table=table, interval=args.interval)
    app = create_steer_app(state, args.client_rate, args.client_burst)
    hconfig = HypercornConfig()
    hconfig.bind = [f"{args.host}:{args.http_port}"]
    hconfig.accesslog = None
    hconfig.graceful_timeout = 1.0

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                await nursery.start(poll_forever, state)
                binds = await nursery.start(serve, app, hconfig)
                up = ", ".join(
                    f"{n} {'up' if h.signaling_up else 'down'}" for n, h in state.health.items()
                )
                print(f"voice steer: regions {up}", flush=True)
                print(f"voice steer: open {binds[0]}/ and press Talk (Ctrl-C to stop)", flush=True)
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    except KeyboardInterrupt:
        return 130
    return 0
