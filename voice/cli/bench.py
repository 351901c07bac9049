"""``voice bench <name>``: runs one of the benchmarks in ``bench/``.

The benchmarks are plain scripts (``bench/<name>.py`` with a ``main(argv)``) so they can also
be run directly; this command only finds and starts them. Benchmarks print a table with a
baseline measured in the same run and the ratio to it, because shared machines are noisy.

The benchmarks are not part of the installed package: they need test-only dependencies
(aiortc, PESQ, ...) and the repository's fixtures, so they stay in the source tree. An
installed ``voice`` (``pip install voice``, a container image) therefore has no ``bench/``
beside it, and this command says so and names what to do, instead of failing on a path.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

#: Where a source checkout keeps the benchmarks: ``bench/`` beside the ``voice`` package.
BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"

NEEDS_CHECKOUT = (
    "voice bench: the benchmarks live in bench/ of a source checkout, and this installation "
    "of voice has none (looked in {where}). Run it from a clone of the repository, e.g. "
    "'git clone ... && cd voice && ./dev bench NAME' or 'pip install -e .' there."
)


def available() -> list[str]:
    if not BENCH_DIR.is_dir():
        return []
    return sorted(p.stem for p in BENCH_DIR.glob("*.py") if not p.stem.startswith("_"))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    names = available()
    p = sub.add_parser(
        "bench",
        help="run a benchmark from bench/ (prints medians and a same-run baseline ratio)",
        description="Run a benchmark from a source checkout's bench/ directory. Available: "
        + (", ".join(names) or "none (this installation is not a source checkout)"),
    )
    p.add_argument("name", help="which benchmark: " + (", ".join(names) or "none found"))
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the benchmark")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not BENCH_DIR.is_dir():
        print(NEEDS_CHECKOUT.format(where=BENCH_DIR), file=sys.stderr)
        return 2
    path = BENCH_DIR / f"{args.name}.py"
    if not path.is_file():
        print(f"voice bench: no benchmark named {args.name!r} in {BENCH_DIR}", file=sys.stderr)
        return 2
    spec = importlib.util.spec_from_file_location(f"bench_{args.name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before running, as an import would be: dataclasses (and pickling) look
    # their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    code: int = module.main(list(args.args))
    return code
